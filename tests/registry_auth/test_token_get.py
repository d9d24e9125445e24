"""GET /token: Docker's token endpoint, with Basic credentials or none."""

import re
from datetime import datetime

import jwt
import pytest

from accounts import registry_tokens
from accounts.models import AccessToken
from repositories.models import Repository

from .conftest import PASSWORD, access_of, bearer, claims_of, error_codes


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def images(alice, make_user, seed):
    make_user("bob")
    return {
        "public": seed("alice/public"),
        "private": seed("alice/private", Repository.Visibility.PRIVATE),
        "bobs": seed("bob/public"),
    }


def test_anonymous_token_pulls_a_public_repository(caller, images):
    anonymous = caller()
    response = anonymous.token_response("repository:alice/public:pull")

    assert response.status_code == 200
    token = response.json()["token"]
    assert claims_of(token)["sub"] == ""
    assert claims_of(token)["access"] == [
        {"type": "repository", "name": "alice/public", "actions": ["pull"]}
    ]
    pulled = anonymous.get(
        "/v2/alice/public/manifests/latest", headers={"Authorization": bearer(token)}
    )
    assert pulled.status_code == 200
    assert pulled["Docker-Content-Digest"] == images["public"].digest


@pytest.mark.parametrize("scope_name", ["busybox", "library/busybox"])
def test_official_names_may_be_asked_for_short_or_long(caller, as_root, scope_name):
    as_root.push_image("library/busybox")
    token = caller().token(f"repository:{scope_name}:pull")
    headers = {"Authorization": bearer(token)}

    assert access_of(token) == {("repository", scope_name): ["pull"]}
    assert caller().pull("busybox", headers=headers).status_code == 200
    assert caller().pull("library/busybox", headers=headers).status_code == 200


def test_anonymous_callers_may_pull_public_repositories_without_a_token(caller, images):
    anonymous = caller()

    assert anonymous.pull("alice/public").status_code == 200
    blob = anonymous.get(f"/v2/alice/public/blobs/{images['public'].layer_digest}")
    assert blob.status_code == 200
    assert anonymous.get("/v2/alice/public/tags/list").json()["tags"] == ["latest"]


def test_scopes_the_caller_may_not_have_are_dropped_not_refused(caller, images):
    response = caller("anonymous", "bob").token_response(
        "repository:alice/public:pull,push,delete",
        "repository:alice/private:pull",
        "repository:alice/absent:pull",
        "repository:bob/public:pull,push",
    )

    assert response.status_code == 200
    token = response.json()["token"]
    assert access_of(token) == {
        ("repository", "alice/public"): ["pull"],
        ("repository", "bob/public"): ["pull", "push"],
    }
    assert registry_tokens.verify(token)["access"] == claims_of(token)["access"]


def test_anonymous_scopes_beyond_pulling_public_repositories_are_dropped(caller, images):
    token = caller().token(
        "repository:alice/public:pull,push",
        "repository:alice/private:pull",
        "repository:alice/new:pull,push",
    )

    assert access_of(token) == {("repository", "alice/public"): ["pull"]}


