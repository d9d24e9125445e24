"""Personal access tokens (``hub_pat_…``) in place of a password, at the
token endpoint and straight to /v2/: a token can do no more than its scope
and its user, and only a hash of it is kept."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import AccessToken
from repositories.models import Repository

from .conftest import access_of, error_codes


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def image(alice, seed):
    return seed("alice/private", Repository.Visibility.PRIVATE)


@pytest.fixture
def pat(alice):
    """``pat(scope, **fields)``: the secret of a new token of alice's."""

    def make(scope, **fields):
        _, secret = services.access_token_create(user=alice, name=f"{scope} token", scope=scope)
        if fields:
            AccessToken.objects.filter(secret_hash=_sha256(secret)).update(**fields)
        return secret

    return make


def _sha256(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


ALL = "repository:alice/private:pull,push,delete"


@pytest.mark.parametrize(
    "scope, actions",
    [
        ("read", ["pull"]),
        ("write", ["pull", "push"]),
        ("full", ["pull", "push", "delete"]),
    ],
)
def test_the_token_endpoint_grants_no_more_than_the_tokens_scope(
    caller, image, pat, scope, actions
):
    token = caller("anonymous", "alice", pat(scope)).token(ALL)

    assert access_of(token) == {("repository", "alice/private"): actions}


def test_a_token_grants_no_more_than_its_user_may_do(caller, image, make_user):
    bob = make_user("bob")
    _, secret = services.access_token_create(user=bob, name="all", scope="full")

    token = caller("anonymous", "bob", secret).token(ALL, "repository:bob/new:pull,push,delete")

    assert access_of(token) == {("repository", "bob/new"): ["pull", "push"]}


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_a_read_token_pulls_but_does_not_push(caller, image, pat, mode):
    client = caller(mode, "alice", pat("read"))

    assert client.pull("alice/private").status_code == 200
    assert client.get(f"/v2/alice/private/blobs/{image.layer_digest}").status_code == 200
    refused = client.try_push("alice/private", "v2", b"new layer")
    if mode == "basic":
        assert refused.status_code == 403
        assert error_codes(refused) == ["DENIED"]
    else:
        assert refused.status_code == 401
        assert 'error="insufficient_scope"' in refused["WWW-Authenticate"]


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_a_read_token_cannot_create_a_repository(caller, image, pat, mode):
    response = caller(mode, "alice", pat("read")).try_push("alice/new")

    assert response.status_code in (401, 403, 404)
    assert not Repository.objects.by_full_name("alice/new").exists()


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_a_write_token_pushes_but_does_not_delete(caller, image, pat, mode):
    client = caller(mode, "alice", pat("write"))

    assert client.try_push("alice/private", "v2", b"new layer").status_code == 201
    assert client.try_push("alice/new").status_code == 201
    refused = client.delete(f"/v2/alice/private/manifests/{image.digest}")
    assert refused.status_code == (403 if mode == "basic" else 401)


@pytest.mark.parametrize("mode", ["basic", "bearer"])
def test_a_delete_token_deletes(caller, image, pat, mode):
    client = caller(mode, "alice", pat("full"))

    assert client.delete(f"/v2/alice/private/manifests/{image.digest}").status_code == 202
    assert client.delete(f"/v2/alice/private/blobs/{image.layer_digest}").status_code == 202


@pytest.mark.parametrize(
    "fields",
    [
        {"revoked_at": timezone.now()},
        {"expires_at": timezone.now() - timedelta(seconds=1)},
    ],
    ids=["revoked", "expired"],
)
def test_a_revoked_or_expired_token_gets_nothing(caller, image, pat, fields):
    secret = pat("full", **fields)

    from_endpoint = caller("anonymous", "alice", secret).token_response(ALL)
    basic = caller("basic", "alice", secret)

    assert from_endpoint.status_code == 401
    assert error_codes(from_endpoint) == ["UNAUTHORIZED"]
    assert basic.get("/v2/").status_code == 401
    assert basic.pull("alice/private").status_code == 401


def test_revoking_a_token_ends_it(caller, image, alice, pat):
    secret = pat("read")
    client = caller("basic", "alice", secret)
    assert client.pull("alice/private").status_code == 200

    services.access_token_revoke(token=alice.access_tokens.get())

    assert client.pull("alice/private").status_code == 401
    assert caller("anonymous", "alice", secret).token_response().status_code == 401


def test_a_token_of_a_deactivated_user_gets_nothing(caller, image, alice, pat):
    secret = pat("read")
    alice.is_active = False
    alice.save()

    assert caller("basic", "alice", secret).get("/v2/").status_code == 401
    assert caller("anonymous", "alice", secret).token_response().status_code == 401


def test_a_token_works_only_with_its_own_username(caller, image, make_user, pat):
    make_user("bob")
    secret = pat("read")

    assert caller("basic", "bob", secret).get("/v2/").status_code == 401
    assert caller("anonymous", "bob", secret).token_response().status_code == 401


def test_last_used_at_is_recorded(caller, image, alice, pat):
    secret = pat("read")
    assert alice.access_tokens.get().last_used_at is None

    before = timezone.now()
    assert caller("basic", "alice", secret).get("/v2/").status_code == 200

    used = alice.access_tokens.get().last_used_at
    assert used is not None and before <= used <= timezone.now()


def test_last_used_at_is_recorded_by_the_token_endpoint(caller, image, alice, pat):
    secret = pat("read")

    caller("anonymous", "alice", secret).token(ALL)

    assert alice.access_tokens.get().last_used_at is not None


def test_only_the_sha256_of_the_secret_is_stored(alice):
    token, secret = services.access_token_create(user=alice, name="ci", scope="write")

    assert secret.startswith("hub_pat_")
    row = AccessToken.objects.values().get(pk=token.pk)
    assert row["secret_hash"] == _sha256(secret)
    assert not any(secret in str(value) for value in row.values())
    assert secret.startswith(row["prefix"])
    assert len(row["prefix"]) < len(secret) // 2


def test_a_token_logs_in_with_the_oauth2_form_and_its_refresh_token_keeps_its_scope(
    caller, image, pat
):
    client = caller().client
    login = client.post(
        "/token",
        {
            "grant_type": "password",
            "username": "alice",
            "password": pat("read"),
            "client_id": "docker",
            "access_type": "offline",
        },
    )
    assert login.status_code == 200
    refresh = AccessToken.objects.get(kind=AccessToken.Kind.REFRESH)
    assert refresh.scope == AccessToken.Scope.READ

    refreshed = client.post(
        "/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": login.json()["refresh_token"],
            "client_id": "docker",
            "scope": ALL,
        },
    )

    assert access_of(refreshed.json()["access_token"]) == {
        ("repository", "alice/private"): ["pull"]
    }
