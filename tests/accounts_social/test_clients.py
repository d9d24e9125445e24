"""The provider clients builds use, against the fake providers, with the
token a real OAuth dance stored."""

import base64
from datetime import timedelta

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.utils import timezone

from accounts import social
from accounts.providers import (
    BitbucketClient,
    GitHubClient,
    ProviderError,
    client_for,
    client_for_account,
)

from .helpers import oauth_dance

pytestmark = pytest.mark.django_db

HOOK_URL = "https://hub.example.com/builds/hooks/github/42/"


@pytest.fixture
def github_client(alice_client, alice, github):
    for name in ["octocat/hello-world", "octocat/spoon-knife", "octo-org/private-thing"]:
        github.add_repository(name, private=name.startswith("octo-org/"))
    github.repositories["octocat/spoon-knife"]["default_branch"] = "trunk"
    oauth_dance(alice_client, "github", process="connect")
    return client_for(alice, "github")


@pytest.fixture
def bitbucket_client(alice_client, alice, bitbucket):
    for name in ["bucketeer/app", "bucketeer/lib", "team-ws/service"]:
        bitbucket.add_repository(name)
    bitbucket.repositories["team-ws/service"]["mainbranch"]["name"] = "develop"
    oauth_dance(alice_client, "bitbucket_oauth2", process="connect")
    return client_for(alice, "bitbucket")


def test_client_for_someone_without_a_linked_account(alice, github):
    assert client_for(alice, "github") is None
    assert client_for(alice, "bitbucket") is None
    with pytest.raises(ValueError):
        client_for(alice, "gitlab")


def test_client_for_an_account(github_client, alice):
    account = SocialAccount.objects.get(user=alice)

    client = client_for_account(account)

    assert isinstance(client, GitHubClient)
    assert client.account == account


# GitHub -------------------------------------------------------------------


def test_github_lists_repositories_across_pages(github_client, github):
    repositories = github_client.list_repositories()

    assert [r.full_name for r in repositories] == [
        "octo-org/private-thing",
        "octocat/hello-world",
        "octocat/spoon-knife",
    ]
    private_thing = repositories[0]
    assert private_thing.private
    assert private_thing.name == "private-thing"
    assert private_thing.default_branch == "main"
    assert private_thing.clone_url == f"{github.url}/octo-org/private-thing.git"
    assert private_thing.html_url == f"{github.url}/octo-org/private-thing"
    requests = github.received("GET", "/api/v3/user/repos")
    assert len(requests) == 2  # the fake serves two a page
    (token,) = github.access_tokens
    assert requests[0].headers["Authorization"] == f"Bearer {token}"
    assert requests[0].headers["Accept"] == "application/vnd.github+json"
    assert requests[0].query["per_page"] == ["100"]


def test_github_default_branch(github_client):
    assert github_client.get_default_branch("octocat/spoon-knife") == "trunk"


def test_github_installs_and_removes_a_webhook(github_client, github):
    hook = github_client.install_webhook("octocat/hello-world", url=HOOK_URL, secret="s3cret")

    [request] = github.received("POST", "/api/v3/repos/octocat/hello-world/hooks")
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {
        "name": "web",
        "active": True,
        "events": ["push"],
        "config": {
            "url": HOOK_URL,
            "content_type": "json",
            "secret": "s3cret",
            "insecure_ssl": "0",
        },
    }
    assert hook.url == HOOK_URL
    assert hook.events == ("push",)
    assert list(github.hooks["octocat/hello-world"]) == [hook.id]

    github_client.remove_webhook("octocat/hello-world", hook.id)

    assert github.hooks["octocat/hello-world"] == {}
    github_client.remove_webhook("octocat/hello-world", hook.id)  # already gone: no error


def test_github_clone_urls(github_client, github):
    (token,) = github.access_tokens

    assert github_client.clone_url("octocat/hello-world") == f"{github.url}/octocat/hello-world.git"
    assert github_client.clone_url("octocat/hello-world", authenticated=True) == (
        f"http://{token}:x-oauth-basic@127.0.0.1:{github.server.server_port}"
        "/octocat/hello-world.git"
    )


def test_github_errors(github_client, github):
    with pytest.raises(ProviderError) as error:
        github_client.get_repository("octocat/missing")
    assert error.value.status == 404
    assert "Not Found" in str(error.value)

    with pytest.raises(ValueError):
        github_client.get_repository("octocat/../../user")

    github.access_tokens.clear()  # the user revoked Hub's access
    with pytest.raises(ProviderError) as error:
        github_client.list_repositories()
    assert error.value.status == 401


