"""What a registry request costs: a password is hashed once, not on every
request, and a bearer token is checked without any hash or query."""

from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher, get_hasher

from repositories.models import Repository
from tests.registry.helpers import OCI_MANIFEST

from .conftest import PASSWORD, bearer


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def image(alice, seed):
    return seed("alice/private", Repository.Visibility.PRIVATE)


@pytest.fixture
def hasher_calls():
    """The configured password hasher, counting its verifications."""
    assert isinstance(get_hasher(), MD5PasswordHasher)  # the test settings' hasher
    with mock.patch.object(
        MD5PasswordHasher, "verify", autospec=True, side_effect=MD5PasswordHasher.verify
    ) as verify:
        yield verify


def test_basic_credentials_sent_repeatedly_are_hashed_once(caller, image, hasher_calls):
    client = caller("basic", "alice")

    for _ in range(5):
        assert client.get("/v2/").status_code == 200
        assert client.pull("alice/private").status_code == 200
        assert client.get(f"/v2/alice/private/blobs/{image.layer_digest}").status_code == 200

    assert hasher_calls.call_count == 1


def test_the_token_endpoint_hashes_a_password_once(caller, image, hasher_calls):
    client = caller("anonymous", "alice")

    for _ in range(5):
        client.token("repository:alice/private:pull")

    assert hasher_calls.call_count == 1


def test_a_wrong_password_is_not_remembered(caller, image, hasher_calls):
    client = caller("basic", "alice", "wrong")
    counts = []

    for _ in range(3):
        assert client.get("/v2/").status_code == 401
        counts.append(hasher_calls.call_count)

    # Each attempt is checked again (by every authentication backend that
    # knows passwords), none is answered from the remembered digest.
    assert counts[0] > 0
    assert counts == [counts[0], 2 * counts[0], 3 * counts[0]]


def test_a_changed_password_is_not_remembered(caller, image, alice):
    client = caller("basic", "alice")
    assert client.get("/v2/").status_code == 200

    alice.set_password("a new password")
    alice.save()

    assert client.get("/v2/").status_code == 401
    assert caller("anonymous", "alice").token_response().status_code == 401
    assert caller("basic", "alice", "a new password").get("/v2/").status_code == 200


def test_a_deactivated_user_is_not_remembered(caller, image, alice):
    client = caller("basic", "alice")
    assert client.get("/v2/").status_code == 200

    alice.is_active = False
    alice.save()

    assert client.get("/v2/").status_code == 401


def test_remembered_credentials_are_for_that_password_only(caller, image):
    assert caller("basic", "alice").get("/v2/").status_code == 200

    assert caller("basic", "alice", PASSWORD + "x").get("/v2/").status_code == 401


def test_a_personal_access_token_runs_no_password_hasher(caller, image, alice, hasher_calls):
    from accounts import services

    _, secret = services.access_token_create(user=alice, name="ci", scope="read")
    client = caller("basic", "alice", secret)

    for _ in range(3):
        assert client.pull("alice/private").status_code == 200

    assert hasher_calls.call_count == 0


def test_bearer_requests_run_no_password_hasher(caller, image, hasher_calls):
    token = caller("anonymous", "alice").token("repository:alice/private:pull")
    hasher_calls.reset_mock()
    headers = {"Authorization": bearer(token)}

    for _ in range(5):
        assert caller().pull("alice/private", headers=headers).status_code == 200

    assert hasher_calls.call_count == 0


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_cached_manifest_with_a_bearer_token_needs_no_query(
    caller, image, django_assert_max_num_queries, method
):
    token = caller("anonymous", "alice").token("repository:alice/private:pull")
    client = caller()
    headers = {"Authorization": bearer(token), "Accept": OCI_MANIFEST}
    path = "/v2/alice/private/manifests/latest"
    assert client.request(method, path, headers=headers).status_code == 200  # warm-up

    with django_assert_max_num_queries(0):
        response = client.request(method, path, headers=headers)

    assert response.status_code == 200
    assert response["Docker-Content-Digest"] == image.digest


def test_an_anonymous_pull_of_a_cached_public_manifest_needs_no_query(
    caller, seed, alice, django_assert_max_num_queries
):
    image = seed("alice/public")
    client = caller()
    assert client.pull("alice/public").status_code == 200  # warm-up

    with django_assert_max_num_queries(0):
        response = client.pull("alice/public")

    assert response["Docker-Content-Digest"] == image.digest
