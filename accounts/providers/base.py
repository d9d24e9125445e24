"""What Hub asks of a git hosting provider on behalf of a user who linked an
account there: the repositories the user can reach, their default branch,
a push webhook, and a URL to clone from."""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from django.conf import settings
from django.utils import timezone

from accounts import social

# Refresh a token this long before it expires, not on the first refusal.
EXPIRY_MARGIN = timedelta(seconds=60)


class ProviderError(Exception):
    """The provider could not be reached, or refused or failed a request."""

    def __init__(self, message, *, status=None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SourceRepository:
    full_name: str  # "owner/name" on GitHub, "workspace/slug" on Bitbucket
    name: str
    private: bool
    default_branch: str
    clone_url: str
    html_url: str
    description: str = ""


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    events: tuple[str, ...]


class ProviderClient:
    """One linked account's view of its provider. Build it with
    ``accounts.providers.client_for``; it holds the stored (encrypted) token
    and decrypts it only to send a request."""

    provider_id = ""  # allauth's id, as in SocialAccount.provider
    name = ""
    push_events: tuple[str, ...] = ()

    def __init__(self, *, token):
        self.token = token  # a stored allauth SocialToken
        self.account = token.account

    # What a provider implements.

    def list_repositories(self):
        """Every repository the user may read, as ``SourceRepository``."""
        raise NotImplementedError

    def get_repository(self, full_name):
        raise NotImplementedError

    def install_webhook(self, full_name, *, url, secret, events=None):
        """Ask the provider to POST ``events`` (by default, pushes) to
        ``url``, signed with ``secret``; returns the ``Webhook``."""
        raise NotImplementedError

    def remove_webhook(self, full_name, hook_id):
        """Remove a webhook; one already gone is no error."""
        raise NotImplementedError

    def clone_url(self, full_name, *, authenticated=False):
        """The HTTPS URL to clone from. ``authenticated`` puts the access
        token in it, for private repositories: keep such a URL out of logs
        and of a clone's saved configuration."""
        raise NotImplementedError

    def get_default_branch(self, full_name):
        return self.get_repository(full_name).default_branch

    # Plumbing.

    def headers(self, access_token):
        raise NotImplementedError

    def refresh(self):
        """Renew an expired access token; True if it was renewed."""
        return False

    @property
    def access_token(self):
        return social.linked_token_secrets(self.token)[0]

    def request(self, method, url, *, expected=(200,), **kwargs):
        expires_at = self.token.expires_at
        if expires_at is not None and expires_at <= timezone.now() + EXPIRY_MARGIN:
            self.refresh()
        response = self._send(method, url, **kwargs)
        if response.status_code == 401 and self.refresh():
            response = self._send(method, url, **kwargs)
        if response.status_code not in expected:
            raise ProviderError(
                f"{self.name} answered {response.status_code} to {method} {urlsplit(url).path}: "
                f"{_error_message(response)}",
                status=response.status_code,
            )
        return response

    def _send(self, method, url, **kwargs):
        try:
            return requests.request(
                method,
                url,
                headers=self.headers(self.access_token),
                timeout=settings.HUB_PROVIDER_TIMEOUT,
                **kwargs,
            )
        except requests.RequestException as error:
            raise ProviderError(f"{self.name} could not be reached: {error}") from error


def repository_path(full_name):
    """``owner/name`` as two quoted path segments; anything else is refused
    so that a name cannot reach another endpoint."""
    parts = full_name.split("/")
    if len(parts) != 2 or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"Not a repository name of the form owner/name: {full_name!r}")
    return "/".join(quote(part, safe="") for part in parts)


def with_credentials(url, username, password):
    scheme, netloc, path, query, fragment = urlsplit(url)
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{netloc.rpartition('@')[2]}"
    return urlunsplit((scheme, netloc, path, query, fragment))


def _error_message(response):
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):  # Bitbucket
            return error.get("message", "")
        return data.get("message") or data.get("error_description") or str(error or "")
    return ""
