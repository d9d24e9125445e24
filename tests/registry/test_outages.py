"""What a client gets from /v2/ when something the registry needs fails: the
spec's JSON every time, 503 with Retry-After naming what is down, 507 when
the disk is full (with the space given back at once and the push able to
resume), and 500 UNKNOWN for a bug, never Django's HTML page.

The faults are real wherever they can be: a database or object store at a
port nothing listens on, a PostgreSQL server that drops the connection, a
broker that refuses, a tmpfs of a few MiB filled up for real."""

import contextlib
import copy
import errno
import hashlib
import io
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
from pathlib import Path

import botocore.config
import botocore.exceptions
import kombu
import kombu.exceptions
import psycopg2
import pytest
import redis.exceptions
from boto3.exceptions import S3UploadFailedError
from celery import Celery
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.utils import InterfaceError, OperationalError

from repositories import blobstore, services
from repositories.registry import outages

from .helpers import sha256

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
NAME = "alice/app"
MiB = 1024 * 1024


def closed_port():
    """A local port nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable(what, message):
    return {
        "errors": [
            {
                "code": "UNAVAILABLE",
                "message": f"{message} is unavailable; try again shortly",
                "detail": {"unavailable": what},
            }
        ]
    }


def assert_json_error(response, status):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert response[API_VERSION[0]] == API_VERSION[1]
    return response.json()


def assert_blob_verifies(registry, digest, name=NAME):
    response = registry.get(f"/v2/{name}/blobs/{digest}")
    assert response.status_code == 200
    assert "sha256:" + hashlib.sha256(response.getvalue()).hexdigest() == digest


def error_records(caplog):
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


# The database --------------------------------------------------------------


@contextlib.contextmanager
def unreachable_database():
    """Within the block, the default database is out of reach: its connection
    is replaced by one to a server at a port nothing listens on (PostgreSQL)
    or to a file that cannot be opened (SQLite). The first query makes a real
    connection attempt, and the driver's own error comes back."""
    real = connections[DEFAULT_DB_ALIAS]
    params = copy.deepcopy(real.settings_dict)
    if real.vendor == "postgresql":
        params.update(HOST="127.0.0.1", PORT=str(closed_port()))
    else:
        params["NAME"] = "/nonexistent-directory/hub.sqlite3"
    gone = real.__class__(params, DEFAULT_DB_ALIAS)
    connections[DEFAULT_DB_ALIAS] = gone
    try:
        yield gone
    finally:
        gone.close()
        connections[DEFAULT_DB_ALIAS] = real


@pytest.fixture
def database_gone(registry):
    # The repository exists and the cache is empty, so each request below
    # goes past the name checks to the database.
    registry.push_image(NAME, "latest")
    cache.clear()
    with unreachable_database() as gone:
        yield gone


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", f"/v2/{NAME}/manifests/latest"),
        ("GET", f"/v2/{NAME}/tags/list"),
        ("GET", "/v2/_catalog"),
        ("POST", f"/v2/{NAME}/blobs/uploads/"),
    ],
)
def test_database_down_is_503_json_naming_it_with_retry_after(
    registry, settings, database_gone, method, path
):
    settings.HUB_OUTAGE_RETRY_AFTER = 7

    response = registry.request(method, path)

    assert assert_json_error(response, 503) == unavailable("database", "the database")
    assert response["Retry-After"] == "7"


def test_retry_after_defaults_to_ten_seconds(registry, database_gone):
    response = registry.get(f"/v2/{NAME}/tags/list")

    assert response.status_code == 503
    assert response["Retry-After"] == "10"


def test_head_during_an_outage_is_503_without_a_body(registry, database_gone):
    response = registry.view_response("HEAD", f"/v2/{NAME}/manifests/latest")

    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert response[API_VERSION[0]] == API_VERSION[1]
    assert response.content == b""


