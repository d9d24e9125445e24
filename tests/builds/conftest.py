import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection

from builds import services
from repositories import services as repository_services
from tests.brokers import tasks_sent_to

FIXTURES = Path(__file__).parent / "fixtures"


def payload(provider, name):
    """A webhook body, byte for byte, from fixtures/<provider>/<event>__<variant>.json."""
    return (FIXTURES / provider / f"{name}.json").read_bytes()


def payload_json(provider, name):
    return json.loads(payload(provider, name))


def sign(body, secret):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("ada", "ada@example.com", "secret")


@pytest.fixture
def repository(owner):
    return repository_services.repository_create(
        namespace=owner.namespace, name="widget", creator=owner
    )


@pytest.fixture
def make_settings(repository, owner):
    def make(provider="github", source="acme/widget", **extra):
        if provider != "git":
            extra.setdefault("linked_user", owner)
        return services.build_settings_create(
            repository=repository, provider=provider, source=source, **extra
        )

    return make


# Webhook receivers ------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict
    body: bytes
    at: float  # time.monotonic() on arrival


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that records every POST. It answers
    with the statuses queued by ``answer_with``, then 200; ``delay`` makes it
    wait that many seconds before answering, ``headers`` adds answer headers."""

    def __init__(self):
        self.requests = []
        self.delay = 0.0
        self.headers = {}
        self._statuses = deque()
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                request = ReceivedRequest(self.path, dict(self.headers), body, time.monotonic())
                with receiver._arrived:
                    receiver.requests.append(request)
                    status = receiver._statuses.popleft() if receiver._statuses else 200
                    receiver._arrived.notify_all()
                time.sleep(receiver.delay)
                answer = f"answer {status} to request {len(receiver.requests)}".encode()
                try:
                    self.send_response(status)
                    for name, value in receiver.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def answer_with(self, *statuses):
        self._statuses.extend(statuses)

    def wait_for(self, count, timeout=30):
        """The first ``count`` requests, waiting for them to arrive."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= count, timeout):
                raise AssertionError(
                    f"{len(self.requests)} request(s) arrived within {timeout}s, not {count}"
                )
            return self.requests[:count]


@pytest.fixture
def webhook_receiver(settings):
    """A receiver on 127.0.0.1, which the outgoing-address guard is told to allow."""
    settings.HUB_BUILDS_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = WebhookReceiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


# A real Celery worker -----------------------------------------------------------
#
# The test settings run tasks eagerly, in the test's own process. A test that
# takes ``celery_worker`` (or ``celery_worker_factory``) instead starts
# `celery -A hub worker` as a process of its own, on the Redis at
# HUB_TEST_REDIS_URL (default redis://127.0.0.1:6379), and sends it the tasks
# the test's code queues. The worker reads the test database, so this needs
# PostgreSQL (a SQLite test database lives in the test's transaction and
# memory) and a test whose writes commit (the fixtures ask for
# ``transactional_db``).

REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
# Each worker takes a Redis database of its own for its queues, so test runs
# side by side never take each other's tasks: an empty one (nothing else uses
# it), marked with this key while the test runs. The highest numbers first,
# as people and scripts that pick one by hand tend to pick low ones.
REDIS_CLAIM_KEY = "hub-test-worker-claim"
WORKER_READY_TIMEOUT = 60


def _redis_database_claim(token):
    """Claim an empty Redis database; returns its number and a client for it."""
    try:
        redis.Redis.from_url(f"{REDIS_URL}/0").ping()
    except redis.RedisError as error:
        pytest.skip(f"A real Celery worker needs Redis at {REDIS_URL}: {error}")
    for number in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS_URL}/{number}")
        if client.set(REDIS_CLAIM_KEY, token, nx=True, ex=3600):
            if client.dbsize() == 1:
                return number, client
            client.delete(REDIS_CLAIM_KEY)  # in use by something that does not claim
        client.close()
    pytest.fail(f"No empty Redis database among 1-15 at {REDIS_URL} for a test worker.")


