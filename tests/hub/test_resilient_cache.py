"""Redis is an accelerator: pulls and pushes work without it, and nothing it
held before an outage is believed after it. Pulls of recently pulled images
also ride out a short database outage.

Each Redis here is a redis-server of the test's own on a free port, taken
away for real: killed (SIGKILL), or stopped (SIGSTOP) with its memory
intact, as a network partition leaves it, and resumed. The database is taken
away by pointing the connection at a server that is not there."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import OperationalError, connection
from django.test import Client

from hub.cache import ResilientRedisCache
from repositories import pulls, services
from repositories.models import PullDay, Repository
from tests.helpers import client_as
from tests.registry.conftest import Registry
from tests.registry.helpers import error_codes, sha256

REDIS_SERVER = "/usr/bin/redis-server"
# Short, so that the tests do not wait long for a stopped server.
SOCKET_TIMEOUT = 0.25
RETRY_AFTER = 0.2

pytestmark = pytest.mark.skipif(
    not os.access(REDIS_SERVER, os.X_OK), reason="needs redis-server (the Debian package)"
)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own. No automatic snapshots and no append
    log; ``save()`` writes a snapshot that the next start loads."""

    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):
        return redis.Redis(port=self.port, socket_timeout=2)

    def start(self):
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"]
            + ["--dir", str(self.directory), "--dbfilename", "dump.rdb"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.02)

    def save(self):
        self.client().save()

    def kill(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def pause(self):
        """Unreachable with its memory intact: connections open, nothing answers."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.process.pid, signal.SIGCONT)

    def stored_keys(self, pattern="*"):
        return [key.decode() for key in self.client().keys(pattern)]

    def close(self):
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.kill()


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.close()


def backend_options(server):
    # A key prefix of the test's own: the reachability a process remembers
    # is kept per server and prefix, and a port may come round again.
    return {
        "KEY_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
        "OPTIONS": {
            "socket_connect_timeout": SOCKET_TIMEOUT,
            "socket_timeout": SOCKET_TIMEOUT,
            "retry_after": RETRY_AFTER,
        },
    }


@pytest.fixture
def redis_cache(redis_server):
    return ResilientRedisCache(redis_server.url, backend_options(redis_server))


@pytest.fixture
def hub_on_redis(settings, redis_server):
    """Hub's cache (django.core.cache.cache) is the backend on this server."""
    settings.CACHES = {
        "default": {
            "BACKEND": "hub.cache.ResilientRedisCache",
            "LOCATION": redis_server.url,
            **backend_options(redis_server),
        }
    }


def wait_out_the_pause():
    time.sleep(RETRY_AFTER + 0.05)


def cache_warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "hub.cache"]


# The backend alone --------------------------------------------------------


def test_reads_miss_and_writes_are_skipped_while_redis_is_down(redis_cache, redis_server, caplog):
    caplog.set_level(logging.WARNING, logger="hub.cache")
    redis_cache.set("tag", "v1")
    redis_cache.set("count", 1)
    assert redis_cache.get("tag") == "v1"
    assert redis_cache.get_many(["tag", "count"]) == {"tag": "v1", "count": 1}
    assert redis_cache.incr("count") == 2

    redis_server.kill()

    assert redis_cache.get("tag") is None
    assert redis_cache.get("tag", "default") == "default"
    assert redis_cache.get_many(["tag", "count"]) == {}
    assert not redis_cache.has_key("tag")
    redis_cache.set("tag", "v2")
    assert redis_cache.add("new", 1) is False
    assert redis_cache.delete("tag") is False
    assert redis_cache.touch("tag", 10) is False
    assert redis_cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
    redis_cache.delete_many(["a", "b"])
    assert redis_cache.get_or_set("computed", "value") == "value"
    with pytest.raises(ValueError):  # as for any missing key
        redis_cache.incr("count")
    assert redis_cache.clear() is False

    # Remembered as down: nothing waits for Redis again for a while.
    started = time.monotonic()
    for _ in range(200):
        redis_cache.get("tag")
        redis_cache.set("tag", "v3")
    assert time.monotonic() - started < 0.1
    assert len(cache_warnings(caplog)) == 1
    assert "unreachable" in cache_warnings(caplog)[0]