def test_a_token_that_lacks_the_scope_gets_an_insufficient_scope_challenge(caller, images):
    token = caller("anonymous", "bob").token("repository:alice/private:pull")

    response = caller().get(
        "/v2/alice/private/manifests/latest", headers={"Authorization": bearer(token)}
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == (
        'Bearer realm="http://testserver/token",service="hub-registry",'
        'scope="repository:alice/private:pull",error="insufficient_scope"'
    )


def test_the_owner_gets_every_action_on_its_repository(caller, images):
    token = caller("anonymous", "alice").token("repository:alice/private:pull,push,delete")

    assert access_of(token) == {("repository", "alice/private"): ["pull", "push", "delete"]}


def test_the_wildcard_action_grants_what_the_caller_may_do(caller, images):
    assert access_of(caller("anonymous", "alice").token("repository:alice/public:*")) == {
        ("repository", "alice/public"): ["pull", "push", "delete"]
    }
    assert access_of(caller("anonymous", "bob").token("repository:alice/public:*")) == {
        ("repository", "alice/public"): ["pull"]
    }


def test_the_response_carries_token_access_token_expires_in_and_issued_at(caller, alice):
    body = caller("anonymous", "alice").token_response("repository:alice/x:pull").json()

    assert {"token", "access_token", "expires_in", "issued_at"} <= set(body)
    assert body["access_token"] == body["token"]
    claims = claims_of(body["token"])
    assert body["expires_in"] == claims["exp"] - claims["iat"]
    issued_at = datetime.fromisoformat(body["issued_at"].replace("Z", "+00:00"))
    assert body["issued_at"].endswith("Z")
    assert issued_at.timestamp() == claims["iat"]
    assert "refresh_token" not in body


def test_the_token_is_es256_with_the_signing_keys_kid(caller, alice, settings):
    token = caller("anonymous", "alice").token("repository:alice/x:pull")

    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    assert header["kid"] == registry_tokens.signing_key().kid
    claims = registry_tokens.verify(token)
    assert claims["sub"] == "alice"
    assert claims["aud"] == settings.HUB_REGISTRY_SERVICE == "hub-registry"
    assert claims["iss"] == settings.HUB_TOKEN_ISSUER
    assert claims["jti"]
    assert claims["nbf"] <= claims["iat"] < claims["exp"]


def test_the_kid_is_libtrust_shaped():
    kid = registry_tokens.signing_key().kid

    assert len(kid.split(":")) == 12
    # Base32: a group may be all digits, so "isupper" would not do.
    assert all(re.fullmatch(r"[A-Z2-7]{4}", part) for part in kid.split(":"))


def test_the_lifetime_comes_from_hub_token_lifetime(caller, alice, settings):
    settings.HUB_TOKEN_LIFETIME = 123

    body = caller("anonymous", "alice").token_response("repository:alice/x:pull").json()

    claims = claims_of(body["token"])
    assert body["expires_in"] == 123
    assert claims["exp"] - claims["iat"] == 123


def test_several_scope_parameters_are_all_granted(caller, images):
    token = caller("anonymous", "alice").token(
        "repository:alice/public:pull", "repository:alice/private:pull,push"
    )

    assert access_of(token) == {
        ("repository", "alice/public"): ["pull"],
        ("repository", "alice/private"): ["pull", "push"],
    }


def test_space_separated_scopes_in_one_parameter_are_all_granted(caller, images):
    token = caller("anonymous", "alice").token(
        "repository:alice/public:pull repository:alice/private:pull"
    )

    assert set(access_of(token)) == {
        ("repository", "alice/public"),
        ("repository", "alice/private"),
    }


def test_repeated_scopes_for_one_repository_are_merged(caller, images):
    token = caller("anonymous", "alice").token(
        "repository:alice/private:pull", "repository:alice/private:push"
    )

    assert claims_of(token)["access"] == [
        {"type": "repository", "name": "alice/private", "actions": ["pull", "push"]}
    ]


@pytest.mark.parametrize(
    "scope",
    ["nonsense", "repository:Not A Name:pull", "repository:alice/public:", "image:alice/x:pull"],
)
def test_malformed_or_unknown_scopes_are_dropped(caller, images, scope):
    response = caller("anonymous", "alice").token_response(scope)

    assert response.status_code == 200
    assert claims_of(response.json()["token"])["access"] == []


def test_no_scope_gives_a_token_with_empty_access(caller, alice):
    token = caller("anonymous", "alice").token()

    assert claims_of(token)["access"] == []
    assert caller().get("/v2/", headers={"Authorization": bearer(token)}).status_code == 200


@pytest.mark.parametrize("who", ["alice", None])
def test_the_catalog_scope_is_granted_and_opens_the_catalog(caller, images, who):
    token = caller("anonymous", who).token("registry:catalog:*")

    assert claims_of(token)["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    response = caller().get("/v2/_catalog", headers={"Authorization": bearer(token)})
    assert response.status_code == 200


def test_offline_token_adds_a_refresh_token(caller, alice):
    body = (
        caller("anonymous", "alice")
        .token_response("repository:alice/x:pull", offline_token="true", client_id="docker")
        .json()
    )

    assert body["refresh_token"]
    stored = AccessToken.objects.get(user=alice)
    assert stored.kind == AccessToken.Kind.REFRESH
    assert stored.is_active
    assert "docker" in stored.name


def test_offline_token_without_credentials_gives_no_refresh_token(caller, alice):
    body = caller().token_response(offline_token="true").json()

    assert "refresh_token" not in body
    assert not AccessToken.objects.exists()


def test_a_refresh_token_from_get_works_as_a_basic_secret(caller, alice, images):
    refresh = caller("anonymous", "alice").token_response(offline_token="true").json()
    with_refresh = caller("anonymous", "alice", refresh["refresh_token"])

    token = with_refresh.token("repository:alice/private:pull")

    assert access_of(token) == {("repository", "alice/private"): ["pull"]}


@pytest.mark.parametrize(
    "username, secret", [("alice", "wrong"), ("nobody", PASSWORD), ("alice", "")]
)
def test_wrong_credentials_are_401_unauthorized_json(caller, alice, username, secret):
    response = caller("anonymous", username, secret).token_response("repository:alice/x:pull")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert error_codes(response) == ["UNAUTHORIZED"]
    assert "token" not in response.json()


@pytest.mark.parametrize("authorization", ["Basic ???", "Bearer something", "Digest x"])
def test_credentials_that_are_not_basic_are_refused(caller, alice, authorization):
    response = caller().client.get("/token", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert error_codes(response) == ["UNAUTHORIZED"]


def test_an_inactive_user_gets_no_token(caller, alice):
    alice.is_active = False
    alice.save()

    assert caller("anonymous", "alice").token_response().status_code == 401


def test_other_methods_are_not_allowed(caller):
    assert caller().client.put("/token").status_code == 405