def test_github_unreachable(github_client, settings):
    settings.HUB_GITHUB_API_URL = "http://127.0.0.1:9"

    with pytest.raises(ProviderError, match="could not be reached"):
        github_client.list_repositories()


# Bitbucket ----------------------------------------------------------------


def test_bitbucket_lists_repositories_across_pages(bitbucket_client, bitbucket):
    repositories = bitbucket_client.list_repositories()

    assert [r.full_name for r in repositories] == [
        "bucketeer/app",
        "bucketeer/lib",
        "team-ws/service",
    ]
    service = repositories[2]
    assert service.private
    assert service.default_branch == "develop"
    assert service.clone_url == f"{bitbucket.url}/team-ws/service.git"
    assert service.html_url == f"{bitbucket.url}/team-ws/service"
    requests = bitbucket.received("GET", "/2.0/repositories")
    assert len(requests) == 2
    assert requests[0].query == {"role": ["member"], "pagelen": ["100"]}
    (token,) = bitbucket.access_tokens
    assert requests[0].headers["Authorization"] == f"Bearer {token}"


def test_bitbucket_default_branch(bitbucket_client):
    assert bitbucket_client.get_default_branch("team-ws/service") == "develop"


def test_bitbucket_installs_and_removes_a_webhook(bitbucket_client, bitbucket):
    hook = bitbucket_client.install_webhook("bucketeer/app", url=HOOK_URL, secret="s3cret")

    [request] = bitbucket.received("POST", "/2.0/repositories/bucketeer/app/hooks")
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {
        "description": "Hub",
        "url": HOOK_URL,
        "active": True,
        "secret": "s3cret",
        "events": ["repo:push"],
    }
    assert hook.id.startswith("{") and hook.id.endswith("}")
    assert hook.events == ("repo:push",)
    assert bitbucket.hooks["bucketeer/app"][hook.id]["secret_set"]

    bitbucket_client.remove_webhook("bucketeer/app", hook.id)

    assert bitbucket.hooks["bucketeer/app"] == {}
    assert bitbucket.received("DELETE", f"/2.0/repositories/bucketeer/app/hooks/{hook.id}")
    bitbucket_client.remove_webhook("bucketeer/app", hook.id)


def test_bitbucket_clone_url(bitbucket_client, bitbucket):
    (token,) = bitbucket.access_tokens

    assert bitbucket_client.clone_url("team-ws/service", authenticated=True) == (
        f"http://x-token-auth:{token}@127.0.0.1:{bitbucket.server.server_port}/team-ws/service.git"
    )


def _refresh_requests(bitbucket):
    return [
        r
        for r in bitbucket.received("POST", "/site/oauth2/access_token")
        if r.form["grant_type"] == "refresh_token"
    ]


def test_bitbucket_renews_a_refused_token(bitbucket_client, bitbucket):
    (refresh_token,) = bitbucket.refresh_tokens
    bitbucket.expire_access_tokens()

    assert len(bitbucket_client.list_repositories()) == 3

    [refresh] = _refresh_requests(bitbucket)
    assert refresh.form == {"grant_type": "refresh_token", "refresh_token": refresh_token}
    credentials = base64.b64encode(b"bb-key:bb-secret").decode()
    assert refresh.headers["Authorization"] == f"Basic {credentials}"
    renewed = list(bitbucket.access_tokens)[-1]
    token = SocialToken.objects.get()
    assert renewed not in token.token
    assert social.linked_token_secrets(token) == (renewed, refresh_token)
    assert token.expires_at > timezone.now() + timedelta(hours=1)


def test_bitbucket_renews_an_expired_token_before_using_it(bitbucket_client, bitbucket):
    SocialToken.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    client = client_for(bitbucket_client.account.user, "bitbucket_oauth2")
    bitbucket.expire_access_tokens()

    client.get_repository("bucketeer/app")

    assert len(_refresh_requests(bitbucket)) == 1
    assert len(bitbucket.received("GET", "/2.0/repositories/bucketeer/app")) == 1


def test_bitbucket_refresh_refused(bitbucket_client, bitbucket):
    bitbucket.refresh_tokens.clear()  # the user revoked Hub's access
    bitbucket.expire_access_tokens()

    with pytest.raises(ProviderError, match="connected again"):
        bitbucket_client.list_repositories()


def test_clients_are_the_right_kind(github_client, bitbucket_client):
    assert isinstance(github_client, GitHubClient)
    assert isinstance(bitbucket_client, BitbucketClient)