def test_a_restart_from_an_old_snapshot_brings_back_nothing_written_before(
    redis_cache, redis_server, caplog
):
    caplog.set_level(logging.WARNING, logger="hub.cache")
    redis_cache.set("repository:acme/app", "stale", None)
    redis_server.save()
    redis_server.kill()

    assert redis_cache.delete("repository:acme/app") is False  # skipped: Redis is gone

    redis_server.start()  # on the same port, from the snapshot taken before
    assert any("repository:acme/app" in key for key in redis_server.stored_keys())
    wait_out_the_pause()

    assert redis_cache.get("repository:acme/app") is None
    redis_cache.set("repository:acme/app", "fresh")
    assert redis_cache.get("repository:acme/app") == "fresh"
    messages = cache_warnings(caplog)
    assert len(messages) == 2
    assert "unreachable" in messages[0]
    assert "is back" in messages[1]


CHILD = """
import sys
from hub.cache import ResilientRedisCache

cache = ResilientRedisCache(sys.argv[1], {"KEY_PREFIX": sys.argv[2], "OPTIONS": {
    "socket_connect_timeout": float(sys.argv[3]), "socket_timeout": float(sys.argv[3]),
    "retry_after": float(sys.argv[4])}})
for line in sys.stdin:
    command, *arguments = line.split()
    print(repr(getattr(cache, command)(*arguments)), flush=True)
"""


class OtherProcess:
    """Another Hub process on the same cache, told what to do line by line."""

    def __init__(self, server, key_prefix):
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, server.url, key_prefix]
            + [str(SOCKET_TIMEOUT), str(RETRY_AFTER)],
            cwd=django_settings.BASE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def ask(self, command, *arguments):
        self.process.stdin.write(" ".join([command, *arguments]) + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=10)


def test_a_process_that_lost_redis_renews_it_for_every_other_process(redis_server):
    options = backend_options(redis_server)
    here = ResilientRedisCache(redis_server.url, options)
    other = OtherProcess(redis_server, options["KEY_PREFIX"])
    try:
        here.set("repository:acme/app", "stale")
        assert other.ask("get", "repository:acme/app") == "'stale'"
        redis_server.save()

        # Only the other process meets the outage: it deletes the entry (the
        # repository went) and the delete is lost, as Redis restarts from
        # the snapshot taken before.
        redis_server.kill()
        assert other.ask("delete", "repository:acme/app") == "False"
        redis_server.start()
        wait_out_the_pause()
        assert other.ask("get", "repository:acme/app") == "None"  # back, and renewed

        # This process never noticed anything, and the stale entry is still
        # in Redis; it is not believed.
        assert any("repository:acme/app" in key for key in redis_server.stored_keys())
        assert here.get("repository:acme/app") is None
    finally:
        other.close()


def test_a_write_lands_where_every_process_reads(redis_server):
    options = backend_options(redis_server)
    here = ResilientRedisCache(redis_server.url, options)
    other = OtherProcess(redis_server, options["KEY_PREFIX"])
    try:
        here.set("repository:acme/app", "old")  # this process knows the epoch now
        assert other.ask("clear") == "True"  # and the other one starts a new one
        other.ask("set", "repository:acme/app", "cached")

        assert here.delete("repository:acme/app") is True
        assert other.ask("get", "repository:acme/app") == "None"
    finally:
        other.close()


# The registry on Redis ----------------------------------------------------


@pytest.fixture
def registry(db, isolated_storage, staff_user, django_capture_on_commit_callbacks):
    return Registry(client_as("tester", "secret"), django_capture_on_commit_callbacks)


def blob_digests(pushed):
    manifest = json.loads(pushed.payload)
    return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]


def pull(client, pushed, reference):
    """Pull an image as a client does: its manifest, then every blob."""
    response = client.get(f"/v2/{pushed.name}/manifests/{reference}", HTTP_ACCEPT=pushed.media_type)
    assert response.status_code == 200, response.content
    assert response.content == pushed.payload
    for digest in blob_digests(pushed):
        response = client.get(f"/v2/{pushed.name}/blobs/{digest}")
        assert response.status_code == 200
        assert sha256(b"".join(response.streaming_content)) == digest


def test_pulls_and_pushes_work_while_redis_is_down(hub_on_redis, registry, redis_server, caplog):
    caplog.set_level(logging.WARNING, logger="hub.cache")
    image = registry.push_image("acme/app", "latest")
    pull(registry, image, "latest")

    redis_server.kill()

    for _ in range(3):
        pull(registry, image, "latest")
    other = registry.push_image("acme/app", "v2", layers=(b"another layer",))
    pull(registry, other, "v2")
    assert len(cache_warnings(caplog)) == 1


