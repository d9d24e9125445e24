"""Scratch files: a request's file survives any sweep while the request lives,
however long its client pauses; a killed process's file is swept once stale."""

import hashlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from celery.signals import worker_ready
from django.conf import settings

from repositories import blobstore
from tests.helpers import basic_auth

HOUR = 3600
MIB = 1024 * 1024


@pytest.fixture
def scratch(isolated_storage, settings):
    settings.HUB_SCRATCH_MAX_AGE = HOUR
    directory = Path(settings.HUB_SCRATCH_DIR)
    directory.mkdir(parents=True)
    return directory


def backdate(path, *, seconds):
    """Make ``path`` look untouched for ``seconds``, as time passing would."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def left_behind(directory, name="blob-left-behind", size=1000):
    """A scratch file as a process that died mid-request leaves it: nobody
    holds it and nobody will remove it."""
    path = directory / name
    path.write_bytes(b"x" * size)
    return path


def wait_for(condition, *, timeout=30):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_stale_file_nobody_holds_is_deleted(scratch):
    stale = left_behind(scratch)
    backdate(stale, seconds=HOUR + 60)

    assert blobstore.scratch_sweep(older_than=HOUR) == 1

    assert list(scratch.iterdir()) == []


def test_a_fresh_file_is_kept(scratch):
    fresh = left_behind(scratch)

    assert blobstore.scratch_sweep(older_than=HOUR) == 0

    assert fresh.exists()


def test_only_hubs_own_files_are_swept(scratch):
    """HUB_SCRATCH_DIR may be a directory other programs use too (/tmp)."""
    other = scratch / "someone-elses.txt"
    other.write_text("not Hub's")
    folder = scratch / "blob-folder"
    folder.mkdir()
    for path in (other, folder):
        backdate(path, seconds=HOUR + 60)

    assert blobstore.scratch_sweep(older_than=HOUR) == 0

    assert other.exists() and folder.exists()


def test_a_held_scratch_file_is_kept_whatever_its_age(scratch):
    with blobstore.scratch_file() as held:
        held.write(b"half a layer")
        held.flush()
        backdate(held.name, seconds=10 * HOUR)

        assert blobstore.scratch_sweep(older_than=0) == 0
        assert Path(held.name).read_bytes() == b"half a layer"

    assert list(scratch.iterdir()) == []  # removed by its owner, as always


def test_a_worker_sweeps_its_hosts_scratch_files_when_it_starts(scratch):
    stale = left_behind(scratch)
    backdate(stale, seconds=HOUR + 60)

    worker_ready.send(sender=None)

    assert not stale.exists()


# A live upload, paused by its client for longer than the bound ------------------


def test_an_upload_paused_mid_body_keeps_its_scratch_file(scratch, live_server, staff_user):
    """A real request to the server, whose client sends half the body and
    then goes quiet for longer than HUB_SCRATCH_MAX_AGE: the sweep leaves its
    file, and the upload completes with the right bytes."""
    data = os.urandom(4 * MIB)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    half = 2 * MIB  # whole reads of the server's 1 MiB chunks, so they reach the file
    address = urlsplit(live_server.url)
    head = (
        f"POST /v2/tester/app/blobs/uploads/?digest={digest} HTTP/1.1\r\n"
        f"Host: {address.netloc}\r\n"
        f"Authorization: {basic_auth('tester', 'secret')}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {len(data)}\r\n"
        "Connection: close\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=60) as client:
        client.sendall(head.encode() + data[:half])
        wait_for(lambda: [p.stat().st_size for p in scratch.iterdir()] == [half])
        (receiving,) = scratch.iterdir()
        backdate(receiving, seconds=2 * HOUR)  # the client has been quiet that long

        assert blobstore.scratch_sweep(older_than=HOUR) == 0
        assert receiving.stat().st_size == half

        client.sendall(data[half:])
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 201"), answer[:500]
    with blobstore.open_blob(digest) as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == digest.split(":")[1]
    assert list(scratch.iterdir()) == []


# A process killed mid-body ------------------------------------------------------

STALLING_UPLOAD = textwrap.dedent(
    """
    import sys, time

    import django

    django.setup()
    from django.conf import settings

    settings.HUB_SCRATCH_DIR = sys.argv[1]
    from repositories import services


    class StallingBody:
        # A client that sends three MiB of its body, then nothing more.
        def __init__(self):
            self.sent = 0

        def read(self, size):
            if self.sent >= 3 * 1024 * 1024:
                print("stalled", flush=True)
                time.sleep(3600)
            self.sent += size
            return b"x" * size


    services.blob_upload_monolithic(
        repository=None, digest="sha256:" + "0" * 64, stream=StallingBody(), length=2**30
    )
    """
)


def test_a_process_killed_mid_upload_leaves_a_file_the_sweep_removes(scratch, tmp_path):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hub.settings.test",
        "TMPDIR": str(tmp_path),  # where its test settings make their data directory
    }
    with (tmp_path / "stderr").open("wb") as errors:
        upload = subprocess.Popen(
            [sys.executable, "-c", STALLING_UPLOAD, str(scratch)],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
    try:
        line = upload.stdout.readline()
        assert line == b"stalled\n", (tmp_path / "stderr").read_text()
        (receiving,) = scratch.iterdir()
        assert receiving.stat().st_size == 3 * MIB
        backdate(receiving, seconds=2 * HOUR)

        # Alive in another process, however stale it looks: kept.
        assert blobstore.scratch_sweep(older_than=HOUR) == 0

        upload.send_signal(signal.SIGKILL)
        assert upload.wait(timeout=30) == -signal.SIGKILL
    finally:
        if upload.poll() is None:
            upload.kill()
            upload.wait()
        upload.stdout.close()

    assert receiving.exists()  # the killed process never cleaned up
    assert blobstore.scratch_sweep(older_than=settings.HUB_SCRATCH_MAX_AGE) == 1
    assert list(scratch.iterdir()) == []
