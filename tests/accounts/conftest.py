import pytest
from django.test import Client

from accounts import services
from repositories import services as repository_services


@pytest.fixture
def carol(make_user):
    return make_user("carol")


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
def make_repository():
    def make(namespace, name, visibility="public", **fields):
        return repository_services.repository_create(
            namespace=namespace, name=name, visibility=visibility, **fields
        )

    return make


@pytest.fixture
def acme(alice):
    """An organization owned by alice."""
    return services.organization_create(name="acme", owner=alice)
