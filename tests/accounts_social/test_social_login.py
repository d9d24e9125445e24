"""Signing in and signing up with GitHub or Bitbucket, which HUB_SOCIAL_LOGIN
turns on and off."""

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.models import SocialAccount, SocialToken
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import get_messages
from django.test import RequestFactory

from accounts import social
from accounts.models import Namespace, Organization

from .helpers import approve_at_provider, assert_not_stored, oauth_dance, start_login

pytestmark = pytest.mark.django_db
User = get_user_model()


def signed_in_user(client):
    return client.session.get("_auth_user_id")


@pytest.mark.parametrize("provider_id", ["github", "bitbucket_oauth2"])
def test_off_the_sign_in_button_is_refused_before_leaving(client, provider_id, github, bitbucket):
    response = start_login(client, provider_id)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    [message] = get_messages(response.wsgi_request)
    assert "turned off" in str(message)
    assert "connect your" in str(message)
    assert not github.requests and not bitbucket.requests


def test_off_a_sign_in_begun_while_on_creates_no_user(client, github, settings):
    settings.HUB_SOCIAL_LOGIN = True
    response = start_login(client, "github")
    callback = approve_at_provider(response["Location"])
    settings.HUB_SOCIAL_LOGIN = False

    response = client.get(callback)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()
    assert signed_in_user(client) is None


def test_off_a_linked_user_cannot_sign_in_with_the_provider(alice_client, github, settings):
    oauth_dance(alice_client, "github", process="connect")
    alice_client.logout()
    settings.HUB_SOCIAL_LOGIN = True
    response = start_login(alice_client, "github")
    callback = approve_at_provider(response["Location"])
    settings.HUB_SOCIAL_LOGIN = False

    response = alice_client.get(callback)

    assert response["Location"] == "/accounts/login/"
    assert signed_in_user(alice_client) is None


def test_on_signing_in_with_github_signs_up(client, github, settings):
    settings.HUB_SOCIAL_LOGIN = True

    response = oauth_dance(client, "github")

    assert response.status_code == 302
    user = User.objects.get()
    assert user.username == "octocat"
    assert user.email == "octocat@example.com"
    assert not user.has_usable_password()
    assert Namespace.objects.get(name="octocat").user == user
    assert EmailAddress.objects.get(user=user).verified
    assert signed_in_user(client) == str(user.pk)
    account = SocialAccount.objects.get(user=user)
    (issued,) = github.access_tokens
    assert social.linked_token_secrets(SocialToken.objects.get(account=account))[0] == issued
    assert_not_stored(issued)


def test_on_signing_in_with_bitbucket_signs_up(client, bitbucket, settings):
    settings.HUB_SOCIAL_LOGIN = True

    oauth_dance(client, "bitbucket_oauth2")

    user = User.objects.get()
    assert user.username == "bucketeer"
    assert user.email == "bucketeer@example.com"
    assert Namespace.objects.filter(name="bucketeer", user=user).exists()
    assert signed_in_user(client) == str(user.pk)


def test_on_a_linked_user_signs_in(alice_client, alice, github, settings):
    oauth_dance(alice_client, "github", process="connect")
    alice_client.logout()
    settings.HUB_SOCIAL_LOGIN = True

    oauth_dance(alice_client, "github")

    assert signed_in_user(alice_client) == str(alice.pk)
    assert User.objects.count() == 1


def test_on_a_provider_name_taken_here_gets_another(client, github, settings, django_user_model):
    settings.HUB_SOCIAL_LOGIN = True
    Organization.objects.create(
        namespace=Namespace.objects.create(name="octocat", kind=Namespace.Kind.ORGANIZATION)
    )

    oauth_dance(client, "github")

    user = User.objects.get()
    assert user.username == "octocat2"
    assert Namespace.objects.get(name="octocat2").user == user


def test_on_a_provider_name_outside_the_namespace_grammar_is_adapted(client, github, settings):
    settings.HUB_SOCIAL_LOGIN = True
    github.add_user("Mona__Lisa", email="mona@example.com")

    oauth_dance(client, "github")

    assert User.objects.get().username == "mona-lisa"


def test_on_a_sign_up_through_the_form(client, alice, github, settings):
    settings.HUB_SOCIAL_LOGIN = True
    github.add_user("alice-gh", email="alice@example.com")  # Alice's address is taken

    response = oauth_dance(client, "github")

    assert response["Location"] == "/accounts/3rdparty/signup/"
    assert "socialaccount_sociallogin" in client.session  # waiting, with its token
    (issued,) = github.access_tokens
    assert_not_stored(issued)

    response = client.post(
        "/accounts/3rdparty/signup/", {"username": "alice-gh", "email": "alice.gh@example.com"}
    )

    assert response.status_code == 302
    user = User.objects.get(username="alice-gh")
    assert Namespace.objects.get(name="alice-gh").user == user
    token = SocialToken.objects.get(account__user=user)
    assert social.linked_token_secrets(token)[0] == issued
    assert_not_stored(issued)


@pytest.mark.parametrize(
    ("enabled", "authenticated", "listed"),
    [(False, False, []), (False, True, ["bitbucket_oauth2", "github"])]
    + [(True, False, ["bitbucket_oauth2", "github"])],
)
def test_sign_in_buttons(enabled, authenticated, listed, github, bitbucket, settings, alice):
    settings.HUB_SOCIAL_LOGIN = enabled
    request = RequestFactory().get("/accounts/login/")
    request.user = alice if authenticated else AnonymousUser()

    providers = get_adapter(request).list_providers(request)

    assert sorted(provider.id for provider in providers) == listed
