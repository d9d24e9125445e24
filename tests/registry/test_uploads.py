"""Upload sessions: POST /v2/<name>/blobs/uploads/ and the session URL."""

import io
import os
import re

import pytest
from django.core.cache import cache
from django.utils import timezone

from repositories import blobstore, services
from repositories.models import Upload
from tests.helpers import client_as

from .helpers import SHA256_OF_NOTHING, error_codes, sha256, sha512

NAME = "alice/app"
DATA = b"0123456789abcdefghij"


def upload_id(location):
    return location.rsplit("/", 1)[1]


def streamed(data):
    """Request arguments for a body sent without Content-Length (chunked
    transfer encoding, which the WSGI server has already decoded)."""
    return {"CONTENT_LENGTH": "", "wsgi.input": io.BytesIO(data), "wsgi.input_terminated": True}


def assert_blob(registry, digest, data, name=NAME):
    response = registry.get(f"/v2/{name}/blobs/{digest}")
    assert response.status_code == 200
    assert response.getvalue() == data


def test_post_starts_a_session(registry):
    response = registry.post(f"/v2/{NAME}/blobs/uploads/")

    assert response.status_code == 202
    match = re.fullmatch(rf"/v2/{NAME}/blobs/uploads/([0-9a-f-]{{36}})", response["Location"])
    assert match
    assert response["Docker-Upload-UUID"] == match.group(1)
    assert response["Range"] == "0-0"
    assert response["Content-Length"] == "0"


def test_post_then_put(registry):
    location = registry.start_upload(NAME)

    response = registry.put(f"{location}?digest={sha256(DATA)}", DATA)

    assert response.status_code == 201
    assert response["Location"] == f"/v2/{NAME}/blobs/{sha256(DATA)}"
    assert response["Docker-Content-Digest"] == sha256(DATA)
    assert_blob(registry, sha256(DATA), DATA)


def test_chunks_in_order(registry):
    location = registry.start_upload(NAME)

    first = registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})
    second = registry.patch(first["Location"], DATA[8:], headers={"Content-Range": "8-19"})
    closed = registry.put(f"{second['Location']}?digest={sha256(DATA)}")

    assert (first.status_code, first["Range"]) == (202, "0-7")
    assert (second.status_code, second["Range"]) == (202, "0-19")
    assert first["Location"] == location
    assert closed.status_code == 201
    assert closed["Docker-Content-Digest"] == sha256(DATA)
    assert_blob(registry, sha256(DATA), DATA)


def test_out_of_order_chunk_is_416_with_the_current_range(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})

    response = registry.patch(location, DATA[10:], headers={"Content-Range": "10-19"})

    assert response.status_code == 416
    assert error_codes(response) == ["BLOB_UPLOAD_INVALID"]
    assert response["Range"] == "0-7"
    assert response["Location"] == location


def test_upload_continues_after_a_416(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})

    status = registry.get(location)
    registry.patch(status["Location"], DATA[8:], headers={"Content-Range": "8-19"})
    closed = registry.put(f"{location}?digest={sha256(DATA)}")

    assert status["Range"] == "0-7"
    assert closed.status_code == 201
    assert_blob(registry, sha256(DATA), DATA)


def test_out_of_order_final_chunk_in_put_is_416(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})

    response = registry.put(
        f"{location}?digest={sha256(DATA)}", DATA[9:], headers={"Content-Range": "9-19"}
    )

    assert response.status_code == 416
    assert response["Range"] == "0-7"


def test_get_upload_status_is_204_with_range(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:5])

    response = registry.get(location)

    assert response.status_code == 204
    assert response["Range"] == "0-4"
    assert response["Location"] == location
    assert response["Docker-Upload-UUID"] == upload_id(location)


def test_delete_upload_is_204_then_unknown(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:5])

    response = registry.delete(location)

    assert response.status_code == 204
    for after in (registry.get(location), registry.patch(location, DATA[5:])):
        assert after.status_code == 404
        assert error_codes(after) == ["BLOB_UPLOAD_UNKNOWN"]


