"""A real S3-compatible server (moto in server mode) behind STORAGES["blobs"]
and STORAGES["uploads"], configured as production configures S3Storage."""

import socket
import uuid

import boto3
import pytest
from moto.server import ThreadedMotoServer

ACCESS_KEY = "testing"
REGION = "us-east-1"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_client(s3_endpoint):
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=ACCESS_KEY,
    )


@pytest.fixture
def bucket(s3_client):
    """A fresh bucket for each test, so object listings see only its objects."""
    name = f"hub-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_storages(settings, s3_endpoint, bucket, tmp_path):
    """Point blob and upload storage at the bucket.

    Assigning a new STORAGES (never mutating the old dict) sends
    ``setting_changed``; Django's own receiver
    (django.test.signals.storages_changed) then drops the StorageHandler's
    cached ``backends`` and ``_storages``, so ``storages["blobs"]`` is built
    afresh from these options, and again when the fixture restores the
    settings.
    """
    options = {
        "bucket_name": bucket,
        "endpoint_url": s3_endpoint,
        "region_name": REGION,
        "access_key": ACCESS_KEY,
        "secret_key": ACCESS_KEY,
        "file_overwrite": True,
        "querystring_auth": True,
        "querystring_expire": 600,
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
        "uploads": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**options, "location": "uploads"},
        },
    }
    settings.HUB_SCRATCH_DIR = tmp_path / "scratch"
    return settings


@pytest.fixture
def client(registry_client):
    return registry_client
