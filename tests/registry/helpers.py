"""Documents, digests and assertions shared by the /v2/ tests.

Media types are spelled out here rather than imported from the application,
so a typo in the application's constants fails a test."""

import hashlib
import json

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_DATA = b"{}"
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
SHA256_OF_NOTHING = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha512(data):
    return "sha512:" + hashlib.sha512(data).hexdigest()


def encode(document):
    """JSON as a client might send it: indented, so a registry that
    re-serializes instead of storing the bytes is caught."""
    return json.dumps(document, indent=3).encode()


def descriptor(media_type, data, **fields):
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data), **fields}


def image_config(architecture="amd64", os="linux", **fields):
    document = {"architecture": architecture, "os": os, "rootfs": {"type": "layers"}, **fields}
    return encode(document)


def image_manifest(config, layers=(), *, media_type=OCI_MANIFEST, **fields):
    """An image manifest over ``config`` (a descriptor) and layer descriptors."""
    document = {"schemaVersion": 2, "mediaType": media_type, "config": config}
    document["layers"] = list(layers)
    document.update(fields)
    return encode(document)


def small_image_blobs(registry, name):
    """Upload a config and one layer to ``name`` through ``registry`` (a
    Django test client); returns the manifest that names them, not yet pushed."""
    config = image_config()
    layer = b"a layer of " + name.encode()
    for blob in (config, layer):
        response = registry.post(
            f"/v2/{name}/blobs/uploads/?digest={sha256(blob)}",
            blob,
            content_type="application/octet-stream",
        )
        assert response.status_code == 201, response.content
    return image_manifest(descriptor(OCI_CONFIG, config), [descriptor(OCI_LAYER, layer)])


def index(children, *, media_type=OCI_INDEX, **fields):
    document = {"schemaVersion": 2, "mediaType": media_type, "manifests": list(children)}
    document.update(fields)
    return encode(document)


def error_codes(response):
    return [error["code"] for error in response.json()["errors"]]


def platform_descriptor(pushed, architecture, os="linux", **platform):
    """An index entry for a pushed manifest."""
    platform = {"architecture": architecture, "os": os, **platform}
    return descriptor(pushed.media_type, pushed.payload, platform=platform)
