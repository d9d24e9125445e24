"""Connecting and disconnecting linked accounts through the real OAuth
dance against the fake providers."""

import pytest
from allauth.socialaccount.models import SocialAccount, SocialToken
from allauth.socialaccount.providers import registry
from allauth.socialaccount.providers.github.provider import (
    GitHubProvider as AllauthGitHubProvider,
)
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test import Client

from accounts import crypto, social

from .helpers import approve_at_provider, assert_not_stored, authorize_params, start_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob_client(django_user_model):
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "bob-password")
    bob_client = Client()
    bob_client.force_login(bob)
    return bob_client


def link_github(client):
    response = start_login(client, "github", process="connect")
    return client.get(approve_at_provider(response["Location"]))


def raw_token_columns():
    with connection.cursor() as cursor:
        cursor.execute("SELECT token, token_secret FROM socialaccount_socialtoken")
        return cursor.fetchall()


def test_connect_github(alice_client, alice, github):
    response = start_login(alice_client, "github", process="connect")

    assert response.status_code == 302
    authorize_url = response["Location"]
    assert authorize_url.startswith(f"{github.url}/login/oauth/authorize?")
    params = authorize_params(authorize_url)
    assert params["client_id"] == "gh-client"
    assert params["redirect_uri"] == "http://testserver/accounts/github/login/callback/"
    assert set(params["scope"].split()) == {"user:email", "repo", "admin:repo_hook"}
    assert params["state"]

    response = alice_client.get(approve_at_provider(authorize_url))

    assert response.status_code == 302
    assert response["Location"] == "/accounts/3rdparty/"
    account = SocialAccount.objects.get(user=alice, provider="github")
    assert account.uid == str(github.users["octocat"]["id"])
    assert account.extra_data["login"] == "octocat"
    (issued,) = github.access_tokens
    # The API was called with the real token.
    assert github.received("GET", "/api/v3/user")[0].headers["Authorization"] == f"token {issued}"
    [(token_column, secret_column)] = raw_token_columns()
    assert issued not in token_column
    assert secret_column == ""
    assert social.linked_token_secrets(SocialToken.objects.get(account=account)) == (issued, "")
    assert_not_stored(issued)


def test_connect_bitbucket_keeps_the_refresh_token_encrypted(alice_client, alice, bitbucket):
    response = start_login(alice_client, "bitbucket_oauth2", process="connect")
    authorize_url = response["Location"]
    assert authorize_url.startswith(f"{bitbucket.url}/site/oauth2/authorize?")
    assert authorize_params(authorize_url)["response_type"] == "code"

    response = alice_client.get(approve_at_provider(authorize_url))

    assert response["Location"] == "/accounts/3rdparty/"
    account = SocialAccount.objects.get(user=alice, provider="bitbucket_oauth2")
    assert account.uid == bitbucket.users["bucketeer"]["account_id"]
    (access,) = bitbucket.access_tokens
    (refresh,) = bitbucket.refresh_tokens
    [(token_column, secret_column)] = raw_token_columns()
    assert access not in token_column
    assert refresh not in secret_column
    token = SocialToken.objects.get(account=account)
    assert social.linked_token_secrets(token) == (access, refresh)
    assert token.expires_at is not None
    assert_not_stored(access)
    assert_not_stored(refresh)


def test_connecting_again_replaces_the_token(alice_client, alice, github):
    link_github(alice_client)
    link_github(alice_client)

    assert SocialAccount.objects.filter(user=alice).count() == 1
    token = SocialToken.objects.get()
    newest = list(github.access_tokens)[-1]
    assert social.linked_token_secrets(token)[0] == newest
    assert all(issued not in token.token for issued in github.access_tokens)


def test_tokens_follow_the_configured_key(alice_client, github, settings):
    settings.HUB_ENCRYPTION_KEY = crypto.Fernet.generate_key().decode()
    link_github(alice_client)
    token = SocialToken.objects.get()

    settings.HUB_ENCRYPTION_KEY = ""
    with pytest.raises(crypto.DecryptionError):
        social.linked_token_secrets(token)


def test_disconnect(alice_client, alice, github):
    link_github(alice_client)
    account = SocialAccount.objects.get(user=alice)

    page = alice_client.get("/accounts/3rdparty/")
    assert page.status_code == 200
    response = alice_client.post("/accounts/3rdparty/", {"account": account.pk})

    assert response.status_code == 302
    assert not SocialAccount.objects.exists()
    assert not SocialToken.objects.exists()


def test_another_users_account_cannot_be_disconnected(alice_client, alice, github, bob_client):
    link_github(alice_client)
    account = SocialAccount.objects.get(user=alice)

    response = bob_client.post("/accounts/3rdparty/", {"account": account.pk})

    assert response.status_code == 200  # the form, with its error
    assert SocialAccount.objects.filter(pk=account.pk).exists()


def test_an_account_linked_to_someone_else_is_not_taken_over(
    alice_client, alice, github, bob_client
):
    link_github(alice_client)

    link_github(bob_client)

    assert SocialAccount.objects.get().user == alice


def test_connecting_needs_a_signed_in_user(client, github):
    response = link_github(client)

    assert response.status_code == 302
    assert not SocialAccount.objects.exists()


def test_allauths_own_provider_classes_are_refused(alice_client, github, settings):
    providers = {key: dict(value) for key, value in settings.SOCIALACCOUNT_PROVIDERS.items()}
    del providers["github"]["provider_class"]
    settings.SOCIALACCOUNT_PROVIDERS = providers
    registry_map = dict(registry.provider_map)
    registry.register(AllauthGitHubProvider)
    try:
        with pytest.raises(ImproperlyConfigured, match="unencrypted"):
            start_login(alice_client, "github", process="connect")
    finally:
        registry.provider_map.clear()
        registry.provider_map.update(registry_map)
