"""People with different standing towards alice's repositories, and the
repositories themselves."""

import pytest
from django.test import Client

from accounts.models import Namespace
from repositories import services
from repositories.models import Collaborator, Permission

from .helpers import PASSWORD


@pytest.fixture(autouse=True)
def _isolated_storage(db, settings, tmp_path):
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


def _user(django_user_model, username, **extra):
    return django_user_model.objects.create_user(
        username, f"{username}@example.com", PASSWORD, **extra
    )


@pytest.fixture
def alice(django_user_model):
    """Owns the namespace ``alice``."""
    return _user(django_user_model, "alice")


@pytest.fixture
def bob(django_user_model):
    """A collaborator, with read access, on alice's private repository."""
    return _user(django_user_model, "bob")


@pytest.fixture
def carol(django_user_model):
    """A stranger to alice's repositories."""
    return _user(django_user_model, "carol")


@pytest.fixture
def staff(django_user_model):
    return _user(django_user_model, "sam", is_staff=True)


@pytest.fixture
def public_repo(alice):
    return services.repository_create(
        namespace=Namespace.objects.get(name="alice"),
        name="web",
        visibility="public",
        description="A public web server",
    )


@pytest.fixture
def private_repo(alice, bob):
    repository = services.repository_create(
        namespace=Namespace.objects.get(name="alice"),
        name="secret",
        visibility="private",
        description="Private things",
    )
    Collaborator.objects.create(repository=repository, user=bob, permission=Permission.READ)
    return repository


@pytest.fixture
def anonymous():
    return Client()
