"""A small production-shaped Hub for fault tests, and a registry client.

Everything here runs on private free ports and belongs to the test session:
its own PostgreSQL cluster, two Redis servers (cache and broker, so each can
die alone), moto's S3 server behind a TCP forwarder that can be cut (moto
keeps its state in memory, so S3 "goes down" at the forwarder), a webhook
receiver, two web-only Hub nodes and one node that also runs the workers.
Nothing touches the machine's own PostgreSQL, Redis or RabbitMQ.

Beside it, a Topology runs Hub the way a compose file or Kubernetes does,
one program per process (``serve migrate`` once, then ``serve web`` several
times, ``serve worker``, ``serve builds`` and one ``serve beat``), on the
cluster's PostgreSQL, Redis and S3 servers with a database, Redis databases
and a bucket of its own.

The client speaks the registry protocol with plain ``requests``: the token
flow (401 challenge, GET /token with Basic credentials, Bearer), chunked
blob uploads (POST, PATCH, PUT ?digest=), manifest PUT, and pulls that
verify every digest. It records every request it makes, and every failure
as the client saw it (status, content type, Retry-After, body, or the
exception), in a Journal.
"""

from __future__ import annotations

import glob
import hashlib
import http.server
import itertools
import json
import os
import random
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.e2e.helpers import free_port, kill_process_group, tail, wait_for_v2
from tests.hub.stack import children as child_pids