def test_an_outage_is_logged_once_in_one_line_naming_the_driver_error(
    registry, database_gone, caplog
):
    with caplog.at_level(logging.INFO):
        registry.get(f"/v2/{NAME}/tags/list")

    [record] = error_records(caplog)
    assert record.name == "repositories.registry.outages"
    assert record.exc_info is None
    message = record.getMessage()
    assert "503" in message and "database" in message and "OperationalError" in message


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_dropped_is_replaced_for_the_next_request(registry):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no server to drop a connection")

    registry.push_image(NAME, "latest")
    connection.ensure_connection()
    params = connection.get_connection_params()
    admin = psycopg2.connect(
        **{
            key: params[key]
            for key in ("dbname", "user", "password", "host", "port")
            if key in params
        }
    )
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(%s, 5000)", [connection.connection.info.backend_pid]
            )
    finally:
        admin.close()
    cache.clear()

    dropped = registry.get(f"/v2/{NAME}/tags/list")
    cache.clear()
    after = registry.get(f"/v2/{NAME}/tags/list")

    assert assert_json_error(dropped, 503) == unavailable("database", "the database")
    assert after.status_code == 200
    assert after.json()["tags"] == ["latest"]


# Blob storage ----------------------------------------------------------------


@pytest.fixture
def storage_gone(settings):
    """Blob and upload storage on an S3 endpoint nothing listens on, tried
    once (botocore would otherwise retry for seconds)."""
    options = {
        "bucket_name": "hub",
        "endpoint_url": f"http://127.0.0.1:{closed_port()}",
        "region_name": "us-east-1",
        "access_key": "testing",
        "secret_key": "testing",
        "file_overwrite": True,
        "client_config": botocore.config.Config(
            retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=2
        ),
    }

    def gone():
        settings.STORAGES = {
            **settings.STORAGES,
            "blobs": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options},
            "uploads": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {**options, "location": "uploads"},
            },
        }

    return gone


def test_a_blob_whose_storage_is_down_is_503_before_any_byte_is_sent(registry, storage_gone):
    digest = registry.push_blob(NAME, b"a layer")
    storage_gone()

    response = registry.get(f"/v2/{NAME}/blobs/{digest}")

    assert not response.streaming
    assert assert_json_error(response, 503) == unavailable("storage", "blob storage")
    assert response["Retry-After"] == "10"


def test_a_push_to_storage_that_is_down_is_503_and_leaves_no_scratch_file(
    registry, settings, storage_gone
):
    registry.start_upload(NAME)  # the repository exists
    storage_gone()
    data = os.urandom(2 * MiB)

    response = registry.post(f"/v2/{NAME}/blobs/uploads/?digest={sha256(data)}", data)

    assert assert_json_error(response, 503) == unavailable("storage", "blob storage")
    assert list(Path(settings.HUB_SCRATCH_DIR).iterdir()) == []


# The task broker ---------------------------------------------------------------


@pytest.fixture(params=["redis", "amqp"])
def broker_url(request):
    port = closed_port()
    if request.param == "redis":
        return f"redis://127.0.0.1:{port}/0"
    return f"amqp://guest:guest@127.0.0.1:{port}//"


def test_a_task_the_broker_refuses_inside_a_view_is_503(registry, monkeypatch, broker_url):
    # A Celery app of the test's own, so the project's (eager in tests) is
    # left alone; what is sent, and how it fails, is as in production.
    app = Celery("outage-test", broker=broker_url, set_as_current=False)
    app.conf.broker_connection_retry = False
    app.conf.broker_transport_options = {"max_retries": 0}

    @app.task(name="tests.outage_probe")
    def probe():
        pass

    start = services.upload_start

    def upload_start_sending_a_task(**kwargs):
        probe.apply_async(retry=False)
        return start(**kwargs)

    monkeypatch.setattr(services, "upload_start", upload_start_sending_a_task)

    response = registry.post(f"/v2/{NAME}/blobs/uploads/")

    assert assert_json_error(response, 503) == unavailable("broker", "the task broker")
    assert response["Retry-After"] == "10"


# A full disk -------------------------------------------------------------------


class TinyDisk:
    """A small file system (tmpfs) that a test fills up for real."""

    def __init__(self, root):
        self.root = root
        self._filler = root / "filler"

    def free(self):
        stats = os.statvfs(self.root)
        return stats.f_bavail * stats.f_frsize

    def fill(self, *, leave):
        """Take all the space but ``leave`` bytes (whole pages)."""
        with open(self._filler, "ab") as filler:
            filler.write(bytes(self.free() - leave))
        assert self.free() == leave

    def clear(self):
        """What an operator does: free the space."""
        self._filler.unlink()


