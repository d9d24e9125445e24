"""Storage usage and quotas in the REST API: a repository's usage in its
detail, a namespace's usage and quota for its owners, its quota set by staff."""

import pytest

from accounts import services as account_services
from accounts.models import AccessToken, Namespace
from repositories import usage

from .helpers import as_json, bearer_client, push_image, repo_path, session_client


def storage_path(namespace):
    return f"/api/v1/users/{namespace}/storage/"


@pytest.fixture
def pushed(public_repo):
    manifest = push_image(public_repo, "latest", layers=(b"layer one", b"layer two"))
    return public_repo, manifest


def test_repository_detail_shows_its_storage(pushed, anonymous):
    repository, _ = pushed

    response = anonymous.get(repo_path(repository))

    assert response.status_code == 200
    assert response.json()["storage_bytes"] == usage.repository_usage(repository) > 0


def test_the_owner_reads_the_namespace_usage_and_quota(pushed, alice, settings):
    settings.HUB_NAMESPACE_QUOTA_BYTES = 10 * 1024**3
    repository, _ = pushed

    response = session_client(alice).get(storage_path("alice"))

    assert response.status_code == 200
    assert response.json() == {
        "namespace": "alice",
        "storage_bytes": usage.namespace_usage(repository.namespace),
        "quota_bytes": 10 * 1024**3,
        "storage_quota_bytes": None,
    }


def test_without_a_quota_the_quota_is_null(alice):
    response = session_client(alice).get(storage_path("alice"))

    assert response.json()["quota_bytes"] is None


@pytest.mark.parametrize("who", ["anonymous", "carol", "bob"])
def test_others_do_not_see_a_namespaces_storage(request, who, alice, bob, carol, private_repo):
    client = request.getfixturevalue("anonymous") if who == "anonymous" else None
    client = client or session_client(request.getfixturevalue(who))

    assert client.get(storage_path("alice")).status_code == 404


def test_an_organization_owner_reads_its_storage(alice, bob):
    organization = account_services.organization_create(name="acme", owner=alice)
    account_services.membership_set(organization=organization, user=bob, role="member")

    assert session_client(alice).get("/api/v1/orgs/acme/storage/").status_code == 200
    assert session_client(bob).get("/api/v1/orgs/acme/storage/").status_code == 404
    assert session_client(alice).get("/api/v1/users/acme/storage/").status_code == 404


def test_staff_set_a_namespaces_quota(alice, staff, settings):
    settings.HUB_NAMESPACE_QUOTA_BYTES = 1000

    response = as_json(
        session_client(staff), "patch", storage_path("alice"), {"storage_quota_bytes": 5000}
    )

    assert response.status_code == 200, response.content
    assert response.json()["quota_bytes"] == response.json()["storage_quota_bytes"] == 5000
    assert Namespace.objects.get(name="alice").storage_quota_bytes == 5000


def test_staff_return_a_namespace_to_the_default(alice, staff, settings):
    settings.HUB_NAMESPACE_QUOTA_BYTES = 1000
    Namespace.objects.filter(name="alice").update(storage_quota_bytes=5000)

    response = as_json(
        bearer_client(staff), "patch", storage_path("alice"), {"storage_quota_bytes": None}
    )

    assert response.status_code == 200, response.content
    assert response.json()["quota_bytes"] == 1000
    assert Namespace.objects.get(name="alice").storage_quota_bytes is None


def test_a_negative_quota_is_refused(alice, staff):
    response = as_json(
        session_client(staff), "patch", storage_path("alice"), {"storage_quota_bytes": -1}
    )

    assert response.status_code == 400


@pytest.mark.parametrize("as_token", [False, True])
def test_an_owner_who_is_not_staff_cannot_change_the_quota(alice, as_token):
    client = bearer_client(alice, AccessToken.Scope.FULL) if as_token else session_client(alice)

    response = as_json(client, "patch", storage_path("alice"), {"storage_quota_bytes": 10**15})

    assert response.status_code == 403
    assert Namespace.objects.get(name="alice").storage_quota_bytes is None


def test_a_staff_members_read_only_token_cannot_change_the_quota(alice, staff):
    client = bearer_client(staff, AccessToken.Scope.READ)

    response = as_json(client, "patch", storage_path("alice"), {"storage_quota_bytes": 1})

    assert response.status_code == 403
    assert Namespace.objects.get(name="alice").storage_quota_bytes is None
