"""POST /token: the OAuth2 form (password and refresh_token grants) that
`docker login` uses to get a refresh token instead of keeping the password."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from accounts import registry_tokens, services
from accounts.models import AccessToken
from repositories.models import Repository

from .conftest import PASSWORD, access_of, bearer, error_codes


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def image(alice, seed):
    return seed("alice/private", Repository.Visibility.PRIVATE)


def post_token(caller, **form):
    form.setdefault("service", "hub-registry")
    form.setdefault("client_id", "docker")
    return caller().client.post("/token", form)


def password_grant(caller, username="alice", password=PASSWORD, **form):
    return post_token(caller, grant_type="password", username=username, password=password, **form)


def test_password_grant_with_offline_access_returns_a_refresh_token(caller, image, settings):
    response = password_grant(caller, access_type="offline", scope="repository:alice/private:pull")

    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"].startswith("hub_rt_")
    assert body["expires_in"] == settings.HUB_TOKEN_LIFETIME
    datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    assert body["scope"] == "repository:alice/private:pull"
    assert access_of(body["access_token"]) == {("repository", "alice/private"): ["pull"]}
    pulled = caller().pull("alice/private", headers={"Authorization": bearer(body["access_token"])})
    assert pulled.status_code == 200


def test_password_grant_without_offline_access_has_no_refresh_token(caller, alice):
    body = password_grant(caller, scope="repository:alice/x:pull").json()

    assert "refresh_token" not in body
    assert body["access_token"]
    assert not AccessToken.objects.exists()


def test_the_refresh_token_is_an_access_token_the_user_can_see_and_revoke(caller, alice):
    body = password_grant(caller, access_type="offline", client_id="my-cli").json()

    token = alice.access_tokens.get()
    assert token.kind == AccessToken.Kind.REFRESH
    assert token.scope == AccessToken.Scope.FULL
    assert "my-cli" in token.name
    assert body["refresh_token"].startswith(token.prefix)
    assert token.expires_at is not None and token.expires_at > timezone.now()
    assert body["refresh_token"] not in {
        str(v) for v in AccessToken.objects.values().get().values()
    }


def test_refresh_token_grant_issues_new_access_tokens(caller, image):
    refresh = password_grant(caller, access_type="offline").json()["refresh_token"]

    response = post_token(
        caller,
        grant_type="refresh_token",
        refresh_token=refresh,
        scope="repository:alice/private:pull,push",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["refresh_token"] == refresh
    assert body["scope"] == "repository:alice/private:pull,push"
    assert access_of(body["access_token"]) == {("repository", "alice/private"): ["pull", "push"]}
    assert registry_tokens.verify(body["access_token"])["sub"] == "alice"
    pulled = caller().pull("alice/private", headers={"Authorization": bearer(body["access_token"])})
    assert pulled.status_code == 200


def test_several_scopes_in_the_form_are_space_separated(caller, image, seed, make_user):
    make_user("bob")
    seed("bob/public")

    body = password_grant(
        caller, scope="repository:alice/private:pull repository:bob/public:pull,push"
    ).json()

    assert access_of(body["access_token"]) == {
        ("repository", "alice/private"): ["pull"],
        ("repository", "bob/public"): ["pull"],
    }
    assert body["scope"] == "repository:alice/private:pull repository:bob/public:pull"


def test_a_revoked_refresh_token_is_refused(caller, alice):
    refresh = password_grant(caller, access_type="offline").json()["refresh_token"]
    services.access_token_revoke(token=alice.access_tokens.get())

    response = post_token(caller, grant_type="refresh_token", refresh_token=refresh)

    assert response.status_code == 401
    assert error_codes(response) == ["UNAUTHORIZED"]


def test_an_expired_refresh_token_is_refused(caller, alice):
    refresh = password_grant(caller, access_type="offline").json()["refresh_token"]
    AccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = post_token(caller, grant_type="refresh_token", refresh_token=refresh)

    assert response.status_code == 401


def test_refresh_tokens_live_hub_refresh_token_days(caller, alice, settings):
    settings.HUB_REFRESH_TOKEN_DAYS = 7
    password_grant(caller, access_type="offline")

    lifetime = alice.access_tokens.get().expires_at - timezone.now()
    assert timedelta(days=6, hours=23) < lifetime <= timedelta(days=7)


def test_a_refresh_token_of_a_deactivated_user_is_refused(caller, alice):
    refresh = password_grant(caller, access_type="offline").json()["refresh_token"]
    alice.is_active = False
    alice.save()

    response = post_token(caller, grant_type="refresh_token", refresh_token=refresh)

    assert response.status_code == 401


@pytest.mark.parametrize("refresh_token", ["", "hub_rt_made-up", "hub_pat_made-up"])
def test_an_unknown_refresh_token_is_refused(caller, alice, refresh_token):
    response = post_token(caller, grant_type="refresh_token", refresh_token=refresh_token)

    assert response.status_code == 401
    assert error_codes(response) == ["UNAUTHORIZED"]


def test_a_personal_access_token_is_not_a_refresh_token(caller, alice):
    _, secret = services.access_token_create(user=alice, name="ci", scope="full")

    response = post_token(caller, grant_type="refresh_token", refresh_token=secret)

    assert response.status_code == 401


def test_password_grant_with_a_wrong_password_is_401(caller, alice):
    response = password_grant(caller, password="wrong", access_type="offline")

    assert response.status_code == 401
    assert error_codes(response) == ["UNAUTHORIZED"]
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("grant_type", ["authorization_code", "client_credentials", ""])
def test_an_unsupported_grant_is_400(caller, alice, grant_type):
    response = post_token(caller, grant_type=grant_type, username="alice", password=PASSWORD)

    assert response.status_code == 400
    assert "access_token" not in response.json()


def test_the_form_needs_no_csrf_token(caller, alice):
    client = caller().client
    client.handler.enforce_csrf_checks = True

    response = client.post(
        "/token",
        {"grant_type": "password", "username": "alice", "password": PASSWORD, "client_id": "x"},
    )

    assert response.status_code == 200
