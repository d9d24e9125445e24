"""Upload sessions: POST /v2/<name>/blobs/uploads/ and the session URL."""

import io
import os
import re
import threading
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection
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


def staging_file(location):
    """An upload session's staging file: the bytes its chunks appended."""
    return Path(blobstore.staging_path(upload_id(location)))


def test_upload_state_is_persisted_between_requests(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})
    cache.clear()

    stored = Upload.objects.get(uuid=upload_id(location))
    assert stored.offset == 8
    assert staging_file(location).read_bytes() == DATA[:8]

    registry.client = client_as("tester", "secret")  # another process picks the session up
    registry.patch(location, DATA[8:], headers={"Content-Range": "8-19"})
    cache.clear()
    stored.refresh_from_db()
    assert stored.offset == len(DATA)
    assert staging_file(location).read_bytes() == DATA

    registry.client = client_as("tester", "secret")
    assert registry.put(f"{location}?digest={sha256(DATA)}").status_code == 201
    assert not Upload.objects.filter(uuid=upload_id(location)).exists()
    assert not staging_file(location).parent.exists()
    assert_blob(registry, sha256(DATA), DATA)


# Sweeping stale uploads -----------------------------------------------------


def test_sweep_removes_stale_uploads_and_their_bytes(registry, django_capture_on_commit_callbacks):
    stale = [registry.start_upload(NAME) for _ in range(3)]
    fresh = registry.start_upload(NAME)
    for location in [*stale, fresh]:
        registry.patch(location, DATA)
    long_ago = timezone.now() - timezone.timedelta(hours=2)
    Upload.objects.filter(uuid__in=[upload_id(s) for s in stale]).update(updated_at=long_ago)

    with django_capture_on_commit_callbacks(execute=True):
        swept = services.upload_sweep(older_than=3600)

    assert swept == 3
    assert not any(staging_file(location).parent.exists() for location in stale)
    for location in stale:
        assert registry.get(location).status_code == 404
    assert registry.get(fresh).status_code == 204
    assert staging_file(fresh).read_bytes() == DATA


# Each byte is written once: chunks are appended to one staging file, which ---
# becomes the blob --------------------------------------------------------------


class Trickle(io.BytesIO):
    """A request body that arrives a few bytes at a time, so part of a chunk
    is on disk when something goes wrong; it fails with ``error`` once
    ``fail_after`` bytes have been read."""

    def __init__(self, data, *, fail_after=None, error=ConnectionResetError):
        super().__init__(data)
        self.fail_after, self.error = fail_after, error

    def read(self, size=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise self.error("the client went away")
        return super().read(4 if size is None or size < 0 else min(size, 4))


def test_chunks_become_the_blob_byte_for_byte_and_the_staging_file_is_moved(registry):
    chunks = [os.urandom(size) for size in (1000, 1, 4096, 333)]
    blob = b"".join(chunks)
    location = registry.start_upload(NAME)
    offset = 0
    for chunk in chunks[:-1]:
        end = offset + len(chunk) - 1
        response = registry.patch(location, chunk, headers={"Content-Range": f"{offset}-{end}"})
        assert (response.status_code, response["Range"]) == (202, f"0-{end}")
        offset = end + 1
    staging_inode = staging_file(location).stat().st_ino

    closed = registry.put(f"{location}?digest={sha256(blob)}", chunks[-1])

    assert closed.status_code == 201
    assert closed["Docker-Content-Digest"] == sha256(blob)
    stored = Path(blobstore.blob_path(sha256(blob)))
    assert stored.read_bytes() == blob
    assert stored.stat().st_ino == staging_inode  # moved into place, not copied
    assert not staging_file(location).parent.exists()
    assert_blob(registry, sha256(blob), blob)


def test_wrong_digest_drops_the_staging_file(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA)

    response = registry.put(f"{location}?digest={sha256(b'something else')}")

    assert response.status_code == 400
    assert error_codes(response) == ["DIGEST_INVALID"]
    assert not staging_file(location).parent.exists()
    assert registry.head(f"/v2/{NAME}/blobs/{sha256(DATA)}").status_code == 404


def test_cancelled_upload_drops_the_staging_file(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA)

    assert registry.delete(location).status_code == 204

    assert not staging_file(location).parent.exists()


def test_chunk_cut_short_counts_for_nothing_and_the_retry_completes(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})

    cut = registry.patch(
        location,
        CONTENT_LENGTH="12",
        headers={"Content-Range": "8-19"},
        **{"wsgi.input": Trickle(DATA[8:15])},
    )

    assert cut.status_code == 400
    assert error_codes(cut) == ["SIZE_INVALID"]
    assert registry.get(location)["Range"] == "0-7"
    assert staging_file(location).read_bytes() == DATA[:8]

    retry = registry.patch(location, DATA[8:], headers={"Content-Range": "8-19"})
    closed = registry.put(f"{location}?digest={sha256(DATA)}")

    assert (retry.status_code, retry["Range"]) == (202, "0-19")
    assert closed.status_code == 201
    assert_blob(registry, sha256(DATA), DATA)


def test_client_gone_mid_chunk_counts_for_nothing_and_the_retry_completes(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})

    with pytest.raises(OSError):  # Django reports it as UnreadablePostError
        registry.patch(
            location,
            CONTENT_LENGTH="12",
            headers={"Content-Range": "8-19"},
            **{"wsgi.input": Trickle(DATA[8:], fail_after=8)},
        )

    assert registry.get(location)["Range"] == "0-7"
    assert staging_file(location).read_bytes() == DATA[:8]
    registry.patch(location, DATA[8:], headers={"Content-Range": "8-19"})
    assert registry.put(f"{location}?digest={sha256(DATA)}").status_code == 201
    assert_blob(registry, sha256(DATA), DATA)


