"""Repository webhooks: the notification Hub POSTs after a push, in Docker
Hub's format, and how one attempt to send it goes.

The body is Docker Hub's webhook payload (``callback_url``, ``push_data``,
``repository``), one request per pushed tag, so a receiver written for
Docker Hub works unchanged.

When the webhook has a secret, the request carries
``X-Hub-Signature-256: sha256=<hex>``: the HMAC-SHA256 of the raw request
body keyed with the secret, as GitHub signs its webhooks. A receiver
computes the same over the bytes it received and compares in constant time.

Every request also says what it is: ``X-Hub-Event`` (``push``, or ``test``
for the settings page's "Send test") and ``X-Hub-Delivery`` (the delivery's
number, the same on every attempt)."""

import json
from dataclasses import dataclass

import requests
from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.models import Visibility

from . import net
from .sources.base import sha256_signature

EVENT_PUSH = "push"
EVENT_TEST = "test"
SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-Hub-Event"
DELIVERY_HEADER = "X-Hub-Delivery"
USER_AGENT = "Hub-Webhooks/1.0"
# How much of a receiver's answer the delivery history keeps.
EXCERPT_CHARS = 1000
_EXCERPT_BYTES = 4 * EXCERPT_CHARS
_CALLBACK_SALT = "builds.notifications.callback"


def absolute_url(path):
    return f"{settings.HUB_URL}{path}"


def repository_url(repository):
    return absolute_url(
        reverse("repository-detail", args=[repository.namespace.name, repository.name])
    )


def callback_token(delivery_id):
    """The unguessable part of a delivery's callback URL (derived, so nothing is stored)."""
    return salted_hmac(_CALLBACK_SALT, str(delivery_id)).hexdigest()[:40]


def callback_token_valid(delivery_id, token):
    return constant_time_compare(callback_token(delivery_id), token)


def callback_url(delivery_id):
    return absolute_url(
        reverse("builds:webhook-callback", args=[delivery_id, callback_token(delivery_id)])
    )


def push_payload(*, repository, tag, pusher, pushed_at, callback_url):
    """Docker Hub's payload for a push of ``tag`` to ``repository``.

    Fields Hub has no counterpart for keep Docker Hub's values for a
    repository without them: no comments, no Dockerfile, status "Active"."""
    namespace = repository.namespace.name
    return {
        "callback_url": callback_url,
        "push_data": {
            "pushed_at": int(pushed_at.timestamp()),
            "pusher": pusher,
            "tag": tag,
        },
        "repository": {
            "comment_count": 0,
            "date_created": int(repository.created_at.timestamp()),
            "description": repository.description,
            "dockerfile": "",
            "full_description": repository.full_description,
            "is_official": repository.is_official,
            "is_private": repository.visibility == Visibility.PRIVATE,
            "is_trusted": repository.is_automated,
            "name": repository.name,
            "namespace": namespace,
            "owner": namespace,
            "repo_name": f"{namespace}/{repository.name}",
            "repo_url": repository_url(repository),
            "star_count": repository.star_count,
            "status": "Active",
        },
    }


def encode(payload):
    """The request body: the bytes that are sent and signed."""
    return json.dumps(payload).encode()


def request_headers(*, body, event, delivery_id, secret):
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event,
        DELIVERY_HEADER: str(delivery_id),
    }
    if secret:
        headers[SIGNATURE_HEADER] = sha256_signature(secret, body)
    return headers


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    # The receiver's HTTP status, or None when there was no answer.
    status: int | None
    # The start of the answer, or why there was none.
    excerpt: str


def send(*, url, payload, event, delivery_id, secret):
    """POST ``payload`` to ``url`` once. Delivered means a 2xx answer.

    The URL is checked against the outgoing-address guard right before
    connecting (its name may resolve elsewhere than when it was saved).
    Redirects are not followed: a redirect could lead past the guard.
    Proxies and credentials from the environment are not used either."""
    body = encode(payload)
    try:
        net.check_webhook_url(url)
    except net.UnsafeURL as error:
        return AttemptResult(False, None, f"Not sent: {error}")
    headers = request_headers(body=body, event=event, delivery_id=delivery_id, secret=secret)
    timeout = settings.HUB_WEBHOOK_TIMEOUT
    try:
        with requests.Session() as session:
            session.trust_env = False
            with session.post(
                url,
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            ) as response:
                excerpt = _excerpt(response)
                status = response.status_code
    except requests.Timeout:
        return AttemptResult(False, None, f"No answer within {timeout:g} seconds.")
    except requests.RequestException as error:
        return AttemptResult(False, None, f"Could not send: {_reason(error)}")
    if 300 <= status < 400:
        location = response.headers.get("Location", "")
        excerpt = f"Redirect to {location} not followed.\n{excerpt}".strip()
    return AttemptResult(200 <= status < 300, status, excerpt[:EXCERPT_CHARS])


def _excerpt(response):
    try:
        raw = response.raw.read(_EXCERPT_BYTES, decode_content=True)
    except Exception as error:  # the status line arrived; the body did not
        return f"The answer's body could not be read: {_reason(error)}"
    return raw.decode(response.encoding or "utf-8", errors="replace")[:EXCERPT_CHARS]


def _reason(error):
    """The innermost cause, which names what went wrong (refused, reset, unknown host)."""
    for _ in range(10):  # a bound, in case a chain loops
        if error.__context__ is None:
            break
        error = error.__context__
    return str(error) or error.__class__.__name__