@pytest.mark.parametrize("session", ["0b0c1d4e-0000-4000-8000-000000000000", "not-a-uuid"])
def test_unknown_session_is_404_blob_upload_unknown(registry, session):
    registry.start_upload(NAME)

    response = registry.get(f"/v2/{NAME}/blobs/uploads/{session}")

    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


def test_session_belongs_to_its_repository(registry):
    location = registry.start_upload(NAME)
    registry.start_upload("bob/app")

    response = registry.get(f"/v2/bob/app/blobs/uploads/{upload_id(location)}")

    assert response.status_code == 404
    assert error_codes(response) == ["BLOB_UPLOAD_UNKNOWN"]


def test_patch_without_content_range_appends(registry):
    location = registry.start_upload(NAME)

    first = registry.patch(location, DATA[:3])
    second = registry.patch(location, DATA[3:])
    closed = registry.put(f"{location}?digest={sha256(DATA)}")

    assert (first["Range"], second["Range"]) == ("0-2", "0-19")
    assert closed.status_code == 201
    assert_blob(registry, sha256(DATA), DATA)


def test_streamed_patch_without_content_length(registry):
    location = registry.start_upload(NAME)

    response = registry.patch(location, **streamed(DATA))
    closed = registry.put(f"{location}?digest={sha256(DATA)}")

    assert response.status_code == 202
    assert response["Range"] == "0-19"
    assert closed.status_code == 201
    assert_blob(registry, sha256(DATA), DATA)


def test_final_chunk_in_put(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})

    response = registry.put(
        f"{location}?digest={sha256(DATA)}", DATA[8:], headers={"Content-Range": "8-19"}
    )

    assert response.status_code == 201
    assert_blob(registry, sha256(DATA), DATA)


def test_wrong_digest_on_close_is_400_and_nothing_is_stored(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA)
    claimed = sha256(b"something else")

    response = registry.put(f"{location}?digest={claimed}")

    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    assert registry.head(f"/v2/{NAME}/blobs/{claimed}").status_code == 404
    assert registry.head(f"/v2/{NAME}/blobs/{sha256(DATA)}").status_code == 404


@pytest.mark.parametrize("query", ["", "?digest=", "?digest=sha256:1234"])
def test_close_without_a_valid_digest_is_400_digest_invalid(registry, query):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA)

    response = registry.put(f"{location}{query}")

    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]


def test_sha512_chunked_upload(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})
    registry.patch(location, DATA[8:], headers={"Content-Range": "8-19"})

    response = registry.put(f"{location}?digest={sha512(DATA)}")

    assert response.status_code == 201
    assert response["Docker-Content-Digest"] == sha512(DATA)
    assert_blob(registry, sha512(DATA), DATA)


def test_zero_length_upload(registry):
    location = registry.start_upload(NAME)

    response = registry.put(f"{location}?digest={SHA256_OF_NOTHING}")

    assert response.status_code == 201
    assert_blob(registry, SHA256_OF_NOTHING, b"")


def test_malformed_content_range_is_400(registry):
    location = registry.start_upload(NAME)

    response = registry.patch(location, DATA[:8], headers={"Content-Range": "bytes=seven"})

    assert response.status_code == 400
    assert error_codes(response) == ["BLOB_UPLOAD_INVALID"]


def test_content_range_disagreeing_with_content_length_is_400(registry):
    location = registry.start_upload(NAME)

    response = registry.patch(location, DATA[:8], headers={"Content-Range": "0-9"})

    assert response.status_code == 400
    assert error_codes(response) == ["SIZE_INVALID"]
    assert registry.get(location)["Range"] == "0-0"


def test_body_shorter_than_its_content_length_is_400(registry):
    location = registry.start_upload(NAME)

    response = registry.patch(
        location, CONTENT_LENGTH=str(len(DATA) + 5), **{"wsgi.input": io.BytesIO(DATA)}
    )

    assert response.status_code == 400
    assert error_codes(response) == ["SIZE_INVALID"]


# Size limit -----------------------------------------------------------------


