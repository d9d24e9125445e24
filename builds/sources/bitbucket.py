"""Bitbucket Cloud: ``repo:push`` webhooks, signed (since 2023) with the
webhook's secret as ``X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw
body>``; the API through the linked account's
``accounts.providers.BitbucketClient``."""

from .. import rules
from .base import (
    Push,
    Source,
    WebhookForbidden,
    WebhookInvalid,
    load_json,
    signature_matches,
)

REF_TYPES = {"branch": rules.BRANCH, "named_branch": rules.BRANCH, "tag": rules.TAG}


class BitbucketSource(Source):
    provider = "bitbucket"
    name = "Bitbucket"
    event_header = "X-Event-Key"
    # A retry of a delivery keeps its X-Request-UUID and counts up X-Attempt-Number.
    delivery_header = "X-Request-UUID"

    def verify_webhook(self, *, headers, body, secret):
        if not signature_matches(headers.get("X-Hub-Signature", ""), body, secret):
            raise WebhookForbidden("X-Hub-Signature is missing or does not match.")

    def is_push(self, event):
        return event == "repo:push"

    def parse_webhook(self, *, headers, body):
        data = load_json(body)
        changes = (data.get("push") or {}).get("changes")
        if not isinstance(changes, list):
            raise WebhookInvalid("A repo:push event without push.changes.")
        delivery_id = self.delivery_id(headers, body)
        pushes = []
        for change in changes:
            new, old = change.get("new"), change.get("old")
            ref = new or old
            if not isinstance(ref, dict) or ref.get("type") not in REF_TYPES:
                continue
            target = (new or {}).get("target") or {}
            pushes.append(
                Push(
                    ref_type=REF_TYPES[ref["type"]],
                    ref_name=str(ref.get("name") or ""),
                    commit_sha=str(target.get("hash") or ""),
                    commit_message=str(target.get("message") or ""),
                    deleted=new is None or bool(change.get("closed")),
                    delivery_id=delivery_id,
                )
            )
        return pushes
