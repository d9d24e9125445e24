import pytest
from django.core.cache import cache

from tests.helpers import client_as


@pytest.fixture(autouse=True)
def empty_cache():
    """The cache outlives each test's database; start every test without it."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("tester", "tester@example.com", "secret")


@pytest.fixture
def registry_client(staff_user):
    """A test client that sends a staff user's Basic credentials, so it may
    push into any namespace."""
    return client_as("tester", "secret")