@pytest.fixture
def tiny_disk(tmp_path):
    root = tmp_path / "disk"
    root.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small file system with")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(root)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (it needs root): {mounted.stderr.strip()}")
    try:
        yield TinyDisk(root)
    finally:
        subprocess.run(["umount", str(root)], check=True)


def storage_on(settings, *, scratch, uploads, blobs):
    def filesystem(location):
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "allow_overwrite": True},
        }

    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": filesystem(blobs),
        "uploads": filesystem(uploads),
    }
    settings.HUB_SCRATCH_DIR = scratch
    scratch.mkdir(exist_ok=True)


class Pieces(io.BytesIO):
    """A request body read from the socket a few KiB at a time."""

    def __init__(self, data, size):
        super().__init__(data)
        self.size = size

    def read(self, size=-1):
        return super().read(self.size if size is None or size < 0 else min(size, self.size))


def body(data, piece):
    return {"CONTENT_LENGTH": str(len(data)), "wsgi.input": Pieces(data, piece)}


def assert_full_disk(response):
    [error] = assert_json_error(response, 507)["errors"]
    assert error["code"] == "UNKNOWN"
    assert "no space left on the server's storage" in error["message"]


def stored_files(root):
    return sorted(path for path in Path(root).rglob("*") if path.is_file())


# Whole reads fill the disk in 1 MiB writes and leave a small tail in the
# file's buffer; small reads, as a slow socket gives them, go through the
# buffer all the way. The disk is full from the start, or has room for all
# but the last bytes.
PIECES = pytest.mark.parametrize("piece", [MiB, 4000], ids=["whole", "in-pieces"])
ROOM = pytest.mark.parametrize("room", [0, MiB], ids=["full", "room-for-all-but-the-tail"])


@PIECES
@ROOM
def test_monolithic_push_on_a_full_disk_is_507_frees_its_space_and_can_be_retried(
    registry, settings, tiny_disk, piece, room
):
    disk = tiny_disk.root
    storage_on(settings, scratch=disk / "scratch", uploads=disk / "uploads", blobs=disk / "blobs")
    registry.start_upload(NAME)  # the repository exists
    data = os.urandom(MiB + 100)
    push = f"/v2/{NAME}/blobs/uploads/?digest={sha256(data)}"
    tiny_disk.fill(leave=room)

    refused = registry.post(push, **body(data, piece))

    assert_full_disk(refused)
    assert tiny_disk.free() == room
    assert list((disk / "scratch").iterdir()) == []
    assert stored_files(disk / "blobs") == []

    tiny_disk.clear()
    retried = registry.post(push, **body(data, piece))

    assert retried.status_code == 201
    assert_blob_verifies(registry, sha256(data))


@PIECES
def test_chunk_on_a_full_disk_is_507_cut_back_at_once_and_the_session_resumes(
    registry, settings, tiny_disk, piece
):
    disk = tiny_disk.root
    storage_on(settings, scratch=disk / "scratch", uploads=disk / "uploads", blobs=disk / "blobs")
    first, second = os.urandom(64 * 1024), os.urandom(MiB + 100)
    location = registry.start_upload(NAME)
    staging = Path(blobstore.staging_path(location.rsplit("/", 1)[1]))
    accepted = registry.patch(location, first, headers={"Content-Range": f"0-{len(first) - 1}"})
    assert accepted.status_code == 202
    second_range = {"Content-Range": f"{len(first)}-{len(first) + len(second) - 1}"}
    tiny_disk.fill(leave=MiB)

    refused = registry.patch(location, headers=second_range, **body(second, piece))

    assert_full_disk(refused)
    assert staging.read_bytes() == first
    assert tiny_disk.free() == MiB
    status = registry.get(location)
    assert (status.status_code, status["Range"]) == (204, f"0-{len(first) - 1}")

    tiny_disk.clear()
    retried = registry.patch(location, headers=second_range, **body(second, piece))
    closed = registry.put(f"{location}?digest={sha256(first + second)}")

    assert (retried.status_code, retried["Range"]) == (202, f"0-{len(first + second) - 1}")
    assert closed.status_code == 201
    assert_blob_verifies(registry, sha256(first + second))


