"""What a token's scope, and a build's token's limits, allow on the surfaces
that change things; and the refusals that must look alike everywhere."""

import re

import jwt
import pytest

from builds import services as build_services
from repositories import services
from repositories.models import Repository, Star, Tag
from tests.registry.helpers import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    image_config,
    image_manifest,
    sha256,
)

from .conftest import ANONYMOUS, SERVICE, Caller, fingerprint, registry_token, send

pytestmark = pytest.mark.django_db

VAULT_API = "/api/v1/repositories/acme/vault/"


def visibility_of(world, name):
    return Repository.objects.get(pk=world.repositories[name].pk).visibility


def error_codes(response):
    return [error["code"] for error in response.json()["errors"]]


def access_of(token):
    claims = jwt.decode(token, options={"verify_signature": False})
    return {(entry["type"], entry["name"]): entry["actions"] for entry in claims["access"]}


def as_bearer(token):
    return {"Authorization": f"Bearer {token}"}


# Changing settings through the API ------------------------------------------------


@pytest.mark.parametrize(
    ("token", "how", "status"),
    [
        ("read-token", "bearer", 403),
        ("read-token", "basic", 403),
        ("write-token", "bearer", 403),
        ("write-token", "basic", 403),
        ("full-token", "bearer", 200),
        ("full-token", "basic", 200),
        ("build-token", "bearer", 401),
        ("build-token", "basic", 401),
    ],
    ids=lambda value: str(value),
)
def test_only_a_full_token_changes_visibility(world, token, how, status):
    response = send(
        world,
        Caller(token, how),
        "PATCH",
        VAULT_API,
        {"visibility": "public"},
        content_type="application/json",
    )

    assert response.status_code == status, response.content
    expected = "public" if status == 200 else "private"
    assert visibility_of(world, "vault") == expected


def test_a_readers_session_cannot_change_visibility(world):
    response = send(
        world,
        Caller("rita", "session"),
        "PATCH",
        VAULT_API,
        {"visibility": "public"},
        content_type="application/json",
    )

    assert response.status_code == 403
    assert visibility_of(world, "vault") == "private"


# Deleting through the registry ----------------------------------------------------


@pytest.mark.parametrize("how", ["basic", "jwt"])
def test_a_write_token_cannot_delete_a_tag(world, how):
    response = send(world, Caller("write-token", how), "DELETE", "/v2/acme/vault/manifests/latest")

    if how == "basic":
        assert response.status_code == 403
        assert error_codes(response) == ["DENIED"]
    else:
        assert response.status_code == 401
        assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert Tag.objects.filter(repository=world.repositories["vault"], name="latest").exists()


@pytest.mark.parametrize("how", ["basic", "jwt"])
def test_a_full_token_deletes_a_tag(world, how):
    response = send(world, Caller("full-token", how), "DELETE", "/v2/acme/vault/manifests/latest")

    assert response.status_code == 202, response.content
    assert not Tag.objects.filter(repository=world.repositories["vault"], name="latest").exists()


# A build's token ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["basic", "bearer"])
@pytest.mark.parametrize("name", ["acme/vault", "acme/open", "acme/builder"])
def test_a_builds_token_cannot_star(world, how, name):
    stars = Star.objects.filter(repository__namespace__name="acme")
    before = sorted(stars.values_list("user__username", "repository__name"))

    response = send(world, Caller("build-token", how), "PUT", f"/api/v1/repositories/{name}/star/")

    assert response.status_code == 401, response.content
    assert sorted(stars.values_list("user__username", "repository__name")) == before


def _mount(world, caller, how):
    path = f"/v2/acme/builder/blobs/uploads/?mount={world.ids['layer']}&from=acme/vault"
    if how == "basic":
        return send(world, caller, "POST", path)
    token = registry_token(
        world, caller, "repository:acme/builder:pull,push", "repository:acme/vault:pull"
    )
    return send(world, ANONYMOUS, "POST", path, headers=as_bearer(token))


@pytest.mark.parametrize("how", ["basic", "jwt"])
def test_a_builds_token_cannot_mount_from_another_repository(world, how):
    response = _mount(world, Caller("build-token", how), how)

    # A new upload session, as for a blob the source does not hold.
    assert response.status_code == 202, response.content
    assert "/v2/acme/builder/blobs/uploads/" in response["Location"]
    builder = world.repositories["builder"]
    assert services.blob_find(repository=builder, digest=world.ids["layer"]) is None
    head = send(
        world, Caller("olivia", "password"), "HEAD", f"/v2/acme/builder/blobs/{world.ids['layer']}"
    )
    assert head.status_code == 404