REPO_ROOT = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
USER = "alice"


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    """Poll ``predicate`` until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


def _bins(*names: str) -> dict[str, str]:
    found = {}
    for name in names:
        if os.path.isabs(name):
            path = name if os.access(name, os.X_OK) else None
        else:
            path = shutil.which(name)
        if path is None:
            pytest.skip(f"{name} is not installed (scripts/setup-debian test installs it)")
        found[name] = path
    return found


def _start(argv, log: Path, **kwargs) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(a) for a in argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kwargs,
        )


# --------------------------------------------------------------------------
# The services Hub stands on


class Postgres:
    """A private PostgreSQL cluster on 127.0.0.1:<port>, trust authentication.

    initdb refuses to run as root, so as root the cluster belongs to the
    ``postgres`` user, in a directory of its own."""

    def __init__(self):
        pg_bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not pg_bins:
            pytest.skip("PostgreSQL server binaries are not installed (package postgresql)")
        self.bin = Path(pg_bins[-1])
        _bins(str(self.bin / "initdb"), str(self.bin / "pg_ctl"))
        self.root = Path(tempfile.mkdtemp(prefix="hub-faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._pg(
            "initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"
        )

    def _pg(self, tool, *args, timeout=120, check=True):
        argv = [str(self.bin / tool), *map(str, args)]
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=self.root)
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({proc.returncode}): {proc.stdout.decode()}{proc.stderr.decode()}"
                f"\n{tail(self.log)[-4000:]}"
            )
        return proc

    def start(self):
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        self._pg(
            "pg_ctl", "-D", self.data, "-l", self.log, "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self, mode="immediate"):
        self._pg("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def pid(self) -> int | None:
        with suppress(OSError, ValueError, IndexError):
            return int((self.data / "postmaster.pid").read_text().split()[0])
        return None

    def url(self, database="postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name) -> str:
        import psycopg2

        conn = psycopg2.connect(self.url(), connect_timeout=10)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.url(name)

    def close(self):
        pid = self.pid()
        if pid is not None:
            self._pg("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", check=False)
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """A private redis-server that keeps nothing on disk; kill() is kill -9."""

    def __init__(self, root: Path, name: str):
        self.binary = _bins("redis-server")["redis-server"]
        self.name = name
        self.port = free_port()
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = root / f"{name}.log"
        self.proc = None

    def start(self):
        self.proc = _start(
            [
                self.binary,
                "--port",
                self.port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--protected-mode",
                "no",
            ],
            self.log,
        )
        wait_until(self.ping, 20, f"{self.name} redis on port {self.port}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def url(self, db=0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def kill(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def close(self):
        if self.proc is not None:
            kill_process_group(self.proc, term_timeout=5)


class TcpForwarder:
    """127.0.0.1:<port> forwarded to a local target port. stop() refuses new
    connections and resets open ones, as a store that drops off the network;
    start() listens on the same port again."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self._lock = threading.Lock()
        self._pipes: set[threading.Thread] = set()
        self._listener_thread = None
        self._stopping = threading.Event()

    def start(self):
        self._stopping.clear()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        listener.settimeout(0.2)
        self._listener_thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._listener_thread.start()

    def stop(self):
        self._stopping.set()
        self._listener_thread.join(timeout=10)
        with self._lock:
            pipes = list(self._pipes)
        for pipe in pipes:
            pipe.join(timeout=10)

    def _accept(self, listener):
        with listener:
            while not self._stopping.is_set():
                try:
                    client, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    return
                try:
                    upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                except OSError:
                    client.close()
                    continue
                pipe = threading.Thread(target=self._pipe, args=(client, upstream), daemon=True)
                with self._lock:
                    self._pipes.add(pipe)
                pipe.start()

    def _pipe(self, client, upstream):
        peer = {client: upstream, upstream: client}
        reading = {client, upstream}
        try:
            for sock in peer:
                sock.settimeout(None)
            while reading and not self._stopping.is_set():
                readable, _, _ = select.select(list(reading), [], [], 0.2)
                for sock in readable:
                    data = sock.recv(256 * 1024)
                    if data:
                        peer[sock].sendall(data)
                    else:
                        reading.discard(sock)
                        with suppress(OSError):
                            peer[sock].shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            for sock in peer:
                if self._stopping.is_set():  # reset, not a polite close
                    with suppress(OSError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                sock.close()
            with self._lock:
                self._pipes.discard(threading.current_thread())


class MotoS3:
    """moto's S3 server (state in memory) with one bucket, reached by Hub
    through a TcpForwarder."""

    bucket = "hub-faults"
    region = "us-east-1"
    key_id = "testing"
    secret = "testing"

    def __init__(self, root: Path):
        self.port = free_port()
        self.log = root / "moto.log"
        self.proc = _start(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", self.port], self.log
        )
        wait_until(self._up, 60, "moto S3 server")
        self.client().create_bucket(Bucket=self.bucket)
        self.forwarder = TcpForwarder(self.port)
        self.forwarder.start()

    def _up(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"moto exited:\n{tail(self.log)}")
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/", timeout=2).ok
        except requests.RequestException:
            return False

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name=self.region,
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
        )

    def keys(self, prefix="") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2")
        return [
            obj["Key"]
            for page in pages.paginate(Bucket=self.bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        ]

    def hub_env(self) -> dict[str, str]:
        return {
            "HUB_STORAGE": "s3",
            "HUB_S3_BUCKET": self.bucket,
            "HUB_S3_ENDPOINT_URL": f"http://127.0.0.1:{self.forwarder.port}",
            "HUB_S3_REGION": self.region,
            "HUB_S3_ACCESS_KEY_ID": self.key_id,
            "HUB_S3_SECRET_ACCESS_KEY": self.secret,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def close(self):
        with suppress(Exception):
            self.forwarder.stop()
        kill_process_group(self.proc, term_timeout=5)


@dataclass
class Delivery:
    path: str
    delivery_id: str
    event: str
    body: dict
    received_at: float


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers 200."""

    def __init__(self):
        self.deliveries: list[Delivery] = []
        lock = threading.Lock()
        deliveries = self.deliveries

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"unparsable": raw[:200].decode("utf-8", "replace")}
                with lock:
                    deliveries.append(
                        Delivery(
                            self.path,
                            self.headers.get("X-Hub-Delivery", ""),
                            self.headers.get("X-Hub-Event", ""),
                            body,
                            time.time(),
                        )
                    )
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, repo: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/{repo}"

    def pushes(self) -> Counter:
        """How many push notifications arrived for each (repository, tag)."""
        return Counter(
            (d.body.get("repository", {}).get("repo_name"), d.body.get("push_data", {}).get("tag"))
            for d in list(self.deliveries)
            if d.event == "push"
        )

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------
# Hub nodes


@dataclass
class HubNode:
    name: str
    data_dir: Path
    env: dict[str, str]
    log: Path
    args: tuple[str, ...] = ()
    proc: subprocess.Popen | None = None

    @property
    def addr(self) -> str:
        return self.env["HUB_ADDR"]

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    @property
    def scratch_dir(self) -> Path:
        return Path(self.env.get("HUB_SCRATCH_DIR") or self.data_dir / "tmp")

    def start(self):
        self.proc = _start(
            [sys.executable, "manage.py", "serve", *self.args],
            self.log,
            cwd=REPO_ROOT,
            env=self.env,
        )

    def wait_ready(self, timeout=240):
        try:
            wait_for_v2(self.url, timeout, alive=lambda: self.proc.poll() is None, what=self.name)
        except RuntimeError as exc:
            raise RuntimeError(
                f"{exc}\n--- {self.name} log ---\n{tail(self.log)[-6000:]}"
            ) from None

    def manage(self, *args, env=None, timeout=180) -> str:
        proc = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} on {self.name} failed ({proc.returncode}):\n"
                f"{proc.stdout.decode()[-3000:]}\n{proc.stderr.decode()[-6000:]}"
            )
        return proc.stdout.decode()

    def children(self) -> dict[int, str]:
        """The serve process's direct children: pid → command line."""
        found = {}
        for stat in glob.glob("/proc/[0-9]*/stat"):
            with suppress(OSError):
                text = Path(stat).read_text()
                ppid = int(text[text.rindex(")") + 2 :].split()[1])
                if ppid == self.proc.pid:
                    pid = int(Path(stat).parent.name)
                    cmdline = (Path(stat).parent / "cmdline").read_bytes()
                    found[pid] = cmdline.replace(b"\0", b" ").decode(errors="replace")
        return found

    def child(self, *words: str) -> int | None:
        """The pid of the child whose command line holds every one of ``words``."""
        return next(
            (pid for pid, cmd in self.children().items() if all(w in cmd for w in words)), None
        )

    def web_pids(self) -> set[int]:
        """The web server's processes: gunicorn's master and its workers."""
        master = self.child("gunicorn")
        return {master, *child_pids(master)} if master else set()

    def close(self):
        if self.proc is not None:
            kill_process_group(self.proc, term_timeout=20)


def hub_env(**values) -> dict[str, str]:
    """The environment Hub runs with: this process's, less the test settings."""
    env = dict(os.environ)
    for var in ("DJANGO_SETTINGS_MODULE", "HUB_TEST_DATABASE_URL", "PYTEST_CURRENT_TEST"):
        env.pop(var, None)
    env.update(
        HUB_DEMO="0",
        PYTHONUNBUFFERED="1",
        GUNICORN_CMD_ARGS=env.get("GUNICORN_CMD_ARGS", "--access-logfile -"),
    )
    env.update({k: str(v) for k, v in values.items()})
    return env


def token_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


class Cluster:
    """Two web nodes (A, B) and a worker node (W, which serves too), sharing
    PostgreSQL, a cache Redis, a broker Redis and S3."""

    repos = [f"{USER}/faults-{i}" for i in range(4)]
    probe_repo = f"{USER}/probe"

    def __init__(self, root: Path):
        self.root = root
        self.password = secrets.token_urlsafe(16)
        self._closers = []
        self.nodes: list[HubNode] = []

    def start(self):
        self.pg = Postgres()
        self._closers.append(self.pg.close)
        self.pg.start()
        self.database_url = self.pg.create_database("hub_faults")
        self.cache = Redis(self.root, "cache")
        self._closers.append(self.cache.close)
        self.cache.start()
        self.broker = Redis(self.root, "broker")
        self._closers.append(self.broker.close)
        self.broker.start()
        self.s3 = MotoS3(self.root)
        self._closers.append(self.s3.close)
        self.receiver = WebhookReceiver()
        self._closers.append(self.receiver.close)

        shared = dict(
            HUB_DATABASE_URL=self.database_url,
            HUB_CACHE_URL=self.cache.url(0),
            HUB_BROKER_URL=self.broker.url(0),
            HUB_SECRET_KEY=secrets.token_urlsafe(50),
            HUB_TOKEN_KEY=token_key_pem(),
            HUB_ADMIN_PASSWORD=secrets.token_urlsafe(16),
            # Hub streams blobs itself, so that every error a pull meets is Hub's answer.
            HUB_BLOB_DELIVERY="stream",
            HUB_ALLOW_PRIVATE_NETWORKS="1",
            HUB_WEBHOOK_RETRY_DELAYS="2,5,10,30",
            # Work whose message was lost with the broker is handed over again
            # after these many seconds (60 and 300 by default): shorter, to fit
            # the tests' deadlines. (A task that meets the database down retries
            # by itself within seconds.)
            HUB_EVENT_RESEND_SECONDS="20",
            HUB_WEBHOOK_REDISPATCH_SECONDS="30",
            **self.s3.hub_env(),
        )
        self.shared_env = shared
        # W first, alone: it migrates the empty database.
        self.worker = self._node("W", shared, ())
        self.worker.start()
        self.worker.wait_ready()
        self.a = self._node("A", shared, ("--no-worker",))
        self.b = self._node("B", shared, ("--no-worker",))
        for node in (self.a, self.b):
            node.start()
        for node in (self.a, self.b):
            node.wait_ready()
        self._create_user_and_webhooks()

    def _node(self, name, shared, args) -> HubNode:
        data_dir = self.root / f"node-{name}"
        data_dir.mkdir()
        env = hub_env(HUB_ADDR=f"127.0.0.1:{free_port()}", HUB_DATA_DIR=data_dir, **shared)
        node = HubNode(name, data_dir, env, self.root / f"hub-{name}.log", args)
        self.nodes.append(node)
        self._closers.append(node.close)
        return node

    def _create_user_and_webhooks(self):
        """The pushing user, and a webhook on each repository the workloads push to."""
        hooks = {repo: self.receiver.url(repo) for repo in self.repos}
        create_user_and_webhooks(self.worker.manage, self.password, hooks)

    def switches(self, component: str):
        """(down, up) for one of the services Hub stands on: PostgreSQL
        stopped with ``-m immediate`` and started again; a Redis killed with
        SIGKILL and started again on its port; S3's connections refused and
        cut at the forwarder, then accepted again."""
        return {
            "database": (lambda: self.pg.stop("immediate"), self.pg.start),
            "cache": (self.cache.kill, self.cache.start),
            "broker": (self.broker.kill, self.broker.start),
            "storage": (self.s3.forwarder.stop, self.s3.forwarder.start),
        }[component]

    @property
    def web_nodes(self) -> list[HubNode]:
        return [self.a, self.b]

    def client(self, journal: Journal) -> RegistryClient:
        return RegistryClient(USER, self.password, journal)

    def sql(self, query: str):
        import psycopg2

        conn = psycopg2.connect(self.database_url, connect_timeout=10)
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                return cur.fetchall()
        finally:
            conn.close()

    def wait_healthy(self, timeout=90):
        """Both web nodes push and pull again (a clean probe, no errors)."""
        rng = random.Random()

        def probe():
            journal = Journal()
            client = self.client(journal)
            try:
                for node in self.web_nodes:
                    image = random_image(rng, self.probe_repo, f"probe-{rng.getrandbits(32):x}", 1)
                    client.push(image, [node])
                    client.pull(image, node)
            except OperationFailed:
                return False
            return True

        wait_until(probe, timeout, "the cluster answering pushes and pulls on both nodes", 2)

    def close(self):
        for close in reversed(self._closers):
            with suppress(Exception):
                close()


def create_user_and_webhooks(manage, password: str, hooks: dict[str, str]) -> None:
    """USER with ``password``, and each repository of ``hooks`` with a webhook
    to its URL; ``manage`` runs a manage.py command on the Hub concerned."""
    manage(
        "shell",
        "-c",
        "import json, os\n"
        "from accounts.models import User\n"
        "from builds.services import repository_webhook_create\n"
        "from repositories.services import repository_get_or_create\n"
        "user = User.objects.create_user(os.environ['FAULT_USER'], 'alice@example.com',"
        " os.environ['FAULT_PASSWORD'])\n"
        "for name, url in json.loads(os.environ['FAULT_HOOKS']).items():\n"
        "    repository = repository_get_or_create(name=name, creator=user)\n"
        "    repository_webhook_create(repository=repository, name='faults', url=url)\n",
        env={"FAULT_USER": USER, "FAULT_PASSWORD": password, "FAULT_HOOKS": json.dumps(hooks)},
    )


# --------------------------------------------------------------------------
# Hub as a deployment runs it: one role per process


@dataclass
class RoleProcess:
    """One ``manage.py serve <role>`` process, as a container runs it: started
    from a directory of its own (a container's working directory need not be
    the project), with a data directory of its own. The roles other than
    ``migrate`` exec their program, so ``proc`` is gunicorn or Celery itself."""

    name: str
    role: str
    data_dir: Path
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.env['HUB_ADDR']}"

    def start(self):
        self.proc = _start(
            [sys.executable, REPO_ROOT / "manage.py", "serve", self.role],
            self.log,
            cwd=self.data_dir,
            env=self.env,
        )

    def cmdline(self) -> str:
        with suppress(OSError):
            return (
                (Path("/proc") / str(self.proc.pid) / "cmdline")
                .read_bytes()
                .decode(errors="replace")
                .replace("\0", " ")
            )
        return ""

    def close(self):
        if self.proc is not None:
            kill_process_group(self.proc, term_timeout=20)


class Topology:
    """Hub in separate role processes, on the cluster's servers: ``serve
    migrate`` (which must exit 0), ``webs`` × ``serve web`` (each on a port
    of its own), ``serve worker``, ``serve builds`` and one ``serve beat``.
    Its own database, Redis databases 1 (so the cluster's workers never see
    its tasks), bucket and webhook receiver."""

    repo = f"{USER}/topology"
    bucket = "hub-topology"
    graceful_timeout = 10

    def __init__(self, cluster: Cluster, root: Path, webs: int = 2):
        self.cluster = cluster
        self.root = root
        self.webs_count = webs
        self.password = secrets.token_urlsafe(16)
        self.processes: list[RoleProcess] = []
        self._closers = []
        self.migrate_seconds = None

    def start(self):
        cluster = self.cluster
        self.receiver = WebhookReceiver()
        self._closers.append(self.receiver.close)
        cluster.s3.client().create_bucket(Bucket=self.bucket)
        self.env = {
            **cluster.shared_env,
            "HUB_DATABASE_URL": cluster.pg.create_database("hub_topology"),
            "HUB_CACHE_URL": cluster.cache.url(1),
            "HUB_BROKER_URL": cluster.broker.url(1),
            "HUB_S3_BUCKET": self.bucket,
            "HUB_WEB_GRACEFUL_TIMEOUT": str(self.graceful_timeout),
        }
        migrate = self._process("migrate", "migrate")
        started = time.monotonic()
        migrate.start()
        try:
            migrate.proc.wait(timeout=240)
        except subprocess.TimeoutExpired:
            migrate.close()
            raise AssertionError(
                f"serve migrate still ran after 240s:\n{tail(migrate.log)}"
            ) from None
        self.migrate_seconds = time.monotonic() - started
        if migrate.proc.returncode != 0:
            raise AssertionError(
                f"serve migrate exited with {migrate.proc.returncode}:\n{tail(migrate.log)}"
            )
        self.webs = [self._process(f"web-{i + 1}", "web") for i in range(self.webs_count)]
        self.worker = self._process("worker", "worker")
        self.builds = self._process("builds", "builds")
        self.beat = self._process("beat", "beat")
        for process in self.running:
            process.start()
        for web in self.webs:
            try:
                wait_for_v2(web.url, 120, alive=lambda w=web: w.proc.poll() is None, what=web.name)
            except RuntimeError as exc:
                raise RuntimeError(
                    f"{exc}\n--- {web.name} log ---\n{tail(web.log)[-6000:]}"
                ) from None
        create_user_and_webhooks(
            self.manage, self.password, {self.repo: self.receiver.url(self.repo)}
        )

    def _process(self, name, role) -> RoleProcess:
        data_dir = self.root / name
        data_dir.mkdir(parents=True)
        env = hub_env(HUB_DATA_DIR=data_dir, **self.env)
        if role == "web":
            env["HUB_ADDR"] = f"127.0.0.1:{free_port()}"
        process = RoleProcess(name, role, data_dir, env, self.root / f"{name}.log")
        self.processes.append(process)
        self._closers.append(process.close)
        return process

    @property
    def running(self) -> list[RoleProcess]:
        """The long-running role processes (all but ``migrate``)."""
        return [*self.webs, self.worker, self.builds, self.beat]

    def manage(self, *args, env=None, timeout=180) -> str:
        proc = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            # In the data directory of `serve migrate`, the one-off process.
            env={**hub_env(HUB_DATA_DIR=self.processes[0].data_dir, **self.env), **(env or {})},
            capture_output=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout.decode()[-3000:]}\n{proc.stderr.decode()[-6000:]}"
            )
        return proc.stdout.decode()

    def client(self, journal: Journal) -> RegistryClient:
        return RegistryClient(USER, self.password, journal)

    def close(self):
        for close in reversed(self._closers):
            with suppress(Exception):
                close()