def test_chunk_past_the_size_limit_counts_for_nothing_and_a_smaller_one_completes(
    registry, settings
):
    settings.HUB_MAX_BLOB_SIZE = 12
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})

    refused = registry.patch(location, CONTENT_LENGTH="12", **{"wsgi.input": Trickle(DATA[8:])})

    assert refused.status_code == 413
    assert registry.get(location)["Range"] == "0-7"
    assert staging_file(location).read_bytes() == DATA[:8]

    retry = registry.patch(location, DATA[8:12], headers={"Content-Range": "8-11"})
    closed = registry.put(f"{location}?digest={sha256(DATA[:12])}")

    assert (retry.status_code, retry["Range"]) == (202, "0-11")
    assert closed.status_code == 201
    assert_blob(registry, sha256(DATA[:12]), DATA[:12])


def test_bytes_past_the_recorded_offset_are_dropped(registry):
    """What a process that died mid-chunk left behind: bytes in the staging
    file that the session's offset does not count."""
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})
    with staging_file(location).open("ab") as leftover:
        leftover.write(b"half a chunk")

    second = registry.patch(location, DATA[8:16], headers={"Content-Range": "8-15"})

    assert (second.status_code, second["Range"]) == (202, "0-15")
    assert staging_file(location).read_bytes() == DATA[:16]

    with staging_file(location).open("ab") as leftover:
        leftover.write(b"and again")
    closed = registry.put(
        f"{location}?digest={sha256(DATA)}", DATA[16:], headers={"Content-Range": "16-19"}
    )

    assert closed.status_code == 201
    assert_blob(registry, sha256(DATA), DATA)


def test_a_session_whose_bytes_are_gone_ends_instead_of_going_on(registry):
    """Never continue past a hole: the client must start the blob again."""
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})
    staging_file(location).unlink()

    refused = registry.patch(location, DATA[8:], headers={"Content-Range": "8-19"})

    assert refused.status_code == 404
    assert refused.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert registry.get(location).status_code == 404
    assert not staging_file(location).parent.exists()


class HeldBody(io.BytesIO):
    """A request body that stops after its first ``hold_after`` bytes until
    ``release`` is set, as a slow client's does."""

    def __init__(self, data, hold_after):
        super().__init__(data)
        self.hold_after = hold_after
        self.holding, self.release = threading.Event(), threading.Event()

    def read(self, size=-1):
        before_hold = self.hold_after - self.tell()
        if before_hold > 0:
            return super().read(before_hold if size is None or size < 0 else min(size, before_hold))
        self.holding.set()
        self.release.wait(timeout=30)
        return super().read(size)


@pytest.mark.django_db(transaction=True)
def test_two_chunks_at_one_offset_one_wins_the_other_is_416(staff_user):
    """Two requests for one session never write at once: the second waits for
    the first, then finds the offset it claimed is taken."""
    setup = client_as("tester", "secret")
    location = setup.post(f"/v2/{NAME}/blobs/uploads/")["Location"]
    first, second = os.urandom(len(DATA)), os.urandom(len(DATA))
    held = HeldBody(first, hold_after=8)
    responses = {}

    def send(key, **request):
        try:
            client = client_as("tester", "secret")
            responses[key] = client.generic(
                "PATCH",
                location,
                content_type="application/octet-stream",
                headers={"Content-Range": "0-19"},
                **request,
            )
        finally:
            connection.close()

    winner = threading.Thread(
        target=send, args=("winner",), kwargs={"CONTENT_LENGTH": "20", "wsgi.input": held}
    )
    winner.start()
    assert held.holding.wait(timeout=30)
    loser = threading.Thread(target=send, args=("loser",), kwargs={"data": second})
    loser.start()
    loser.join(timeout=0.5)
    waited = loser.is_alive()
    held.release.set()
    winner.join(timeout=30)
    loser.join(timeout=30)

    assert waited  # for the lock the first request holds
    assert (responses["winner"].status_code, responses["winner"]["Range"]) == (202, "0-19")
    assert responses["loser"].status_code == 416
    assert responses["loser"]["Range"] == "0-19"
    assert error_codes(responses["loser"]) == ["BLOB_UPLOAD_INVALID"]
    closed = setup.put(
        f"{location}?digest={sha256(first)}", b"", content_type="application/octet-stream"
    )
    assert closed.status_code == 201
    assert setup.get(f"/v2/{NAME}/blobs/{sha256(first)}").getvalue() == first


def test_chunks_hashed_here_and_elsewhere_close_with_the_right_digest(registry):
    """The chunks of a session are hashed as they arrive, and the closing PUT
    uses that digest only if it covers every byte the session holds: here the
    second chunk came through another process (which this one did not see),
    so the close reads the staged bytes back."""
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})
    uuid_ = Upload.objects.get().uuid
    length, hasher = blobstore._staged_digests[uuid_]
    assert length == 8
    hashed_here = {uuid_: (length, hasher.copy())}

    registry.patch(location, DATA[8:], headers={"Content-Range": "8-19"})
    blobstore._staged_digests.update(hashed_here)  # what this process knew before chunk 2

    closed = registry.put(f"{location}?digest={sha256(DATA)}")
    assert closed.status_code == 201
    assert_blob(registry, sha256(DATA), DATA)


def test_a_sha512_close_reads_back_chunks_hashed_as_sha256(registry):
    location = registry.start_upload(NAME)
    registry.patch(location, DATA[:8], headers={"Content-Range": "0-7"})
    closed = registry.put(f"{location}?digest={sha512(DATA)}", DATA[8:])
    assert closed.status_code == 201
    assert closed["Docker-Content-Digest"] == sha512(DATA)
