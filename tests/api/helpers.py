"""Clients that authenticate as a browser, a token holder or a Basic
client would, and a way to push an image through the services."""

import io

from django.test import Client

from accounts import services as account_services
from accounts.models import AccessToken
from repositories import services
from repositories.models import Collaborator
from tests.helpers import basic_auth
from tests.registry.helpers import OCI_CONFIG, OCI_LAYER, descriptor, image_config, image_manifest

PASSWORD = "correct horse battery"
OCI_MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def collaborate(repository, user, permission):
    Collaborator.objects.update_or_create(
        repository=repository, user=user, defaults={"permission": permission}
    )


def session_client(user, *, enforce_csrf_checks=False):
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


def token_for(user, scope):
    _, secret = account_services.access_token_create(user=user, name=f"{scope} token", scope=scope)
    return secret


def bearer_client(user, scope=AccessToken.Scope.FULL):
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_for(user, scope)}")


def basic_client(username, secret):
    return Client(HTTP_AUTHORIZATION=basic_auth(username, secret))


def as_json(client, method, path, data=None):
    """Send ``data`` as a JSON body, as API clients do."""
    send = getattr(client, method)
    return send(path, data=data, content_type="application/json")


def repo_path(repository, suffix=""):
    return f"/api/v1/repositories/{repository.namespace.name}/{repository.name}/{suffix}"


# Content ------------------------------------------------------------------


def _blob(repository, data):
    digest = descriptor("", data)["digest"]
    services.blob_upload_monolithic(
        repository=repository, digest=digest, stream=io.BytesIO(data), length=len(data)
    )


def push_image(repository, tag, *, layers=(b"layer one",), architecture="amd64", pusher=None):
    """Push an image through the services, as the registry does; returns its manifest."""
    config = image_config(architecture=architecture)
    _blob(repository, config)
    for layer in layers:
        _blob(repository, layer)
    payload = image_manifest(
        descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer) for layer in layers]
    )
    manifest, _ = services.manifest_put(
        repository=repository,
        reference=tag,
        payload=payload,
        content_type=OCI_MANIFEST_TYPE,
        pusher=pusher,
    )
    return manifest
