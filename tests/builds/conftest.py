import hashlib
import hmac
import json
from pathlib import Path

import pytest

from builds import services
from repositories import services as repository_services

FIXTURES = Path(__file__).parent / "fixtures"


def payload(provider, name):
    """A webhook body, byte for byte, from fixtures/<provider>/<event>__<variant>.json."""
    return (FIXTURES / provider / f"{name}.json").read_bytes()


def payload_json(provider, name):
    return json.loads(payload(provider, name))


def sign(body, secret):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("ada", "ada@example.com", "secret")


@pytest.fixture
def repository(owner):
    return repository_services.repository_create(
        namespace=owner.namespace, name="widget", creator=owner
    )


@pytest.fixture
def make_settings(repository, owner):
    def make(provider="github", source="acme/widget", **extra):
        if provider != "git":
            extra.setdefault("linked_user", owner)
        return services.build_settings_create(
            repository=repository, provider=provider, source=source, **extra
        )

    return make