@pytest.mark.parametrize("how", ["basic", "jwt"])
def test_a_personal_token_mounts_from_what_its_user_reads(world, how):
    """The control for the test above: the same mount with olivia's write token."""
    response = _mount(world, Caller("write-token", how), how)

    assert response.status_code == 201, response.content
    builder = world.repositories["builder"]
    assert services.blob_find(repository=builder, digest=world.ids["layer"]) is not None


@pytest.mark.parametrize("how", ["basic", "jwt"])
def test_a_builds_token_pulls_a_private_repository_its_user_reads(world, how):
    response = send(
        world,
        Caller("build-token", how),
        "GET",
        "/v2/acme/vault/manifests/latest",
        headers={"Accept": OCI_MANIFEST},
    )

    assert response.status_code == 200, response.content
    assert response["Docker-Content-Digest"] == world.ids["manifest"]


def test_the_token_endpoint_grants_a_builds_token_only_pull_elsewhere(world):
    token = registry_token(
        world,
        Caller("build-token", "basic"),
        "repository:acme/vault:pull,push,delete",
        "repository:acme/builder:pull,push,delete",
        "repository:acme/open:pull,push",
        "registry:catalog:*",
    )

    assert access_of(token) == {
        ("repository", "acme/vault"): ["pull"],
        ("repository", "acme/builder"): ["pull", "push"],
        ("repository", "acme/open"): ["pull"],
    }


def _push_requests(world, name):
    layer = f"a new layer for {name}".encode()
    config = image_config(architecture="arm64")
    manifest = image_manifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)])
    return [
        ("POST", f"/v2/{name}/blobs/uploads/?digest={sha256(config)}", config, None),
        ("POST", f"/v2/{name}/blobs/uploads/?digest={sha256(layer)}", layer, None),
        ("PUT", f"/v2/{name}/manifests/built", manifest, OCI_MANIFEST),
    ]


@pytest.mark.parametrize("how", ["basic", "jwt"])
def test_a_builds_token_cannot_push_to_another_repository(world, how):
    for method, path, body, content_type in _push_requests(world, "acme/vault"):
        response = send(
            world, Caller("build-token", how), method, path, body, content_type=content_type
        )

        if how == "basic":
            assert response.status_code == 403, (path, response.content)
            assert error_codes(response) == ["DENIED"]
        else:
            assert response.status_code == 401, (path, response.content)
            assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert not Tag.objects.filter(repository=world.repositories["vault"], name="built").exists()


@pytest.mark.parametrize("how", ["basic", "jwt"])
def test_a_builds_token_pushes_its_own_repository(world, how):
    for method, path, body, content_type in _push_requests(world, "acme/builder"):
        response = send(
            world, Caller("build-token", how), method, path, body, content_type=content_type
        )

        assert response.status_code == 201, (path, response.content)
    assert Tag.objects.filter(repository=world.repositories["builder"], name="built").exists()


def test_a_builds_token_is_refused_the_catalog(world):
    response = send(world, Caller("build-token", "basic"), "GET", "/v2/_catalog")

    assert response.status_code == 403
    assert error_codes(response) == ["DENIED"]


def test_a_builds_token_gets_no_catalog_scope(world):
    token = registry_token(world, Caller("build-token", "basic"), "registry:catalog:*")

    assert access_of(token) == {}
    response = send(world, ANONYMOUS, "GET", "/v2/_catalog", headers=as_bearer(token))
    assert response.status_code == 401
    assert "acme/vault" not in response.content.decode()


# Refusals that look alike ------------------------------------------------------------


def test_docker_search_answers_a_bad_bearer_token_as_v2_does(world):
    garbage = {"Authorization": "Bearer garbage"}

    search = send(world, ANONYMOUS, "GET", "/v1/search?q=vault", headers=garbage)
    v2 = send(world, ANONYMOUS, "GET", "/v2/", headers=garbage)

    assert search.status_code == v2.status_code == 401
    assert search["WWW-Authenticate"].startswith('Bearer realm="http://testserver/token"')
    assert search["WWW-Authenticate"] == v2["WWW-Authenticate"]
    assert "acme/vault" not in search.content.decode()


