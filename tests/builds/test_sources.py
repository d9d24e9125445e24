import pytest

from builds.sources import (
    BitbucketSource,
    GitHubSource,
    GitSource,
    Push,
    WebhookForbidden,
    source_for,
)
from builds.sources.base import SourceError, generic_parse

from .conftest import payload, sign


def test_github_push_parses_into_a_push():
    headers = {"X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}
    (push,) = GitHubSource().parse_webhook(headers=headers, body=payload("github", "push__branch"))
    assert push == Push(
        ref_type="branch",
        ref_name="main",
        commit_sha="0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        commit_message="Serve /healthz\n\nThe load balancer probes it.",
        deleted=False,
        delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
    )


def test_github_tag_and_delete():
    (tag,) = GitHubSource().parse_webhook(headers={}, body=payload("github", "push__tag"))
    assert (tag.ref_type, tag.ref_name, tag.deleted) == ("tag", "v1.2.3", False)
    assert tag.delivery_id.startswith("sha256:")  # no header: the body's digest
    (gone,) = GitHubSource().parse_webhook(
        headers={}, body=payload("github", "push__branch_delete")
    )
    assert (gone.ref_name, gone.deleted, gone.commit_sha) == ("feature/old-ui", True, "")


def test_bitbucket_push_parses_every_change():
    headers = {"X-Request-UUID": "b1f7e3a0-0c52-4b8e-9a7f-3d2c1b0a9f8e"}
    (push,) = BitbucketSource().parse_webhook(
        headers=headers, body=payload("bitbucket", "repo_push__branch")
    )
    assert (push.ref_type, push.ref_name, push.deleted) == ("branch", "main", False)
    assert push.commit_sha == "9c4f3a1e2d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"
    assert push.delivery_id == "b1f7e3a0-0c52-4b8e-9a7f-3d2c1b0a9f8e"


@pytest.mark.parametrize(
    ("source", "header"),
    [(GitHubSource(), "X-Hub-Signature-256"), (BitbucketSource(), "X-Hub-Signature")],
)
def test_signature_verification(source, header):
    body = b'{"push": {}}'
    source.verify_webhook(headers={header: sign(body, "s3cret")}, body=body, secret="s3cret")
    for headers in ({}, {header: sign(body, "other")}, {header: sign(body + b" ", "s3cret")}):
        with pytest.raises(WebhookForbidden):
            source.verify_webhook(headers=headers, body=body, secret="s3cret")
    # An empty secret never verifies, even against a signature made with it.
    with pytest.raises(WebhookForbidden):
        source.verify_webhook(headers={header: sign(body, "")}, body=body, secret="")


def test_generic_parse_defaults_to_the_default_branch():
    push = generic_parse(b"", default_branch="trunk")
    assert (push.ref_type, push.ref_name, push.deleted) == ("branch", "trunk", False)


def test_source_for_and_git_source_has_no_api():
    assert isinstance(source_for("git"), GitSource)
    with pytest.raises(ValueError):
        source_for("gitlab")
    assert GitSource().list_repositories(None) == []
    with pytest.raises(SourceError):
        GitSource().install_webhook(None, "https://x/y.git", url="https://hub/x", secret="s")


@pytest.mark.django_db
def test_github_source_needs_a_linked_account(owner):
    with pytest.raises(SourceError, match="No GitHub account is linked"):
        GitHubSource().list_repositories(owner)
