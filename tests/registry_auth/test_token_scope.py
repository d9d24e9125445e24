"""A token keeps its limits through the token endpoint: the refresh token a
`docker login` with it gets, and the bearer tokens issued for it, judge the
same caller as the token itself."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import AccessToken
from repositories.models import Repository

from .conftest import access_of, bearer, claims_of, error_codes


@pytest.fixture
def olivia(make_user):
    return make_user("olivia")


@pytest.fixture
def images(olivia, seed):
    return {
        "vault": seed("olivia/vault", Repository.Visibility.PRIVATE),
        "builder": seed("olivia/builder", Repository.Visibility.PRIVATE),
        "open": seed("olivia/open"),
    }


def personal_token(user, scope, **fields):
    return services.access_token_create(user=user, name=f"{scope} token", scope=scope, **fields)


def build_token(user, repository_name="olivia/builder"):
    return services.access_token_create(
        user=user,
        name="Build 1",
        scope=AccessToken.Scope.WRITE,
        kind=AccessToken.Kind.BUILD,
        repository_name=repository_name,
        expires_at=timezone.now() + timedelta(minutes=30),
    )


def refresh_grant(caller, refresh_token, scope):
    return caller().client.post(
        "/token",
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "service": "hub-registry",
            "client_id": "docker",
            "scope": scope,
        },
    )


# Refresh tokens --------------------------------------------------------------


def test_a_login_with_a_read_token_gets_a_refresh_token_that_only_reads(caller, olivia, images):
    token, secret = personal_token(olivia, "read")
    body = caller("anonymous", "olivia", secret).token_response(offline_token="true").json()

    refresh = refresh_grant(caller, body["refresh_token"], "repository:olivia/vault:pull,push")

    assert refresh.status_code == 200
    assert access_of(refresh.json()["access_token"]) == {("repository", "olivia/vault"): ["pull"]}
    made = AccessToken.objects.get(kind=AccessToken.Kind.REFRESH)
    assert (made.scope, made.parent) == ("read", token)


def test_a_refresh_token_dies_with_the_token_it_was_made_from(caller, olivia, images):
    token, secret = personal_token(olivia, "write")
    body = caller("anonymous", "olivia", secret).token_response(offline_token="true").json()
    assert refresh_grant(caller, body["refresh_token"], "").status_code == 200

    services.access_token_revoke(token=token)

    response = refresh_grant(caller, body["refresh_token"], "repository:olivia/vault:pull")
    assert response.status_code == 401
    assert error_codes(response) == ["UNAUTHORIZED"]


def test_a_refresh_token_expires_no_later_than_its_token(caller, olivia, images):
    expires_at = timezone.now() + timedelta(days=2)
    _, secret = personal_token(olivia, "read", expires_at=expires_at)

    caller("anonymous", "olivia", secret).token_response(offline_token="true")

    made = AccessToken.objects.get(kind=AccessToken.Kind.REFRESH)
    assert made.expires_at == expires_at


def test_a_builds_token_gets_no_refresh_token(caller, olivia, images):
    _, secret = build_token(olivia)

    response = caller("anonymous", "olivia", secret).token_response(
        "repository:olivia/builder:pull,push", offline_token="true"
    )

    assert response.status_code == 200
    assert "refresh_token" not in response.json()
    assert not AccessToken.objects.filter(kind=AccessToken.Kind.REFRESH).exists()


# A build's token at the token endpoint ---------------------------------------------


def test_a_builds_token_pulls_what_its_user_reads_and_pushes_only_its_repository(
    caller, olivia, images
):
    _, secret = build_token(olivia)

    token = caller("anonymous", "olivia", secret).token(
        "repository:olivia/builder:pull,push,delete",
        "repository:olivia/vault:pull,push",
        "repository:olivia/new:pull,push",
        "registry:catalog:*",
    )

    assert access_of(token) == {
        ("repository", "olivia/builder"): ["pull", "push"],
        ("repository", "olivia/vault"): ["pull"],
    }


def test_a_bearer_token_names_the_access_token_it_was_issued_for(caller, olivia, images):
    token, secret = personal_token(olivia, "read")

    issued = caller("anonymous", "olivia", secret).token("repository:olivia/vault:pull")
    by_password = caller("anonymous", "olivia").token("repository:olivia/vault:pull")

    assert claims_of(issued)["hub_access_token"] == token.pk
    assert "hub_access_token" not in claims_of(by_password)


def test_a_bearer_token_of_a_revoked_access_token_cannot_mount_or_push(caller, olivia, images):
    token, secret = personal_token(olivia, "write")
    issued = caller("anonymous", "olivia", secret).token(
        "repository:olivia/open:pull,push", "repository:olivia/vault:pull"
    )
    services.access_token_revoke(token=token)
    client = caller().using(bearer(issued))

    mount = client.post(
        f"/v2/olivia/open/blobs/uploads/?mount={images['vault'].layer_digest}&from=olivia/vault"
    )
    pushed = client.put_manifest("olivia/open", "again", images["open"].payload)

    assert mount.status_code == 401
    assert pushed.status_code == 401
    assert error_codes(pushed) == ["UNAUTHORIZED"]


def test_a_bearer_token_of_a_builds_token_mounts_from_nowhere_else(caller, olivia, images):
    _, secret = build_token(olivia)
    issued = caller("anonymous", "olivia", secret).token(
        "repository:olivia/builder:pull,push", "repository:olivia/vault:pull"
    )
    client = caller().using(bearer(issued))
    layer = images["vault"].layer_digest

    with_from = client.post(f"/v2/olivia/builder/blobs/uploads/?mount={layer}&from=olivia/vault")
    without_from = client.post(f"/v2/olivia/builder/blobs/uploads/?mount={layer}")

    assert with_from.status_code == without_from.status_code == 202
    assert client.head(f"/v2/olivia/builder/blobs/{layer}").status_code == 404
    # What it may do with its grant: pull the private base image.
    assert client.pull("olivia/vault").status_code == 200


def test_a_builds_token_is_refused_the_catalog(caller, olivia, images):
    _, secret = build_token(olivia)

    basic = caller("basic", "olivia", secret).get("/v2/_catalog")
    with_bearer = caller("bearer", "olivia", secret).get("/v2/_catalog")

    assert basic.status_code == 403
    assert error_codes(basic) == ["DENIED"]
    assert with_bearer.status_code == 401


def test_a_refresh_token_as_a_password_keeps_its_scope(caller, olivia, images):
    _, secret = personal_token(olivia, "read")
    body = caller("anonymous", "olivia", secret).token_response(offline_token="true").json()

    with_refresh = caller("anonymous", "olivia", body["refresh_token"])
    token = with_refresh.token("repository:olivia/vault:pull,push")

    assert access_of(token) == {("repository", "olivia/vault"): ["pull"]}