# --------------------------------------------------------------------------
# The registry client


@dataclass
class Image:
    repo: str
    tag: str
    config: bytes = field(repr=False)
    layers: list[bytes] = field(repr=False)
    manifest: bytes = field(default=b"", repr=False)

    def __post_init__(self):
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": sha256(self.config),
                "size": len(self.config),
            },
            "layers": [
                {"mediaType": OCI_LAYER, "digest": sha256(layer), "size": len(layer)}
                for layer in self.layers
            ],
        }
        self.manifest = json.dumps(manifest, indent=2).encode()

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    @property
    def blobs(self) -> dict[str, bytes]:
        return {sha256(blob): blob for blob in [self.config, *self.layers]}

    @property
    def key(self) -> tuple[str, str]:
        return (self.repo, self.tag)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def random_image(rng: random.Random, repo: str, tag: str, layers: int = 2, max_mib: int = 4):
    blobs = [rng.randbytes(rng.randint(MiB, max_mib * MiB)) for _ in range(layers)]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"fault-test": tag}},
            "rootfs": {"type": "layers", "diff_ids": [sha256(b) for b in blobs]},
        }
    ).encode()
    return Image(repo, tag, config, blobs)


@dataclass
class Failure:
    """One request that did not get the answer the protocol calls for."""

    node: str
    method: str
    path: str
    started: float
    ended: float
    status: int | None = None
    content_type: str = ""
    retry_after: str | None = None
    body: bytes = b""
    error: str = ""
    # "response" (an unexpected answer), "connection" (refused, reset, timed
    # out: no answer), "cut short" (a 200 whose body stopped early),
    # "corrupt" (a 200 whose bytes do not match their digest).
    kind: str = "response"

    def spec_problem(self) -> str | None:
        """Why this is not a spec 503/507 answer with a JSON body and Retry-After."""
        if self.kind != "response":
            return f"{self.kind}: {self.error}"
        if self.status not in (503, 507):
            return f"status {self.status}"
        if not self.content_type.startswith("application/json"):
            return f"content type {self.content_type!r}"
        try:
            errors = json.loads(self.body)["errors"]
            assert errors and all("code" in e for e in errors)
        except (ValueError, KeyError, TypeError, AssertionError):
            return "a body that is not the spec's {'errors': [{'code': …}]}"
        if not self.retry_after:
            return "no Retry-After"
        return None

    def detail(self) -> str:
        try:
            error = json.loads(self.body)["errors"][0]
            return f"{error.get('code')} {json.dumps(error.get('detail'))}"
        except (ValueError, KeyError, TypeError, IndexError):
            return ""

    def __str__(self):
        what = f"{self.status} {self.content_type!r} Retry-After={self.retry_after!r}"
        if self.kind != "response":
            what = f"{self.kind}: {self.error}"
        body = self.body[:160].decode("utf-8", "replace").replace("\n", " ")
        return f"{self.method} {self.node}{self.path} → {what} {body}".strip()


