import pytest
from django.test import Client
from django.utils import timezone

from accounts import services as account_services
from repositories import services
from repositories.models import Manifest, Tag


@pytest.fixture(autouse=True)
def _db(db):
    pass


@pytest.fixture
def staff(make_user):
    return make_user("root", is_staff=True)


@pytest.fixture
def client_for():
    """A test client logged in as ``user`` (or anonymous for None)."""

    def make(user):
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def library():
    return account_services.staff_namespace_get_or_create(name="library")


@pytest.fixture
def make_repository():
    def make(namespace, name, visibility="public", **fields):
        changes = {key: fields.pop(key) for key in ("is_official",) if key in fields}
        repository = services.repository_create(
            namespace=namespace, name=name, visibility=visibility, **fields
        )
        if changes:
            services.repository_update(repository=repository, **changes)
        return repository

    return make


@pytest.fixture
def public_repo(alice, make_repository):
    return make_repository(alice.namespace, "web", description="the web front")


@pytest.fixture
def private_repo(alice, make_repository):
    return make_repository(alice.namespace, "secret-sauce", visibility="private")


def make_tag(repository, name, *, platforms, layers_size, digest_char="a"):
    manifest = Manifest.objects.create(
        repository=repository,
        digest="sha256:" + digest_char * 64,
        media_type="application/vnd.oci.image.index.v1+json",
        payload=b"{}",
        size=2,
        platforms=platforms,
        layers_size=layers_size,
    )
    return Tag.objects.create(
        repository=repository, name=name, manifest=manifest, pushed_at=timezone.now()
    )
