"""What builds ask of a git provider: verify and parse its webhooks, list a
user's repositories, install and remove a webhook, and the URL to clone.
``github.py`` and ``bitbucket.py`` reach the APIs through the linked
account's client (``accounts.providers``); ``git.py`` is a bare git URL.

Also here: the generic JSON trigger every source accepts, a POST with a
secret token, for other CI systems."""

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass

from accounts.providers import client_for

from .. import rules


class SourceError(Exception):
    """The provider cannot do this, or the user has no linked account there."""


class WebhookForbidden(Exception):
    """A webhook whose signature or token is missing or wrong."""


class WebhookInvalid(Exception):
    """A verified webhook whose body is not what the provider sends."""


@dataclass(frozen=True)
class Push:
    """A branch or tag pushed (or deleted), whichever provider told."""

    ref_type: str  # rules.BRANCH or rules.TAG
    ref_name: str
    commit_sha: str
    commit_message: str
    deleted: bool
    delivery_id: str


class Source:
    provider = ""
    name = ""
    event_header = ""
    delivery_header = ""

    # Webhooks in.

    def verify_webhook(self, *, headers, body, secret):
        """Raise ``WebhookForbidden`` unless ``body`` was signed with ``secret``."""
        raise NotImplementedError

    def event(self, headers):
        """The event's name, from the provider's header."""
        return headers.get(self.event_header, "")

    def is_push(self, event):
        raise NotImplementedError

    def delivery_id(self, headers, body):
        """The provider's id of this delivery, the same on a redelivery; the
        body's digest when the provider sent none."""
        return headers.get(self.delivery_header, "") or body_digest(body)

    def parse_webhook(self, *, headers, body):
        """The pushes a verified push event carries, as ``Push`` values."""
        raise NotImplementedError

    # The provider's API, on behalf of a user.

    def list_repositories(self, user):
        return self.client(user).list_repositories()

    def install_webhook(self, user, full_name, *, url, secret):
        """Install a push webhook; returns the provider's ``Webhook``."""
        return self.client(user).install_webhook(full_name, url=url, secret=secret)

    def remove_webhook(self, user, full_name, hook_id):
        self.client(user).remove_webhook(full_name, hook_id)

    def clone_url(self, user, full_name, *, authenticated=False):
        return self.client(user).clone_url(full_name, authenticated=authenticated)

    def client(self, user):
        client = client_for(user, self.provider) if user is not None else None
        if client is None:
            raise SourceError(f"No {self.name} account is linked for this repository's builds.")
        return client


def sha256_signature(secret, body):
    """``sha256=<hex HMAC-SHA256 of body>``, as GitHub signs webhooks and Hub signs its own."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(header_value, body, secret):
    """Whether ``header_value`` is ``sha256=`` and the hex HMAC-SHA256 of
    ``body`` under ``secret``, compared in constant time."""
    if not header_value or not secret:
        return False
    algorithm, _, presented = header_value.partition("=")
    if algorithm != "sha256" or not presented:
        return False
    expected = sha256_signature(secret, body)
    return hmac.compare_digest(expected.encode(), f"sha256={presented.strip().lower()}".encode())


def body_digest(body):
    """A stand-in delivery id for a delivery without one: the same bytes are the same event."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def load_json(body):
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise WebhookInvalid("The body is not JSON.") from error
    if not isinstance(data, dict):
        raise WebhookInvalid("The body is not a JSON object.")
    return data


def split_ref(ref):
    """``refs/heads/x`` → (branch, x); ``refs/tags/x`` → (tag, x); else None."""
    for prefix, ref_type in (("refs/heads/", rules.BRANCH), ("refs/tags/", rules.TAG)):
        if ref.startswith(prefix) and len(ref) > len(prefix):
            return ref_type, ref[len(prefix) :]
    return None


# The generic JSON trigger.


def token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def generic_token_matches(presented, stored_hash):
    """Constant-time comparison of a presented token with the stored hash."""
    if not presented or not stored_hash:
        return False
    return hmac.compare_digest(token_hash(presented).encode(), stored_hash.encode())


def generic_verify(*, url_token, body, stored_hash):
    """Raise ``WebhookForbidden`` unless the token in the URL, or else the
    body's ``"token"``, is the trigger token."""
    presented = url_token
    if not presented:
        try:
            data = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            data = {}
        presented = data.get("token") if isinstance(data, dict) else None
    if not isinstance(presented, str) or not generic_token_matches(presented, stored_hash):
        raise WebhookForbidden("The trigger token is missing or wrong.")


def generic_parse(body, *, default_branch):
    """A generic trigger's JSON body, every field optional:

    ``{"ref": "refs/heads/main"}`` or ``{"source_type": "branch"|"tag",
    "source_name": "main"}``, with ``"commit"``, ``"message"`` and
    ``"delivery_id"``. An empty body builds the default branch; without a
    delivery id every POST is a new build."""
    data = load_json(body) if body.strip() else {}
    ref = data.get("ref")
    if ref:
        split = split_ref(str(ref))
        if split is None:
            raise WebhookInvalid("ref must be refs/heads/<branch> or refs/tags/<tag>.")
        ref_type, ref_name = split
    else:
        ref_type = str(data.get("source_type") or rules.BRANCH).lower()
        ref_name = str(
            data.get("source_name") or (default_branch if ref_type == rules.BRANCH else "")
        )
        if ref_type not in rules.SOURCE_TYPES or not ref_name:
            raise WebhookInvalid("source_type must be branch or tag, with a source_name.")
    return Push(
        ref_type=ref_type,
        ref_name=ref_name,
        commit_sha=str(data.get("commit") or ""),
        commit_message=str(data.get("message") or ""),
        deleted=False,
        delivery_id=str(data.get("delivery_id") or uuid.uuid4()),
    )
