"""/-/healthy and /-/ready, against the services the tests run on, and
against services that do not answer (real clients connecting to ports where
nothing listens, or where nothing ever answers)."""

import socket
import time

import pytest

from hub.celery import app as celery_app
from tests.e2e.helpers import free_port


def test_healthy_asks_nothing_of_the_services(client, settings):
    settings.CACHES = {"default": _unreachable_redis()}
    response = client.get("/-/healthy")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


@pytest.mark.django_db
def test_ready_when_every_service_answers(client):
    response = client.get("/-/ready")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "cache": "ok", "storage": "ok", "broker": "ok"},
    }
    assert "no-cache" in response["Cache-Control"]


def _unreachable_redis():
    return {
        "BACKEND": "hub.cache.ResilientRedisCache",
        "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }


@pytest.mark.django_db
def test_ready_names_an_unreachable_cache(client, settings, caplog):
    # Changing the setting gives a new cache (Django's setting_changed).
    settings.CACHES = {"default": _unreachable_redis()}
    body = client.get("/-/ready")
    assert body.status_code == 503
    checks = body.json()["checks"]
    assert checks["cache"] == "unavailable"
    # The cause is in the log, not in the public answer.
    assert any(r.getMessage().startswith("not ready: cache") for r in caplog.records)
    assert {name for name, result in checks.items() if result == "ok"} == {
        "database",
        "storage",
        "broker",
    }


@pytest.mark.django_db
def test_ready_names_unreachable_blob_storage(client, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "blobs",
                "endpoint_url": f"http://127.0.0.1:{free_port()}",
                "access_key": "hub",
                "secret_key": "hub-secret",
                "client_config": _no_retries(),
            },
        },
    }
    response = client.get("/-/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "unavailable"
    assert response.json()["checks"]["database"] == "ok"


def _no_retries():
    from botocore.config import Config

    return Config(connect_timeout=0.5, retries={"max_attempts": 1})


@pytest.mark.django_db
def test_ready_names_an_unreachable_broker(client):
    before = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"redis://127.0.0.1:{free_port()}/0"
    try:
        response = client.get("/-/ready")
    finally:
        celery_app.conf.broker_url = before
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"] == "unavailable"
    assert checks["database"] == checks["cache"] == checks["storage"] == "ok"


@pytest.fixture
def mute_port():
    """A port that accepts connections (the kernel does) and never answers:
    a service that hangs, or one behind a network that drops its packets."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield listener.getsockname()[1]


# Any one probe must be answered in a few seconds, whatever hangs behind it.
PROBE_LIMIT = 5.0


@pytest.mark.django_db
def test_ready_gives_up_on_blob_storage_that_never_answers(client, settings, mute_port):
    # botocore's own defaults (a minute per attempt, three attempts): the
    # check must not wait them out.
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "blobs",
                "endpoint_url": f"http://127.0.0.1:{mute_port}",
                "access_key": "hub",
                "secret_key": "hub-secret",
            },
        },
    }
    started = time.monotonic()
    response = client.get("/-/ready")
    assert time.monotonic() - started < PROBE_LIMIT
    assert response.status_code == 503
    assert response.json()["checks"]["storage"] == "unavailable"
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_ready_gives_up_on_a_broker_that_never_answers(client, mute_port):
    before = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"redis://127.0.0.1:{mute_port}/0"
    try:
        started = time.monotonic()
        response = client.get("/-/ready")
        took = time.monotonic() - started
    finally:
        celery_app.conf.broker_url = before
    assert took < PROBE_LIMIT
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unavailable"
    assert response.json()["checks"]["storage"] == "ok"