class Journal:
    """Every request's time span, and every failure, from any thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self.failures: list[Failure] = []
        self.spans: list[tuple[float, float]] = []

    def request(self, started, ended):
        with self._lock:
            self.spans.append((started, ended))

    def fail(self, failure: Failure) -> OperationFailed:
        with self._lock:
            self.failures.append(failure)
        return OperationFailed(failure)

    def requests_between(self, start, end) -> int:
        return sum(1 for s, e in list(self.spans) if s < end and e > start)


class OperationFailed(Exception):
    def __init__(self, failure: Failure):
        super().__init__(str(failure))
        self.failure = failure


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistryClient:
    """One user's registry client: a keep-alive requests.Session per node,
    bearer tokens per repository (a token from one node works on another)."""

    def __init__(self, user, password, journal: Journal, chunks: int = 2, think=None):
        self.auth = (user, password)
        self.journal = journal
        self.chunks = chunks
        # Called before each layer and the manifest: a client's own work (compressing).
        self.think = think or (lambda: None)
        self.sessions: dict[str, requests.Session] = {}
        self.tokens: dict[str, str] = {}

    def _session(self, node: HubNode) -> requests.Session:
        if node.url not in self.sessions:
            self.sessions[node.url] = requests.Session()
            self.sessions[node.url].trust_env = False
        return self.sessions[node.url]

    def _call(self, node, method, url, **kwargs) -> requests.Response:
        """One HTTP request; a failure to get a whole answer is journaled and raised."""
        started = time.time()
        try:
            response = self._session(node).request(method, url, timeout=90, **kwargs)
        except requests.exceptions.ChunkedEncodingError as exc:
            raise self._fail(
                node, method, url, started, error=repr(exc), kind="cut short"
            ) from None
        except requests.RequestException as exc:
            raise self._fail(
                node, method, url, started, error=repr(exc), kind="connection"
            ) from None
        self.journal.request(started, time.time())
        response.started = started
        return response

    def _fail(self, node, method, url, started, **facts) -> OperationFailed:
        failure = Failure(node.name, method, _path(url), started, time.time(), **facts)
        return self.journal.fail(failure)

    def _unexpected(self, node, response) -> OperationFailed:
        return self._fail(
            node,
            response.request.method,
            response.request.url,
            response.started,
            status=response.status_code,
            content_type=response.headers.get("Content-Type", ""),
            retry_after=response.headers.get("Retry-After"),
            body=response.content,
        )

    def _corrupt(self, node, response, what) -> OperationFailed:
        return self._fail(
            node,
            response.request.method,
            response.request.url,
            response.started,
            status=response.status_code,
            error=f"{what} do not match what was pushed",
            kind="corrupt",
        )

    def request(self, node, method, path, *, repo, expect, headers=None, **kwargs):
        """A /v2/ request with the repository's bearer token; on a 401 challenge,
        get a token from the node's realm and send the request again."""
        for attempt in (1, 2):
            sent = dict(headers or {})
            if repo in self.tokens:
                sent["Authorization"] = f"Bearer {self.tokens[repo]}"
            response = self._call(node, method, node.url + path, headers=sent, **kwargs)
            challenge = response.headers.get("WWW-Authenticate", "")
            if response.status_code == 401 and attempt == 1 and challenge.startswith("Bearer "):
                self._get_token(node, challenge, repo)
                continue
            if response.status_code not in expect:
                raise self._unexpected(node, response)
            return response

    def _get_token(self, node, challenge, repo):
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm")
        params["scope"] = f"repository:{repo}:pull,push"
        response = self._call(node, "GET", realm, params=params, auth=self.auth)
        if response.status_code != 200:
            raise self._unexpected(node, response)
        body = response.json()
        self.tokens[repo] = body.get("token") or body["access_token"]

    # Push: config monolithic, layers in chunks; the requests of one push
    # take turns over ``nodes``, as uploads may continue on any host.

    def push(self, image: Image, nodes: list[HubNode]) -> None:
        order = itertools.cycle(nodes)
        repo = image.repo
        self.request(
            next(order),
            "POST",
            f"/v2/{repo}/blobs/uploads/?digest={sha256(image.config)}",
            repo=repo,
            expect=(201,),
            data=image.config,
            headers={"Content-Type": "application/octet-stream"},
        )
        for layer in image.layers:
            self.think()
            started = self.request(
                next(order), "POST", f"/v2/{repo}/blobs/uploads/", repo=repo, expect=(202,)
            )
            location = _path(started.headers["Location"])
            step = -(-len(layer) // self.chunks)
            for offset in range(0, len(layer), step):
                chunk = layer[offset : offset + step]
                patched = self.request(
                    next(order),
                    "PATCH",
                    location,
                    repo=repo,
                    expect=(202,),
                    data=chunk,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                    },
                )
                location = _path(patched.headers["Location"])
            separator = "&" if "?" in location else "?"
            self.request(
                next(order),
                "PUT",
                f"{location}{separator}digest={sha256(layer)}",
                repo=repo,
                expect=(201,),
                headers={"Content-Length": "0"},
            )
        self.think()
        node = next(order)
        response = self.request(
            node,
            "PUT",
            f"/v2/{repo}/manifests/{image.tag}",
            repo=repo,
            expect=(201,),
            data=image.manifest,
            headers={"Content-Type": OCI_MANIFEST},
        )
        if response.headers.get("Docker-Content-Digest") != image.digest:
            raise self._corrupt(node, response, "Docker-Content-Digest of the pushed manifest")

    def pull(self, image: Image, node: HubNode) -> None:
        """Pull image by tag and check every byte against its digest."""
        repo = image.repo
        response = self.request(
            node,
            "GET",
            f"/v2/{repo}/manifests/{image.tag}",
            repo=repo,
            expect=(200,),
            headers={"Accept": OCI_MANIFEST},
        )
        if response.content != image.manifest:
            raise self._corrupt(node, response, "manifest bytes")
        for digest in image.blobs:
            response = self.request(
                node,
                "GET",
                f"/v2/{repo}/blobs/{digest}",
                repo=repo,
                expect=(200, 307),
                allow_redirects=False,
            )
            if response.status_code == 307:  # a presigned storage URL
                response = self._call(node, "GET", response.headers["Location"])
                if response.status_code != 200:
                    raise self._unexpected(node, response)
            if sha256(response.content) != digest:
                raise self._corrupt(node, response, f"blob {digest}")


