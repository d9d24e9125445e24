"""Storage usage on the repository page and on the namespace pages."""

import io

import pytest

from accounts import services as account_services
from accounts.models import Namespace
from repositories import services
from tests.registry.helpers import sha256

LAYER = b"x" * 1536  # 1.5 KB


@pytest.fixture(autouse=True)
def _storage(isolated_storage):
    pass


@pytest.fixture
def alice_ns(alice):
    return Namespace.objects.get(name="alice")


def push_layer(repository, data=LAYER):
    services.blob_upload_monolithic(
        repository=repository, digest=sha256(data), stream=io.BytesIO(data), length=len(data)
    )


def test_the_repository_page_shows_its_storage(alice_ns, make_repository, client_for, bob):
    repository = make_repository(alice_ns, "web")
    push_layer(repository)

    page = client_for(bob).get("/r/alice/web/").content.decode()

    assert "<dt>Storage</dt><dd>1.5 KB</dd>" in page
    assert "alice uses" not in page  # the namespace's figures are its owners'


def test_the_owner_sees_the_namespace_usage_on_the_repository_page(
    alice_ns, alice, make_repository, client_for, settings
):
    settings.HUB_NAMESPACE_QUOTA_BYTES = 10 * 1024**3
    push_layer(make_repository(alice_ns, "web"))

    page = client_for(alice).get("/r/alice/web/").content.decode()

    assert "<dt>alice uses</dt><dd>1.5 KB of 10 GB</dd>" in page


def test_the_user_page_shows_usage_and_quota_to_the_user_and_staff(
    alice_ns, alice, bob, staff, make_repository, client_for
):
    web, api = make_repository(alice_ns, "web"), make_repository(alice_ns, "api")
    push_layer(web)
    push_layer(api)  # the same layer: counted once
    Namespace.objects.filter(pk=alice_ns.pk).update(storage_quota_bytes=3 * 1024)

    for viewer in (alice, staff):
        page = client_for(viewer).get("/u/alice/").content.decode()
        assert "1.5 KB of 3 KB" in page
        assert 'value="50"' in page
    assert "Storage" not in client_for(bob).get("/u/alice/").content.decode()
    assert "Storage" not in client_for(None).get("/u/alice/").content.decode()


def test_without_a_quota_the_page_says_so(alice_ns, alice, make_repository, client_for):
    push_layer(make_repository(alice_ns, "web"))

    assert "1.5 KB, no limit" in client_for(alice).get("/u/alice/").content.decode()


def test_the_organization_page_shows_usage_to_its_owners(alice, bob, client_for, settings):
    settings.HUB_NAMESPACE_QUOTA_BYTES = 1024**3
    organization = account_services.organization_create(name="acme", owner=alice)
    account_services.membership_set(organization=organization, user=bob, role="member")

    assert "0 bytes of 1 GB" in client_for(alice).get("/orgs/acme/").content.decode()
    assert "0 bytes of 1 GB" not in client_for(bob).get("/orgs/acme/").content.decode()
