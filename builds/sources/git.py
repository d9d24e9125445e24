"""A bare git URL (https, ssh or git://): no API, so no repository list and
no webhook to install; pushes arrive through the generic trigger. An ssh
URL is cloned with the repository's generated deploy key."""

from .. import net
from .base import Source, SourceError, generic_parse, generic_verify


class GitSource(Source):
    provider = "git"
    name = "Git"

    def verify_webhook(self, *, headers, body, secret):
        """``secret`` is the stored hash of the trigger token, presented in
        the ``X-Hub-Token`` header or the body's ``"token"``."""
        generic_verify(url_token=headers.get("X-Hub-Token", ""), body=body, stored_hash=secret)

    def is_push(self, event):
        return True

    def parse_webhook(self, *, headers, body, default_branch="main"):
        return [generic_parse(body, default_branch=default_branch)]

    def list_repositories(self, user):
        return []

    def install_webhook(self, user, full_name, *, url, secret):
        raise SourceError("A git URL has no API to install a webhook with; use the trigger URL.")

    def remove_webhook(self, user, full_name, hook_id):
        raise SourceError("A git URL has no webhook to remove.")

    def clone_url(self, user, full_name, *, authenticated=False):
        """The URL itself, once the network guard lets it through."""
        net.check_git_url(full_name)
        return full_name