def _path(location: str) -> str:
    split = urllib.parse.urlsplit(location)
    return f"{split.path}?{split.query}" if split.query else split.path


# --------------------------------------------------------------------------
# A workload: threads that push new images and pull acknowledged ones


@dataclass
class Workload:
    cluster: Cluster = field(repr=False)
    label: str
    threads: int = 8
    journal: Journal = field(default_factory=Journal, repr=False)
    attempted: list[Image] = field(default_factory=list, repr=False)
    acknowledged: list[Image] = field(default_factory=list, repr=False)
    pulls: int = 0

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)
        ]

    def start(self):
        for worker in self._workers:
            worker.start()

    def stop(self):
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=180)

    def _run(self, index):
        rng = random.Random(f"{self.label}-{index}")
        client = self.cluster.client(self.journal)
        a, b = self.cluster.web_nodes
        round_ = 0
        while not self._stop.is_set():
            round_ += 1
            nodes = [a, b] if (index + round_) % 2 else [b, a]
            with self._lock:
                done = list(self.acknowledged)
            try:
                if round_ % 2 or not done:
                    repo = self.cluster.repos[index % len(self.cluster.repos)]
                    layers = rng.randint(1, 3)
                    image = random_image(rng, repo, f"{self.label}-{index}-{round_}", layers)
                    with self._lock:
                        self.attempted.append(image)
                    client.push(image, nodes)
                    with self._lock:
                        self.acknowledged.append(image)
                else:
                    client.pull(rng.choice(done), nodes[0])
                    with self._lock:
                        self.pulls += 1
            except OperationFailed:
                time.sleep(0.2)  # a client backs off a little before its next try
