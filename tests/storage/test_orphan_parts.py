"""Upload storage that no session owns: parts a request stored and died before
listing (S3), and staging files whose session ended without removing them (a
file system). They are swept once safely old; a live upload loses nothing.

Every test commits for real, as in test_s3.py: the services delete files in
``transaction.on_commit`` callbacks."""

import io
import os
import time
import uuid
from pathlib import Path

import pytest

from repositories import blobstore, services, tasks
from repositories.models import Repository, Upload

from .test_s3 import (
    OCTET,
    blob_key,
    body,
    keys,
    patch_chunks,
    sha256,
    split3,
    start_upload,
)

pytestmark = pytest.mark.django_db(transaction=True)

HOUR = 3600


def store_part(name, data):
    """Store a part as _upload_append_part does, and list it nowhere: what a
    process killed between storing a part and committing its session leaves."""
    with blobstore.scratch_file() as scratch:
        scratch.write(data)
        blobstore.save_part(name, scratch)


def sweep_orphans(*, parts_older_than=HOUR, staging_older_than=HOUR):
    return services.upload_sweep_orphans(
        parts_older_than=parts_older_than, staging_older_than=staging_older_than
    )


def backdate(path, *, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


# S3: parts ------------------------------------------------------------------


@pytest.mark.usefixtures("s3_storages")
def test_a_part_no_session_lists_goes_after_the_bound_and_a_live_upload_keeps_its_own(
    client, settings, s3_client, bucket
):
    settings.HUB_BLOB_DELIVERY = "stream"
    data = os.urandom(3_000_000)
    digest = sha256(data)
    first, second, last = split3(data)
    location, upload_id = start_upload(client, "alice/app")
    patch_chunks(client, location, [first, second])
    listed = keys(s3_client, bucket, f"uploads/{upload_id}/")
    assert len(listed) == 2
    # The live session's next chunk, stored by a request that then died...
    store_part(f"{upload_id}/{len(first) + len(second):016d}-0badc0de", last)
    # ...and a part of a session that is gone altogether.
    store_part(f"{uuid.uuid4()}/{0:016d}-0badc0de", b"nobody's bytes")

    # Young, either could be a request's about to be listed: both stay.
    assert sweep_orphans(parts_older_than=HOUR) == {"parts": 0, "staging": 0}
    assert len(keys(s3_client, bucket, "uploads/")) == 4

    time.sleep(2.5)
    # Past the bound, only what no session lists goes: the live session's
    # parts are as old, and stay.
    assert sweep_orphans(parts_older_than=2) == {"parts": 2, "staging": 0}
    assert keys(s3_client, bucket, "uploads/") == listed

    response = client.put(f"{location}?digest={digest}", last, content_type=OCTET)
    assert response.status_code == 201, response.content
    assert keys(s3_client, bucket) == [blob_key(digest)]
    assert body(client.get(f"/v2/alice/app/blobs/{digest}")) == data


@pytest.mark.usefixtures("s3_storages")
def test_the_periodic_sweep_leaves_nothing_of_an_abandoned_push(
    client, settings, s3_client, bucket
):
    """A push that stopped after two chunks, the second request having died
    between storing its part and listing it: upload_cancel deletes what the
    session lists, the orphan sweep the rest, and the empty repository goes."""
    location, upload_id = start_upload(client, "alice/app")
    patch_chunks(client, location, [b"first chunk"])
    store_part(f"{upload_id}/{len(b'first chunk'):016d}-0badc0de", b"second chunk")
    settings.HUB_UPLOAD_MAX_AGE = 1
    time.sleep(2.5)

    counts = tasks.upload_sweep_task()

    assert counts == {"uploads": 1, "repositories": 1, "parts": 1, "staging": 0, "scratch": 0}
    assert keys(s3_client, bucket) == []
    assert not Repository.objects.filter(name="app").exists()


@pytest.mark.usefixtures("s3_storages")
def test_a_chunk_for_a_session_that_ended_meanwhile_leaves_no_part(client, s3_client, bucket):
    _, upload_id = start_upload(client, "alice/app")
    upload = Upload.objects.get(uuid=upload_id)  # as the request read it
    services.upload_cancel(upload=Upload.objects.get(uuid=upload_id))  # while its body came in

    with pytest.raises(services.UploadUnknown):
        services.upload_append(upload=upload, stream=io.BytesIO(b"late"), length=4)

    assert keys(s3_client, bucket) == []


@pytest.mark.usefixtures("s3_storages")
def test_the_chunk_that_loses_a_race_leaves_no_part(client, s3_client, bucket):
    _, upload_id = start_upload(client, "alice/app")
    # Two requests read the session at offset 0; both store a part.
    winner, loser = Upload.objects.get(uuid=upload_id), Upload.objects.get(uuid=upload_id)
    services.upload_append(upload=winner, stream=io.BytesIO(b"winner"), length=6)

    with pytest.raises(services.UploadOutOfOrder):
        services.upload_append(upload=loser, stream=io.BytesIO(b"loser!"), length=6)

    stored = Upload.objects.get(uuid=upload_id)
    assert keys(s3_client, bucket) == [f"uploads/{name}" for name in stored.parts]
    assert len(stored.parts) == 1


# A file system: staging files ----------------------------------------------------


@pytest.fixture
def staging(isolated_storage, client):
    """A session with a chunk in its staging file: (location, uuid, path)."""
    location, upload_id = start_upload(client, "alice/app")
    patch_chunks(client, location, [b"half a layer"])
    path = Path(blobstore.staging_path(upload_id))
    assert path.read_bytes() == b"half a layer"
    return location, upload_id, path


def forget_session(upload_id):
    """Delete the row alone: what a process killed after committing a
    cancellation, before removing the file, leaves."""
    Upload.objects.filter(uuid=upload_id).delete()


def test_a_staging_file_whose_session_ended_goes_once_stale(staging):
    _, upload_id, path = staging
    forget_session(upload_id)

    assert sweep_orphans(staging_older_than=HOUR) == {"parts": 0, "staging": 0}
    assert path.exists()

    backdate(path, seconds=HOUR + 60)
    assert sweep_orphans(staging_older_than=HOUR) == {"parts": 0, "staging": 1}
    assert not path.parent.exists()


def test_a_staging_file_a_request_holds_is_kept(staging):
    _, upload_id, path = staging
    forget_session(upload_id)
    backdate(path, seconds=HOUR + 60)

    with blobstore.locked_staging_file(str(path)):
        assert sweep_orphans(staging_older_than=HOUR) == {"parts": 0, "staging": 0}
        assert path.read_bytes() == b"half a layer"


def test_a_live_sessions_staging_file_is_kept_and_its_blob_verifies(staging, client):
    location, _, path = staging
    backdate(path, seconds=10 * HOUR)  # idle sessions are upload_sweep's to judge

    assert sweep_orphans(staging_older_than=0) == {"parts": 0, "staging": 0}

    data = b"half a layer, and the rest"
    response = client.put(
        f"{location}?digest={sha256(data)}", data[len(b"half a layer") :], content_type=OCTET
    )
    assert response.status_code == 201, response.content
    with blobstore.open_blob(sha256(data)) as stored:
        assert stored.read() == data


def test_an_empty_folder_a_finished_session_left_goes_once_stale(isolated_storage):
    folder = Path(blobstore.staging_path(uuid.uuid4())).parent
    folder.mkdir(parents=True)
    not_hubs = folder.parent / "not-a-session"
    not_hubs.mkdir()

    assert sweep_orphans(staging_older_than=HOUR) == {"parts": 0, "staging": 0}

    for path in (folder, not_hubs):
        backdate(path, seconds=HOUR + 60)
    assert sweep_orphans(staging_older_than=HOUR) == {"parts": 0, "staging": 1}
    assert not folder.exists()
    assert not_hubs.exists()
