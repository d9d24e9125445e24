import pytest
from django.core.cache import cache

from tests.helpers import PASSWORD, client_as


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


@pytest.fixture
def isolated_storage(settings, tmp_path):
    """Blob, upload and scratch storage of the test's own."""
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "blobs", "allow_overwrite": True},
        },
        "uploads": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "uploads", "allow_overwrite": True},
        },
    }
    settings.HUB_SCRATCH_DIR = tmp_path / "scratch"


@pytest.fixture
def make_user(django_user_model):
    def make(username, **extra):
        return django_user_model.objects.create_user(
            username, f"{username}@example.com", PASSWORD, **extra
        )

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")
