"""GitHub: ``push`` webhooks signed with ``X-Hub-Signature-256``; the API
through the linked account's ``accounts.providers.GitHubClient``."""

from .base import (
    Push,
    Source,
    WebhookForbidden,
    WebhookInvalid,
    load_json,
    signature_matches,
    split_ref,
)

ZERO_SHA = "0" * 40


class GitHubSource(Source):
    provider = "github"
    name = "GitHub"
    event_header = "X-GitHub-Event"
    delivery_header = "X-GitHub-Delivery"

    def verify_webhook(self, *, headers, body, secret):
        if not signature_matches(headers.get("X-Hub-Signature-256", ""), body, secret):
            raise WebhookForbidden("X-Hub-Signature-256 is missing or does not match.")

    def is_push(self, event):
        return event == "push"

    def parse_webhook(self, *, headers, body):
        data = load_json(body)
        ref = data.get("ref")
        split = split_ref(ref) if isinstance(ref, str) else None
        if split is None:
            raise WebhookInvalid("A push event without a branch or tag ref.")
        ref_type, ref_name = split
        deleted = bool(data.get("deleted")) or data.get("after") == ZERO_SHA
        head_commit = data.get("head_commit") or {}
        return [
            Push(
                ref_type=ref_type,
                ref_name=ref_name,
                commit_sha="" if deleted else str(data.get("after") or ""),
                commit_message=str(head_commit.get("message") or ""),
                deleted=deleted,
                delivery_id=self.delivery_id(headers, body),
            )
        ]