def _database_url():
    """The test database, as HUB_DATABASE_URL spells it."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def worker_environment(*, broker_url, data_dir, **extra):
    """The environment of a Celery worker process that works on the test
    database, through ``broker_url``, with ``extra`` HUB_ settings."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HUB_") and key != "DJANGO_SETTINGS_MODULE"
    }
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "hub.settings.base",
            "HUB_DATABASE_URL": _database_url(),
            "HUB_DB_CONN_MAX_AGE": "0",
            "HUB_BROKER_URL": broker_url,
            "HUB_CELERY_EAGER": "0",
            "HUB_DATA_DIR": str(data_dir),
            # What encrypts secrets and signs tokens must be the test process's.
            "HUB_SECRET_KEY": django_settings.SECRET_KEY,
            "HUB_ENCRYPTION_KEY": django_settings.HUB_ENCRYPTION_KEY,
            "HUB_URL": django_settings.HUB_URL,
            "HUB_BUILDS_ALLOWED_HOSTS": ",".join(
                django_settings.HUB_BUILDS_ALLOWED_HOSTS or ["127.0.0.1"]
            ),
            **extra,
        }
    )
    return environment


class CeleryWorker:
    """`celery -A hub worker` in a process group of its own."""

    def __init__(self, *, broker_url, queues, env, log_path, concurrency, pool):
        self.broker_url = broker_url
        self.queues = tuple(queues)
        self.nodename = f"hub-test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        self.log_path = log_path
        self._env = env
        self._command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "hub",
            "worker",
            "--hostname",
            self.nodename,
            "--queues",
            ",".join(self.queues),
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        self.process = None

    def start(self):
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self._command,
                cwd=django_settings.BASE_DIR,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while f"{self.nodename} ready." not in self.log():
            if self.process.poll() is not None:
                raise AssertionError(f"The Celery worker exited:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(
                    f"The Celery worker was not ready in {WORKER_READY_TIMEOUT}s:\n{self.log()}"
                )
            time.sleep(0.1)

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        """SIGKILL the worker and its pool processes at once, as a crash would."""
        self._signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout=15):
        """A warm shutdown (SIGTERM: finish the running tasks), then SIGKILL."""
        if not self.running:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal(self, signum):
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass


@pytest.fixture
def celery_worker_factory(transactional_db, tmp_path):
    """Start real Celery workers: ``start(queues=("celery",), env={...})``.

    ``env`` adds to or overrides the worker's environment (HUB_* settings);
    ``concurrency`` and ``pool`` are the worker's. While the test runs, the
    tasks its code queues go to the workers' broker. Every worker is stopped
    at the end; ``worker.kill()`` SIGKILLs one mid-test."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "A Celery worker in its own process needs a test database it can open: run "
            "with HUB_TEST_DATABASE_URL=postgres://… (the SQLite test database is private "
            "to the test process)."
        )
    token = uuid.uuid4().hex
    number, redis_client = _redis_database_claim(token)
    broker_url = f"{REDIS_URL}/{number}"
    workers = []
    data_dir = tmp_path / "worker-data"
    data_dir.mkdir()

    def start(queues=("celery",), env=None, concurrency=1, pool="prefork"):
        worker_env = worker_environment(broker_url=broker_url, data_dir=data_dir, **(env or {}))
        worker = CeleryWorker(
            broker_url=broker_url,
            queues=queues,
            env=worker_env,
            log_path=tmp_path / f"celery-worker-{len(workers)}.log",
            concurrency=concurrency,
            pool=pool,
        )
        workers.append(worker)
        worker.start()
        return worker

    with tasks_sent_to(broker_url):
        try:
            yield start
        finally:
            for worker in workers:
                worker.stop()
                # Shown with the test's output when it fails.
                print(f"--- log of the Celery worker {worker.nodename} ---\n{worker.log()}")
            redis_client.flushdb()
            redis_client.close()


@pytest.fixture
def celery_worker(celery_worker_factory):
    """One real worker on the default queue, with the default settings."""
    return celery_worker_factory()
