"""Namespace storage quotas at the registry: a push that would take a
namespace past its quota is refused with DENIED where it adds bytes, and
leaves nothing behind."""

import os

import pytest

from accounts.models import Namespace
from repositories import blobstore
from repositories.models import Blob, Manifest, Repository, Tag, Upload

from .helpers import OCI_MANIFEST, error_codes, sha256

NAME = "alice/app"
TEN = b"0123456789"
OTHER_TEN = b"abcdefghij"
TEN_MORE_REFUSED = (
    "namespace alice is over its storage quota: "
    "10 bytes used of 15 bytes allowed, 10 bytes more refused"
)


def quota(name, size):
    """Give namespace ``name`` its own quota (creating it as a push would)."""
    namespace, _ = Namespace.objects.get_or_create(
        name=name, defaults={"kind": Namespace.Kind.USER}
    )
    Namespace.objects.filter(pk=namespace.pk).update(storage_quota_bytes=size)


def assert_denied(response, message):
    assert response.status_code == 403, response.content
    assert error_codes(response) == ["DENIED"]
    assert response.json()["errors"][0]["message"] == message


def assert_not_stored(registry, name, data):
    digest = sha256(data)
    assert registry.head(f"/v2/{name}/blobs/{digest}").status_code == 404
    assert not Blob.objects.filter(digest=digest).exists()
    assert not blobstore.blob_storage().exists(blobstore.blob_name(digest))


def monolithic_post(registry, data):
    return registry.post(f"/v2/{NAME}/blobs/uploads/?digest={sha256(data)}", data)


def monolithic_put(registry, data):
    location = registry.start_upload(NAME)
    return registry.put(f"{location}?digest={sha256(data)}", data)


@pytest.mark.parametrize("send", [monolithic_post, monolithic_put])
def test_a_monolithic_upload_past_the_quota_is_denied_and_stores_nothing(registry, send):
    quota("alice", 15)
    registry.push_blob(NAME, TEN)

    response = send(registry, OTHER_TEN)

    assert_denied(response, TEN_MORE_REFUSED)
    assert_not_stored(registry, NAME, OTHER_TEN)


def test_closing_put_past_the_quota_is_denied_and_ends_the_upload(registry):
    quota("alice", 15)
    registry.push_blob(NAME, TEN)
    location = registry.start_upload(NAME)
    assert registry.patch(location, OTHER_TEN[:6]).status_code == 202

    response = registry.put(f"{location}?digest={sha256(OTHER_TEN)}", OTHER_TEN[6:])

    assert_denied(response, TEN_MORE_REFUSED)
    assert_not_stored(registry, NAME, OTHER_TEN)
    assert registry.get(location).status_code == 404
    assert not Upload.objects.exists()
    upload_id = location.rstrip("/").rsplit("/", 1)[1]
    staging = blobstore.staging_path(upload_id)
    assert staging is None or not os.path.exists(staging)


def test_an_upload_that_reaches_the_quota_exactly_is_accepted(registry):
    quota("alice", 20)
    registry.push_blob(NAME, TEN)

    registry.push_blob(NAME, OTHER_TEN)


def test_a_blob_the_namespace_holds_is_free_at_the_limit(registry):
    quota("alice", 10)
    registry.push_blob(NAME, TEN)

    registry.push_blob(NAME, TEN)  # a re-push into the same repository
    registry.push_blob("alice/other", TEN)  # a push into another of its repositories
    location = registry.start_upload("alice/third")
    assert registry.put(f"{location}?digest={sha256(TEN)}", TEN).status_code == 201


def test_a_mount_within_the_namespace_is_free_at_the_limit(registry):
    # Mounts come from repositories with a manifest: a push begun is nobody's to see.
    registry.push_image(NAME, "v1", layers=(TEN,))
    quota("alice", 1)  # far below what it stores already
    digest = sha256(TEN)

    response = registry.post(f"/v2/alice/copy/blobs/uploads/?mount={digest}&from={NAME}")

    assert response.status_code == 201, response.content


def test_a_mount_that_adds_bytes_to_another_namespace_is_denied(registry):
    quota("alice", 5)
    registry.push_image("bob/source", "v1", layers=(TEN,))
    digest = sha256(TEN)

    response = registry.post(f"/v2/{NAME}/blobs/uploads/?mount={digest}&from=bob/source")

    assert_denied(
        response,
        "namespace alice is over its storage quota: "
        "0 bytes used of 5 bytes allowed, 10 bytes more refused",
    )
    assert registry.head(f"/v2/{NAME}/blobs/{digest}").status_code == 404
    assert not Blob.objects.get(digest=digest).repositories.filter(namespace__name="alice")


def test_a_manifest_past_the_quota_is_denied_and_leaves_no_tag(registry):
    payload = registry.image_payload(NAME)
    used = sum(blob.size for blob in Blob.objects.all())
    quota("alice", used)

    response = registry.push_manifest(NAME, "latest", payload)

    assert_denied(
        response,
        f"namespace alice is over its storage quota: {used} bytes used of {used} bytes "
        f"allowed, {len(payload)} bytes more refused",
    )
    assert not Manifest.objects.exists()
    assert not Tag.objects.exists()
    assert Repository.objects.get(name="app").is_pending
    assert registry.get(f"/v2/{NAME}/manifests/latest").status_code == 404


def test_a_manifest_the_namespace_holds_is_free_at_the_limit(registry):
    pushed = registry.push_image(NAME, "v1")
    used = sum(blob.size for blob in Blob.objects.all()) + len(pushed.payload)
    quota("alice", used)

    again = registry.push_image(NAME, "v1")  # the same image, blobs and all
    registry.push(NAME, "v2", pushed.payload, OCI_MANIFEST)  # another tag
    copy = registry.push_image("alice/copy", "v1")  # another repository

    assert again.digest == copy.digest == pushed.digest
    assert Tag.objects.filter(repository__namespace__name="alice").count() == 3


@pytest.mark.parametrize(
    ("default", "own", "accepted"),
    [
        (5, None, False),  # the default applies
        (5, 0, True),  # staff lifted the limit for this namespace
        (5, 100, True),  # staff raised it
        (0, 5, False),  # no default, but staff set one
    ],
)
def test_the_namespace_quota_beats_the_default(registry, settings, default, own, accepted):
    settings.HUB_NAMESPACE_QUOTA_BYTES = default
    quota("alice", own)

    response = monolithic_post(registry, TEN)

    assert response.status_code == (201 if accepted else 403), response.content


def test_a_quota_change_applies_to_the_next_push(registry):
    registry.push_blob(NAME, TEN)  # the repository is now cached with its namespace
    quota("alice", 15)

    response = monolithic_post(registry, OTHER_TEN)

    assert response.status_code == 403
