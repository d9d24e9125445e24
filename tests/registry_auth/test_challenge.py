"""The 401 challenge that sends a client to the token endpoint, and the
rule that a private repository and a missing one answer alike."""

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from accounts import registry_tokens
from repositories.models import Repository

from .conftest import PASSWORD, bearer, challenge, claims_of, error_codes


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def private_image(alice, seed):
    return seed("alice/secret", Repository.Visibility.PRIVATE)


def test_v2_without_credentials_is_challenged(caller):
    response = caller().get("/v2/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == (
        'Bearer realm="http://testserver/token",service="hub-registry"'
    )
    assert response["Docker-Distribution-API-Version"] == "registry/2.0"
    assert error_codes(response) == ["UNAUTHORIZED"]


def test_the_realm_is_the_configured_one(caller, settings):
    settings.HUB_TOKEN_REALM = "https://hub.example.com/token"

    response = caller().get("/v2/")

    assert response["WWW-Authenticate"] == (
        'Bearer realm="https://hub.example.com/token",service="hub-registry"'
    )


def test_the_realm_follows_the_requested_host(caller):
    response = caller().get("/v2/", headers={"Host": "registry.example.org"})

    assert response["WWW-Authenticate"].startswith(
        'Bearer realm="http://registry.example.org/token",'
    )


@pytest.mark.parametrize("mode", ["bearer", "anonymous-bearer", "basic"])
def test_v2_with_valid_credentials_is_ok(caller, alice, mode):
    response = caller(mode, "alice").get("/v2/")

    assert response.status_code == 200
    assert response.json() == {}
    assert response["Docker-Distribution-API-Version"] == "registry/2.0"


@pytest.mark.parametrize(
    "username, secret", [("alice", "wrong"), ("nobody", PASSWORD), ("alice", "")]
)
def test_v2_with_bad_basic_credentials_is_unauthorized(caller, alice, username, secret):
    response = caller("basic", username, secret).get("/v2/")

    assert response.status_code == 401
    assert error_codes(response) == ["UNAUTHORIZED"]
    assert response["WWW-Authenticate"] == challenge()


@pytest.mark.parametrize(
    "authorization", ["Basic !!!not-base64", "Basic " + "YWxpY2U=", "Bearer not.a.jwt", "Bearer "]
)
def test_v2_with_malformed_credentials_is_unauthorized(caller, alice, authorization):
    response = caller().get("/v2/", headers={"Authorization": authorization})

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith(challenge())


def test_a_bearer_token_signed_by_another_key_is_an_invalid_token(caller, alice):
    forged = _sign_with_a_new_key(caller("anonymous", "alice").token())

    response = caller().get("/v2/", headers={"Authorization": bearer(forged)})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge(error="invalid_token")


def test_an_expired_bearer_token_is_an_invalid_token(caller, alice, settings):
    settings.HUB_TOKEN_LIFETIME = -1
    token = caller("anonymous", "alice").token()

    response = caller().get("/v2/", headers={"Authorization": bearer(token)})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge(error="invalid_token")


def test_an_unsigned_token_is_an_invalid_token(caller, alice):
    claims = claims_of(caller("anonymous", "alice").token("repository:alice/secret:pull"))
    unsigned = jwt.encode(claims, None, algorithm="none")

    response = caller().get("/v2/", headers={"Authorization": bearer(unsigned)})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge(error="invalid_token")


def test_a_token_that_expires_after_its_first_use_is_refused(caller, private_image, monkeypatch):
    token = caller("anonymous", "alice").token("repository:alice/secret:pull")
    headers = {"Authorization": bearer(token)}
    assert caller().pull("alice/secret", headers=headers).status_code == 200

    expiry = claims_of(token)["exp"]
    monkeypatch.setattr(registry_tokens.time, "time", lambda: expiry + 1)
    response = caller().pull("alice/secret", headers=headers)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge("alice/secret", "pull", error="invalid_token")


def test_a_token_whose_user_was_deleted_is_refused_not_a_server_error(caller, make_user):
    bob = make_user("bob")
    token = caller("anonymous", "bob").token("repository:bob/app:pull,push", "registry:catalog:*")
    bob.delete()
    client = caller().using(bearer(token))
    client.client.raise_request_exception = False

    catalog = client.get("/v2/_catalog")
    push = client.try_push("bob/app")

    assert (catalog.status_code, push.status_code) == (401, 401)


def test_a_token_for_another_service_is_an_invalid_token(caller, alice, settings):
    settings.HUB_REGISTRY_SERVICE = "another-registry"
    token = caller("anonymous", "alice").token()
    settings.HUB_REGISTRY_SERVICE = "hub-registry"

    response = caller().get("/v2/", headers={"Authorization": bearer(token)})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge(error="invalid_token")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_private_manifest_anonymously_is_challenged_for_pull(caller, private_image, method):
    response = caller().request(method, "/v2/alice/secret/manifests/latest")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge("alice/secret", "pull")
    if method == "HEAD":
        assert response.content == b""
    else:
        assert error_codes(response) == ["UNAUTHORIZED"]


def test_push_anonymously_is_challenged_for_pull_and_push(caller, alice):
    response = caller().post("/v2/alice/new/blobs/uploads/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == challenge("alice/new", "pull,push")


def _resource_paths(image):
    """Every /v2/ resource of a repository, with ``{name}`` for its name."""
    return [
        ("GET", "/v2/{name}/manifests/latest"),
        ("HEAD", "/v2/{name}/manifests/latest"),
        ("GET", f"/v2/{{name}}/manifests/{image.digest}"),
        ("GET", f"/v2/{{name}}/blobs/{image.layer_digest}"),
        ("HEAD", f"/v2/{{name}}/blobs/{image.layer_digest}"),
        ("GET", "/v2/{name}/tags/list"),
        ("GET", f"/v2/{{name}}/referrers/{image.digest}"),
        ("DELETE", f"/v2/{{name}}/manifests/{image.digest}"),
        ("POST", "/v2/{name}/blobs/uploads/"),
    ]


def _answer(response, name):
    """What a client sees, with the repository's name taken out."""
    headers = {
        header: response[header].replace(name, "<name>")
        for header in ("WWW-Authenticate", "Content-Type", "Content-Length")
        if header in response
    }
    return response.status_code, headers, response.content.replace(name.encode(), b"<name>")


@pytest.mark.parametrize("mode", ["anonymous", "anonymous-bearer", "basic", "bearer"])
def test_a_private_repository_and_a_missing_one_answer_alike(
    caller, private_image, make_user, mode
):
    make_user("mallory")
    client = caller(mode, "mallory")
    differences = []
    for method, path in _resource_paths(private_image):
        private = client.request(method, path.format(name="alice/secret"))
        absent = client.request(method, path.format(name="alice/absent"))
        if _answer(private, "alice/secret") != _answer(absent, "alice/absent"):
            differences.append(
                (method, path, _answer(private, "alice/secret"), _answer(absent, "alice/absent"))
            )
        assert private.status_code in (401, 404), (method, path, private.content)

    assert differences == []


def _sign_with_a_new_key(token):
    claims = claims_of(token)
    kid = registry_tokens.signing_key().kid
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), "ES256", {"kid": kid})
