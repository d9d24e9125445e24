from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.urls import resolve

from tests.helpers import CommittingClient

from .helpers import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    descriptor,
    image_config,
    image_manifest,
    sha256,
)


@pytest.fixture(autouse=True)
def _isolated_registry(db, isolated_storage):
    pass


LAYERS = (b"layer one", b"layer two")


@dataclass(frozen=True)
class Pushed:
    name: str
    digest: str
    payload: bytes
    media_type: str


class Registry(CommittingClient):
    """The Django test client, spoken to as a registry client speaks."""

    def view_response(self, method, path, headers=None):
        """The view's own response, before the test client empties HEAD bodies."""
        request = RequestFactory().generic(method, path, headers=headers)
        request.user = AnonymousUser()
        match = resolve(request.path)
        return match.func(request, *match.args, **match.kwargs)

    def push_blob(self, name, data):
        digest = sha256(data)
        response = self.post(f"/v2/{name}/blobs/uploads/?digest={digest}", data)
        assert response.status_code == 201, response.content
        return digest

    def start_upload(self, name):
        response = self.post(f"/v2/{name}/blobs/uploads/")
        assert response.status_code == 202, response.content
        return response["Location"]

    def push_manifest(self, name, reference, payload, media_type=OCI_MANIFEST):
        return self.put(f"/v2/{name}/manifests/{reference}", payload, content_type=media_type)

    def push(self, name, reference, payload, media_type):
        """Push a manifest that must be accepted; ``reference`` None pushes by digest."""
        digest = sha256(payload)
        response = self.push_manifest(name, reference or digest, payload, media_type)
        assert response.status_code == 201, response.content
        return Pushed(name, digest, payload, media_type)

    def image_payload(self, name, *, media_type=OCI_MANIFEST, config=None, layers=LAYERS, **fields):
        """Push an image's config and layers; return its manifest's bytes."""
        docker = media_type == DOCKER_MANIFEST
        config = image_config() if config is None else config
        for blob in (config, *layers):
            self.push_blob(name, blob)
        return image_manifest(
            descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config),
            [descriptor(DOCKER_LAYER if docker else OCI_LAYER, layer) for layer in layers],
            media_type=media_type,
            **fields,
        )

    def push_image(self, name, reference=None, *, media_type=OCI_MANIFEST, **kw):
        payload = self.image_payload(name, media_type=media_type, **kw)
        return self.push(name, reference, payload, media_type)


@pytest.fixture
def registry(client, django_capture_on_commit_callbacks):
    return Registry(client, django_capture_on_commit_callbacks)


@pytest.fixture
def client(registry_client):
    return registry_client