def test_blob_disk_full_while_copying_from_another_disk_leaves_no_partial_blob(
    registry, settings, tiny_disk, tmp_path
):
    # Scratch space elsewhere: the blob is copied, not renamed, into storage.
    storage_on(
        settings,
        scratch=tmp_path / "elsewhere",
        uploads=tmp_path / "uploads-elsewhere",
        blobs=tiny_disk.root / "blobs",
    )
    registry.start_upload(NAME)
    data = os.urandom(2 * MiB)
    push = f"/v2/{NAME}/blobs/uploads/?digest={sha256(data)}"
    tiny_disk.fill(leave=MiB)

    refused = registry.post(push, data)

    assert_full_disk(refused)
    assert stored_files(tiny_disk.root / "blobs") == []
    assert tiny_disk.free() == MiB
    assert list((tmp_path / "elsewhere").iterdir()) == []

    tiny_disk.clear()
    assert registry.post(push, data).status_code == 201
    assert_blob_verifies(registry, sha256(data))


def test_closing_put_on_a_full_blob_disk_is_507_and_the_session_can_close_again(
    registry, settings, tiny_disk, tmp_path
):
    storage_on(
        settings,
        scratch=tmp_path / "elsewhere",
        uploads=tmp_path / "uploads-elsewhere",
        blobs=tiny_disk.root / "blobs",
    )
    first, last = os.urandom(MiB + MiB // 2), os.urandom(100 * 1024)
    location = registry.start_upload(NAME)
    registry.patch(location, first, headers={"Content-Range": f"0-{len(first) - 1}"})
    close = f"{location}?digest={sha256(first + last)}"
    tiny_disk.fill(leave=MiB)

    refused = registry.put(close, last)

    assert_full_disk(refused)
    assert stored_files(tiny_disk.root / "blobs") == []
    assert tiny_disk.free() == MiB
    assert registry.get(location)["Range"] == f"0-{len(first) - 1}"

    tiny_disk.clear()
    assert registry.put(close, last).status_code == 201
    assert_blob_verifies(registry, sha256(first + last))


def test_sqlite_reporting_a_full_disk_reads_as_a_full_disk(tiny_disk):
    tiny_disk.fill(leave=0)
    database = sqlite3.connect(tiny_disk.root / "full.sqlite3")
    try:
        with pytest.raises(sqlite3.OperationalError) as raised:
            database.execute("CREATE TABLE t (x)")
            database.execute("INSERT INTO t VALUES (randomblob(10000))")
            database.commit()
    finally:
        database.close()

    assert outages.diagnose(raised.value) == outages.FULL_DISK


# A bug ---------------------------------------------------------------------------


def fail(**kwargs):
    raise RuntimeError("internals nobody outside should read")


def test_an_unforeseen_failure_is_500_unknown_json_with_its_traceback_logged_once(
    registry, monkeypatch, caplog
):
    registry.push_image(NAME, "latest")
    monkeypatch.setattr(services, "tags_page", fail)

    with caplog.at_level(logging.INFO):
        response = registry.get(f"/v2/{NAME}/tags/list")

    assert assert_json_error(response, 500) == {
        "errors": [{"code": "UNKNOWN", "message": "internal server error"}]
    }
    assert b"internals" not in response.content
    [record] = error_records(caplog)
    assert record.name == "repositories.registry.outages"
    assert isinstance(record.exc_info[1], RuntimeError)


def test_head_that_fails_unforeseen_is_500_without_a_body(registry, monkeypatch):
    monkeypatch.setattr(services, "repository_find", fail)

    response = registry.view_response("HEAD", f"/v2/{NAME}/manifests/latest")

    assert response.status_code == 500
    assert response[API_VERSION[0]] == API_VERSION[1]
    assert response.content == b""


class DatabaseGoneMiddleware:
    """Fails every request before any view runs, as a session or lockout
    middleware does when the database is down."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise OperationalError("could not connect to server: Connection refused")


@pytest.mark.parametrize("path", [f"/v2/{NAME}/manifests/latest", "/token?service=hub"])
def test_a_failure_before_the_registry_view_is_still_the_registry_json(client, settings, path):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.DatabaseGoneMiddleware"]
    client.raise_request_exception = False

    response = client.get(path)

    assert assert_json_error(response, 503) == unavailable("database", "the database")
    assert response[API_VERSION[0]] == API_VERSION[1]


def test_a_failure_before_a_page_view_is_still_the_html_page(client, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.DatabaseGoneMiddleware"]
    client.raise_request_exception = False

    response = client.get("/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


# Telling what is down -------------------------------------------------------------


def raised(exc, *, while_handling=None, cause=None):
    """``exc`` as raised: while ``while_handling`` was being handled (its
    implicit context, as boto3 wraps a ClientError), or ``from cause``."""
    try:
        if while_handling is not None:
            try:
                raise while_handling
            except type(while_handling):
                raise exc  # noqa: B904 -- the implicit context is the point
        raise exc from cause
    except type(exc) as caught:
        return caught


def client_error(code, status):
    response = {
        "Error": {"Code": code, "Message": code},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return botocore.exceptions.ClientError(response, "PutObject")


def kombu_channel_error(url):
    """What kombu raises, unwrapped, when its broker refuses the connection."""
    try:
        kombu.Connection(url).transport.establish_connection()
    except Exception as exc:
        return exc
    raise AssertionError("the broker answered")


ENDPOINT = "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    "exc, found",
    [
        (OperationalError("database is locked"), outages.DATABASE),
        (InterfaceError("connection already closed"), outages.DATABASE),
        (redis.exceptions.ConnectionError("Error 111 connecting"), outages.CACHE),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), outages.CACHE),
        (botocore.exceptions.EndpointConnectionError(endpoint_url=ENDPOINT), outages.STORAGE),
        (botocore.exceptions.ConnectionClosedError(endpoint_url=ENDPOINT), outages.STORAGE),
        (
            botocore.exceptions.ReadTimeoutError(endpoint_url=ENDPOINT, error="timed out"),
            outages.STORAGE,
        ),
        (client_error("SlowDown", 503), outages.STORAGE),
        (client_error("InternalError", 500), outages.STORAGE),
        (client_error("ServiceUnavailable", 503), outages.STORAGE),
        (
            raised(
                S3UploadFailedError("Failed to upload"),
                while_handling=client_error("SlowDown", 503),
            ),
            outages.STORAGE,
        ),
        (OSError(errno.EIO, "Input/output error"), outages.STORAGE),
        (OSError(errno.ENOTCONN, "Transport endpoint is not connected"), outages.STORAGE),
        (kombu.exceptions.OperationalError("Connection refused"), outages.BROKER),
        (OSError(errno.ENOSPC, "No space left on device"), outages.FULL_DISK),
        (
            raised(RuntimeError("copy failed"), cause=OSError(errno.EDQUOT, "Quota exceeded")),
            outages.FULL_DISK,
        ),
        (
            raised(ValueError("oops"), while_handling=OSError(errno.ENOSPC, "No space")),
            outages.FULL_DISK,
        ),
        (client_error("XMinioStorageFull", 507), outages.FULL_DISK),
        (client_error("AccessDenied", 403), None),
        (
            raised(
                S3UploadFailedError("Failed to upload"),
                while_handling=client_error("AccessDenied", 403),
            ),
            None,
        ),
        (FileNotFoundError(errno.ENOENT, "No such file or directory"), None),
        (ValueError("a bug"), None),
    ],
    ids=repr,
)
def test_diagnose(exc, found):
    assert outages.diagnose(exc) == found


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_a_connection_error_raised_inside_kombu_is_the_brokers_not_the_caches(scheme):
    port = closed_port()
    url = f"redis://127.0.0.1:{port}/0" if scheme == "redis" else f"amqp://127.0.0.1:{port}//"

    assert outages.diagnose(kombu_channel_error(url)) == outages.BROKER
