import io
import json

import pytest
from django.core.management import call_command

from repositories import blobstore, services
from repositories.models import Blob
from repositories.oci import digests

pytestmark = pytest.mark.django_db


def push_blob(repository, data):
    digest = digests.of(data)
    services.blob_upload_monolithic(
        repository=repository, digest=digest, stream=io.BytesIO(data), length=len(data)
    )
    return digest


def push_image(repository, tag, layer):
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": push_blob(repository, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": push_blob(repository, layer),
                "size": len(layer),
            }
        ],
    }
    services.manifest_put(
        repository=repository,
        reference=tag,
        payload=json.dumps(manifest).encode(),
        content_type=manifest["mediaType"],
    )


def stored(digest):
    return blobstore.blob_storage().exists(blobstore.blob_name(digest))


def test_unreferenced_blob_is_deleted_with_its_bytes_after_the_grace_period():
    repository = services.repository_get_or_create(name="gc/app")
    orphan = push_blob(repository, b"never used by a manifest")

    assert services.blob_collect_garbage(grace_seconds=3600) == 0
    assert stored(orphan)

    assert services.blob_collect_garbage(grace_seconds=0) == 1
    assert not stored(orphan)
    assert not Blob.objects.filter(digest=orphan).exists()


def test_blobs_of_tagged_images_survive():
    repository = services.repository_get_or_create(name="gc/app")
    push_image(repository, "1.0", b"layer bytes")
    layer = digests.of(b"layer bytes")

    assert services.blob_collect_garbage(grace_seconds=0) == 0
    assert stored(layer)
    assert services.blob_find(repository=repository, digest=layer) is not None


def test_blob_shared_with_another_repository_keeps_its_bytes():
    kept = services.repository_get_or_create(name="gc/kept")
    dropped = services.repository_get_or_create(name="gc/dropped")
    push_image(kept, "latest", b"shared layer")
    shared = push_blob(dropped, b"shared layer")

    services.blob_collect_garbage(grace_seconds=0)

    assert services.blob_find(repository=dropped, digest=shared) is None
    assert services.blob_find(repository=kept, digest=shared) is not None
    assert stored(shared)


def test_a_blob_pushed_again_after_collection_is_stored_again():
    repository = services.repository_get_or_create(name="gc/app")
    digest = push_blob(repository, b"comes back")
    services.blob_collect_garbage(grace_seconds=0)
    assert not stored(digest)

    push_blob(repository, b"comes back")

    assert stored(digest)
    with blobstore.open_blob(digest) as handle:
        assert handle.read() == b"comes back"


def test_collect_garbage_command_reports_what_it_deleted(capsys):
    repository = services.repository_get_or_create(name="gc/app")
    push_blob(repository, b"orphan")

    call_command("collect_garbage", grace=0)

    assert "Deleted 1 blobs" in capsys.readouterr().out