def test_chunk_past_the_size_limit_is_413(registry, settings):
    settings.HUB_MAX_BLOB_SIZE = 12
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8])

    response = registry.patch(location, DATA[8:])

    assert response.status_code == 413
    assert error_codes(response) == ["SIZE_INVALID"]
    assert registry.get(location)["Range"] == "0-7"


def test_monolithic_put_past_the_size_limit_is_413(registry, settings):
    settings.HUB_MAX_BLOB_SIZE = 12
    location = registry.start_upload(NAME)

    response = registry.put(f"{location}?digest={sha256(DATA)}", DATA)

    assert response.status_code == 413
    assert error_codes(response) == ["SIZE_INVALID"]


def test_streamed_final_chunk_past_the_size_limit_is_413(registry, settings):
    settings.HUB_MAX_BLOB_SIZE = 12
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8])

    response = registry.put(f"{location}?digest={sha256(DATA)}", **streamed(DATA[8:]))

    assert response.status_code == 413
    assert registry.head(f"/v2/{NAME}/blobs/{sha256(DATA)}").status_code == 404


# State lives in the database and upload storage, not in a process ----------


def test_upload_state_is_persisted_between_requests(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})
    cache.clear()

    stored = Upload.objects.get(uuid=upload_id(location))
    assert stored.offset == 8
    assert len(stored.parts) == 1
    with blobstore.upload_storage().open(stored.parts[0], "rb") as part:
        assert part.read() == DATA[:8]

    registry.client = client_as("tester", "secret")  # another process picks the session up
    registry.patch(location, DATA[8:], headers={"Content-Range": "8-19"})
    cache.clear()
    stored.refresh_from_db()
    assert stored.offset == len(DATA)
    assert len(stored.parts) == 2

    registry.client = client_as("tester", "secret")
    assert registry.put(f"{location}?digest={sha256(DATA)}").status_code == 201
    assert not Upload.objects.filter(uuid=upload_id(location)).exists()
    assert not any(blobstore.upload_storage().exists(part) for part in stored.parts)
    assert_blob(registry, sha256(DATA), DATA)


# Sweeping stale uploads -----------------------------------------------------


def test_sweep_removes_stale_uploads_and_their_parts(registry, django_capture_on_commit_callbacks):
    stale = [registry.start_upload(NAME) for _ in range(3)]
    fresh = registry.start_upload(NAME)
    for location in [*stale, fresh]:
        registry.patch(location, DATA)
    long_ago = timezone.now() - timezone.timedelta(hours=2)
    Upload.objects.filter(uuid__in=[upload_id(s) for s in stale]).update(updated_at=long_ago)
    stale_parts = [part for s in stale for part in Upload.objects.get(uuid=upload_id(s)).parts]

    with django_capture_on_commit_callbacks(execute=True):
        swept = services.upload_sweep(older_than=3600)

    assert swept == 3
    assert not any(blobstore.upload_storage().exists(part) for part in stale_parts)
    for location in stale:
        assert registry.get(location).status_code == 404
    assert registry.get(fresh).status_code == 204
    [fresh_part] = Upload.objects.get(uuid=upload_id(fresh)).parts
    assert blobstore.upload_storage().exists(fresh_part)


# One PATCH holding the whole blob (as `docker push` sends it) ----------------


def test_a_lone_part_is_moved_into_place_not_copied(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA)
    part = Upload.objects.get(uuid=upload_id(location)).parts[0]
    part_inode = os.stat(blobstore.upload_storage().path(part)).st_ino

    assert registry.put(f"{location}?digest={sha256(DATA)}").status_code == 201

    blob_path = blobstore.blob_path(sha256(DATA))
    assert os.stat(blob_path).st_ino == part_inode
    assert not blobstore.upload_storage().exists(part)
    assert_blob(registry, sha256(DATA), DATA)


def test_a_lone_part_with_the_wrong_digest_is_refused_and_dropped(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA)
    part = Upload.objects.get(uuid=upload_id(location)).parts[0]

    response = registry.put(f"{location}?digest={sha256(b'something else')}")

    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    assert not blobstore.upload_storage().exists(part)
    assert registry.head(f"/v2/{NAME}/blobs/{sha256(DATA)}").status_code == 404