def test_what_changed_while_redis_was_unreachable_is_not_answered_from_it_afterwards(
    hub_on_redis, registry, redis_server, django_capture_on_commit_callbacks
):
    first = registry.push_image("acme/app", "latest")
    doomed = registry.push_image("acme/doomed", "latest")
    pull(registry, first, "latest")
    pull(registry, doomed, "latest")  # both cached now

    redis_server.pause()
    second = registry.push_image("acme/app", "latest", layers=(b"a new layer",))
    with django_capture_on_commit_callbacks(execute=True):
        services.repository_delete(repository=Repository.objects.get(name="doomed"))
    pull(registry, second, "latest")
    redis_server.resume()
    wait_out_the_pause()

    # What was cached before is still in Redis, but it is not believed.
    assert any(":manifest-generation:" in key for key in redis_server.stored_keys())
    pull(registry, second, "latest")
    response = registry.get("/v2/acme/doomed/manifests/latest")
    assert response.status_code == 404
    assert error_codes(response) == ["NAME_UNKNOWN"]
    response = registry.get(f"/v2/acme/doomed/blobs/{blob_digests(doomed)[0]}")
    assert error_codes(response) == ["NAME_UNKNOWN"]


# Blob lookups in the cache ------------------------------------------------


@pytest.fixture
def anonymous():
    return Client()


def test_a_blob_pulled_again_costs_no_query(registry, anonymous, django_assert_num_queries):
    image = registry.push_image("acme/app", "latest")
    pull(anonymous, image, "latest")
    with django_assert_num_queries(0):
        pull(anonymous, image, "latest")


def test_a_cached_blob_is_never_served_by_digest_alone(registry, anonymous):
    image = registry.push_image("acme/app", "latest")
    registry.push_image("acme/other", "latest", layers=(b"other",))
    pull(anonymous, image, "latest")

    layer = blob_digests(image)[1]
    assert anonymous.get(f"/v2/acme/other/blobs/{layer}").status_code == 404


def test_an_unlinked_blob_is_not_served_from_the_cache(registry, anonymous):
    digest = registry.push_blob("acme/app", b"pushed, then deleted")
    registry.push_image("acme/app", "latest")
    assert anonymous.get(f"/v2/acme/app/blobs/{digest}").status_code == 200

    assert registry.delete(f"/v2/acme/app/blobs/{digest}").status_code == 202

    assert anonymous.get(f"/v2/acme/app/blobs/{digest}").status_code == 404


def test_a_blob_garbage_collection_unlinks_is_not_served_from_the_cache(
    registry, anonymous, django_capture_on_commit_callbacks
):
    digest = registry.push_blob("acme/app", b"no manifest needs this")
    registry.push_image("acme/app", "latest")
    assert anonymous.get(f"/v2/acme/app/blobs/{digest}").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        services.blob_collect_garbage(grace_seconds=0)

    assert anonymous.get(f"/v2/acme/app/blobs/{digest}").status_code == 404


def test_a_deleted_repository_serves_no_blob_from_the_cache(
    registry, django_capture_on_commit_callbacks
):
    image = registry.push_image("acme/app", "latest")
    pull(registry, image, "latest")

    with django_capture_on_commit_callbacks(execute=True):
        services.repository_delete(repository=Repository.objects.get(name="app"))

    for digest in blob_digests(image):
        response = registry.get(f"/v2/acme/app/blobs/{digest}")
        assert error_codes(response) == ["NAME_UNKNOWN"]


# A database outage --------------------------------------------------------


@contextmanager
def database_down(tmp_path):
    """The database goes away: the open connection is set aside and the
    next one is asked of a server that is not there (a closed port; for
    SQLite, whose test database lives in memory, a file that cannot be
    opened). Queries fail as the driver fails them. Then it comes back."""
    saved = dict(connection.settings_dict)
    open_connection, connection.connection = connection.connection, None
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = str(tmp_path / "missing" / "hub.sqlite3")
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        connection.connection = open_connection
        connection.errors_occurred = False


def fails_for_want_of_the_database(client, path):
    """Whether a GET of ``path`` fails, as an error answer or by raising the
    database's error."""
    try:
        return client.get(path).status_code >= 500
    except OperationalError:
        return True


@pytest.fixture
def fresh_pull_buffer(monkeypatch):
    monkeypatch.setattr(pulls, "_buffer", pulls.PullBuffer())