@pytest.mark.parametrize(
    "form",
    [None, {"grant_type": "password", "service": SERVICE}],
    ids=["get", "oauth2-post"],
)
@pytest.mark.parametrize("token", ["revoked-token", "expired-token"])
def test_a_dead_token_gets_no_registry_token(world, token, form):
    secret = world.secret(token)
    if form is None:
        response = send(world, Caller(token, "basic"), "GET", f"/token?service={SERVICE}")
    else:
        form = {**form, "username": "olivia", "password": secret}
        response = send(world, ANONYMOUS, "POST", "/token", form)

    assert response.status_code == 401
    assert "token" not in response.json()


@pytest.mark.parametrize("how", ["basic", "bearer"])
def test_a_page_ignores_a_tokens_authorization_header(world, how):
    """The page is what anonymous gets: the token's user is not signed in there."""
    with_token = send(world, Caller("full-token", how), "GET", "/r/acme/open/")
    anonymous = send(world, ANONYMOUS, "GET", "/r/acme/open/")

    assert with_token.status_code == anonymous.status_code == 200
    assert "Signed in as" not in with_token.content.decode()
    assert send(world, Caller("full-token", how), "GET", "/settings/tokens/").status_code == 302


def test_a_password_on_a_page_signs_nobody_in(world):
    response = send(world, Caller("olivia", "password"), "GET", "/r/acme/vault/")

    assert response.status_code == 404


@pytest.mark.parametrize("how", ["password", "jwt"])
def test_a_stranger_mounting_from_a_private_repository_gets_what_a_missing_one_gives(world, how):
    def mount(source):
        path = f"/v2/ursula/tool/blobs/uploads/?mount={world.ids['layer']}&from={source}"
        caller = Caller("ursula", how)
        if how == "password":
            return send(world, caller, "POST", path)
        token = registry_token(
            world, caller, "repository:ursula/tool:pull,push", f"repository:{source}:pull"
        )
        return send(world, ANONYMOUS, "POST", path, headers=as_bearer(token))

    private, missing = mount("acme/vault"), mount("acme/nothing")

    # Two new upload sessions, alike but for their ids.
    assert private.status_code == missing.status_code == 202, private.content
    assert without_uuids(private) == without_uuids(missing)
    tool = Repository.objects.get(namespace__name="ursula", name="tool")
    assert services.blob_find(repository=tool, digest=world.ids["layer"]) is None


def without_uuids(response):
    uuid = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    headers = {h: re.sub(uuid, "<uuid>", response[h]) for h in ("Location", "Docker-Upload-UUID")}
    return response.content, headers


def test_the_build_link_form_answers_a_private_repository_as_a_missing_one(world):
    """The form takes a repository's name; its answer must not tell whether
    a private one by that name exists."""
    ursula = world.users["ursula"]
    tool = services.repository_create(namespace=ursula.namespace, name="tool", creator=ursula)
    build_services.build_settings_create(
        repository=tool, provider="github", source="ursula/tool", linked_user=ursula
    )

    def link(name):
        return send(
            world,
            Caller("ursula", "session"),
            "POST",
            "/r/ursula/tool/builds/configure/links/",
            {"link-repository": name},
        )

    private, missing = link("acme/vault"), link("acme/nothing")

    assert private.status_code == missing.status_code == 200
    assert fingerprint(private, "page", swap=True) == fingerprint(missing, "page")
    assert "acme/nothing that you can read" in missing.content.decode()


# A repository a push has begun -------------------------------------------------------


def test_a_repository_without_a_manifest_yet_is_invisible(world):
    olivia = Caller("olivia", "password")
    started = send(world, olivia, "POST", "/v2/acme/fresh/blobs/uploads/")
    assert started.status_code == 202, started.content
    assert Repository.objects.filter(namespace__name="acme", name="fresh").exists()

    session = Caller("olivia", "session")
    assert send(world, session, "GET", "/r/acme/fresh/").status_code == 404
    assert send(world, session, "GET", "/api/v1/repositories/acme/fresh/").status_code == 404
    listed = send(world, session, "GET", "/api/v1/repositories/?namespace=acme").json()
    assert "acme/fresh" not in {row["full_name"] for row in listed["results"]}
    catalog = send(world, olivia, "GET", "/v2/_catalog").json()
    assert "acme/fresh" not in catalog["repositories"]
    assert "acme/vault" in catalog["repositories"]
    search = send(world, olivia, "GET", "/v1/search?q=fresh").json()
    assert search["results"] == []