@pytest.mark.django_db(transaction=True)
def test_a_recently_pulled_image_is_served_while_the_database_is_down(
    hub_on_redis,
    isolated_storage,
    staff_user,
    fresh_pull_buffer,
    anonymous,
    settings,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    settings.HUB_PULL_BATCH_SIZE = 1  # every pull's request writes the counts
    registry = Registry(client_as("tester", "secret"), django_capture_on_commit_callbacks)
    image = registry.push_image("acme/app", "latest")
    never_pulled = registry.push_image("acme/cold", "latest", layers=(b"cold",))
    pull(anonymous, image, "latest")
    pull(anonymous, image, image.digest)

    with database_down(tmp_path):
        # The database really is gone: what the cache does not hold fails.
        assert fails_for_want_of_the_database(anonymous, "/v2/acme/cold/manifests/latest")
        for _ in range(3):
            pull(anonymous, image, "latest")
            pull(anonymous, image, image.digest)
        # As docker pulls a public image: a token for anyone, then the pull.
        response = anonymous.get(
            "/token",
            {"service": settings.HUB_REGISTRY_SERVICE, "scope": "repository:acme/app:pull"},
        )
        assert response.status_code == 200, response.content
        bearer = Client(HTTP_AUTHORIZATION=f"Bearer {response.json()['token']}")
        pull(bearer, image, "latest")

    pulls.pulls_flush()
    assert Repository.objects.get(name="app").pull_count == 2 + 7
    assert Repository.objects.get(name="cold").pull_count == 0
    pull(anonymous, never_pulled, "latest")


@pytest.mark.django_db(transaction=True)
def test_pull_counts_wait_in_memory_while_the_database_is_down(
    fresh_pull_buffer, settings, tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="repositories.pulls")
    settings.HUB_PULL_BATCH_SIZE = 2
    settings.HUB_PULL_FLUSH_SECONDS = 60
    app = services.repository_get_or_create(name="acme/app")
    other = services.repository_get_or_create(name="acme/other")
    pulls.record_pull(repository_id=app.pk)

    with database_down(tmp_path):
        pulls.record_pull(repository_id=other.pk)  # due, and fails quietly
        with pytest.raises(OperationalError):
            pulls.pulls_flush()
        for _ in range(5):  # the failed batch waits; no pull asks the database
            pulls.record_pull(repository_id=app.pk)
    assert len([r for r in caplog.records if r.name == "repositories.pulls"]) == 1

    pulls.pulls_flush()
    assert Repository.objects.get(pk=app.pk).pull_count == 6
    assert Repository.objects.get(pk=other.pk).pull_count == 1
    assert sum(PullDay.objects.values_list("count", flat=True)) == 7


@pytest.mark.django_db
def test_a_batch_that_fails_halfway_is_written_once(fresh_pull_buffer, monkeypatch):
    app = services.repository_get_or_create(name="acme/app")
    other = services.repository_get_or_create(name="acme/other")
    write_day = pulls._add_to_day

    def database_fails_for_other(repository_id, day, count):
        if repository_id == other.pk:
            raise OperationalError("server closed the connection unexpectedly")
        write_day(repository_id, day, count)

    monkeypatch.setattr(pulls, "_add_to_day", database_fails_for_other)
    for repository in (app, other, other):
        pulls.pull_buffer().add(repository.pk)
    with pytest.raises(OperationalError):
        pulls.pulls_flush()
    assert Repository.objects.get(pk=app.pk).pull_count == 1
    assert Repository.objects.get(pk=other.pk).pull_count == 0  # rolled back

    monkeypatch.setattr(pulls, "_add_to_day", write_day)
    pulls.pulls_flush()
    assert Repository.objects.get(pk=app.pk).pull_count == 1
    assert Repository.objects.get(pk=other.pk).pull_count == 2


def test_the_settings_serve_a_redis_url_with_this_backend():
    """hub.settings.base, read again with HUB_CACHE_URL pointing at Redis."""
    script = (
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'hub.settings.base';"
        "import json; from django.conf import settings;"
        "print(json.dumps(settings.CACHES['default']))"
    )
    environment = {
        **os.environ,
        "HUB_CACHE_URL": "redis://127.0.0.1:6390/2",
        "HUB_CACHE_TIMEOUT": "0.3",
        "HUB_DATA_DIR": str(Path(django_settings.DATA_DIR)),
    }
    output = subprocess.run(
        [sys.executable, "-c", script],
        cwd=django_settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(output) == {
        "BACKEND": "hub.cache.ResilientRedisCache",
        "LOCATION": "redis://127.0.0.1:6390/2",
        "OPTIONS": {"socket_connect_timeout": 0.3, "socket_timeout": 0.3},
    }
