"""Hub set up as production runs automated builds, for the end-to-end build
tests and the build benchmark (bench/builds.py):

- the web server: `manage.py serve --no-worker` (gunicorn, several processes);
- a Celery worker for the ``builds`` queue (concurrency 1), in a process
  group of its own so a test can SIGKILL it mid-build;
- a Celery worker for the ``celery`` queue with beat (dispatch, reaper);
- a fresh PostgreSQL database and an empty Redis database as the broker;
- GitHub: a fake on 127.0.0.1 that answers its API and serves real git
  repositories (``git_server.py``).

Build settings are made the way the settings page makes them, through
``builds.services`` in a ``manage.py shell`` against Hub's database, for a
Hub user whose linked GitHub account holds a token the fake issued. Webhooks
arrive in GitHub's format (the payload fixtures of tests/builds), signed with
the settings' secret. Reads of builds go straight to the database.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from .git_server import GitHubWithRepositories, GitRepository
from .helpers import (
    Registry,
    create_database,
    free_port,
    kill_process_group,
    log_summary,
    require_bins,
    skopeo_push,
    tail,
    umount_under,
    wait_for_v2,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
GITHUB_PAYLOADS = REPO_ROOT / "tests" / "builds" / "fixtures" / "github"
REDIS_URL = os.environ.get("HUB_E2E_REDIS_URL", "redis://127.0.0.1:6379")
STARTUP_TIMEOUT = float(os.environ.get("HUB_E2E_STARTUP_TIMEOUT", "300"))

# Short enough that a test sees the reaper at work within a minute.
HEARTBEAT_TIMEOUT = 15
REAP_SECONDS = 3


# --------------------------------------------------------------------------
# Databases


def claim_redis_database(server_url: str = REDIS_URL) -> tuple[str, callable]:
    """An empty Redis database (1-15) as this Hub's broker, so that no other
    Hub's workers take its tasks; returns (url, release), release emptying it."""
    import redis

    for number in range(1, 16):
        client = redis.Redis.from_url(f"{server_url}/{number}")
        # A marker key claims the database before any worker connects.
        marker = "hub-e2e-builds-claim"
        if client.dbsize() == 0 and client.set(marker, str(os.getpid()), nx=True):
            if client.dbsize() == 1:

                def release(client=client):
                    client.flushdb()
                    client.close()

                return f"{server_url}/{number}", release
            client.delete(marker)
        client.close()
    raise RuntimeError(f"no empty Redis database left on {server_url} (1-15 are in use)")


# --------------------------------------------------------------------------
# Webhooks in GitHub's format


def github_push_payload(
    fixture: str, *, ref: str, sha: str, message: str, repository: dict, before: str | None = None
) -> bytes:
    """A GitHub push event from tests/builds/fixtures/github/<fixture>.json,
    rewritten to name a real commit of a repository of the fake."""
    data = json.loads((GITHUB_PAYLOADS / f"{fixture}.json").read_bytes())
    data["ref"] = ref
    data["after"] = sha
    if before is not None:
        data["before"] = before
    web = repository["html_url"]
    data["compare"] = f"{web}/compare/{(before or data['before'])[:12]}...{sha[:12]}"
    head = copy.deepcopy(data.get("head_commit") or {})
    head.update(id=sha, message=message, url=f"{web}/commit/{sha}")
    data["head_commit"] = head
    if data.get("commits"):
        data["commits"] = [head]
    for key in ("name", "full_name", "private", "html_url", "clone_url", "default_branch"):
        data["repository"][key] = repository[key]
    data["repository"]["owner"]["login"] = data["repository"]["owner"]["name"] = repository[
        "owner"
    ]["login"]
    return json.dumps(data, indent=2).encode()


def github_signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class BuildConfig:
    """A Hub repository configured to build from a repository of the fake GitHub."""

    repository: str  # namespace/name in Hub
    repository_id: int
    settings_id: int
    hook_id: str
    webhook_secret: str
    source: GitRepository
    github_token: str  # the linked account's token at the fake GitHub

    @property
    def hook_path(self) -> str:
        return f"/builds/hooks/{self.hook_id}/github"


# --------------------------------------------------------------------------
# Hub and its workers


class BuildHub:
    """Hub, its two Celery workers and the fake GitHub, under work/."""

    def __init__(
        self,
        work: Path,
        database_server_url: str,
        *,
        heartbeat_timeout: int = HEARTBEAT_TIMEOUT,
        reap_seconds: float = REAP_SECONDS,
        redis_url: str = REDIS_URL,
        logs: Path | None = None,
        log_prefix: str = "",
        extra_env: dict | None = None,
    ):
        self.work = work
        self.logs = logs or work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.log_prefix = log_prefix
        self.redis_url = redis_url
        self.data_dir = work / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.database_server_url = database_server_url
        self.heartbeat_timeout = heartbeat_timeout
        self.reap_seconds = reap_seconds
        self.extra_env = extra_env or {}
        self.github = GitHubWithRepositories(work / "github")
        self.processes: dict[str, subprocess.Popen] = {}
        self.cleanups: list[callable] = []
        self.builds_worker_generation = 0
        self.admin_password = secrets.token_urlsafe(16)
        self.registry: Registry | None = None
        self._db = None

    # Life

    def start(self) -> BuildHub:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self):
        self.github.start()
        self.cleanups.append(self.github.remove)
        self.addr = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.addr}"
        self.database_url, drop = create_database(self.database_server_url)
        self.cleanups.append(drop)
        broker_url, release = claim_redis_database(self.redis_url)
        self.cleanups.append(release)
        env = dict(os.environ)
        for var in ("DJANGO_SETTINGS_MODULE", "PYTEST_CURRENT_TEST", "HUB_TEST_DATABASE_URL"):
            env.pop(var, None)
        env.update(
            HUB_ADDR=self.addr,
            HUB_URL=self.url,
            HUB_REGISTRY_URL=self.url,
            HUB_DATA_DIR=str(self.data_dir),
            HUB_DATABASE_URL=self.database_url,
            HUB_BROKER_URL=broker_url,
            HUB_DEMO="0",
            HUB_ADMIN_PASSWORD=self.admin_password,
            HUB_SECRET_KEY=secrets.token_urlsafe(40),
            HUB_BUILDS_ALLOWED_HOSTS="127.0.0.1",
            HUB_GITHUB_URL=self.github.url,
            HUB_GITHUB_API_URL=self.github.api_url,
            HUB_BUILD_HEARTBEAT_SECONDS="2",
            HUB_BUILD_HEARTBEAT_TIMEOUT=str(self.heartbeat_timeout),
            HUB_BUILD_REAP_SECONDS=str(self.reap_seconds),
            PYTHONUNBUFFERED="1",
            GUNICORN_CMD_ARGS="--access-logfile - --log-level info",
            **self.extra_env,
        )
        self.env = env
        self._spawn("hub", [PYTHON, "manage.py", "serve", "--no-worker"])
        serve = self.processes["hub"]
        try:
            wait_for_v2(
                self.url,
                STARTUP_TIMEOUT,
                alive=lambda: serve.poll() is None,
                what="manage.py serve",
            )
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{log_summary(self.log_path('hub'))}") from None
        worker = [PYTHON, "-m", "celery", "--app", "hub", "worker", "--loglevel", "INFO"]
        self._spawn(
            "celery-worker",
            [
                *worker, "--queues", "celery", "--concurrency", "2",
                "--hostname", f"main-{os.getpid()}@%h",
                "--beat", "--schedule", self.data_dir / "celerybeat-schedule",
            ],
        )  # fmt: skip
        self.start_builds_worker()
        self.registry = Registry(
            "hub",
            self.addr,
            self.log_path("hub"),
            extra={"data_dir": self.data_dir, "env": self.env, "repo_root": REPO_ROOT},
            users={"admin": self.admin_password},
        )

    def _spawn(self, name: str, argv: list) -> subprocess.Popen:
        with open(self.log_path(name), "ab") as log:
            proc = subprocess.Popen(
                [str(a) for a in argv],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes[name] = proc
        return proc

    def log_path(self, name: str) -> Path:
        """Where the output of the process called name goes (hub, celery-worker, builds-worker)."""
        return self.logs / f"{self.log_prefix}{name}.log"

    def start_builds_worker(self) -> subprocess.Popen:
        """A new worker for the builds queue, in a process group of its own."""
        self.builds_worker_generation += 1
        proc = self._spawn(
            "builds-worker",
            [
                PYTHON, "-m", "celery", "--app", "hub", "worker", "--loglevel", "INFO",
                "--queues", "builds", "--concurrency", "1",
                "--hostname", f"builds-{os.getpid()}-{self.builds_worker_generation}@%h",
            ],
        )  # fmt: skip
        self.wait_worker_ready(proc)
        return proc

    def wait_worker_ready(self, proc: subprocess.Popen, timeout: float = 120):
        """Until the worker logs that it is ready (it consumes from then on)."""
        log = self.log_path("builds-worker")
        start = log.stat().st_size if log.exists() else 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the builds worker exited with {proc.returncode}:\n{tail(log, start)}"
                )
            if " ready." in tail(log, start):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the builds worker was not ready within {timeout}s:\n{tail(log)}")

    def kill_builds_worker(self) -> subprocess.Popen:
        """SIGKILL the builds worker's whole process group (the worker and its
        pool's children), as the kernel's OOM killer or a lost host would."""
        proc = self.processes["builds-worker"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        return proc

    def check_alive(self):
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                summary = log_summary(self.log_path(name))
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{summary}")

    def stop(self):
        for proc in self.processes.values():
            kill_process_group(proc, term_timeout=15)
        if self._db is not None:
            self._db.close()
            self._db = None
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as exc:  # best effort: report, go on cleaning
                print(f"warning: cleanup of the build Hub failed: {exc}")
        self.cleanups.clear()
        umount_under(self.data_dir)
        # Builds leave root-owned layer storage behind: gone with the rest.
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # Hub's command line

    def shell(self, code: str) -> str:
        """Run Python in `manage.py shell` against this Hub; return what it printed."""
        proc = subprocess.run(
            [PYTHON, "manage.py", "shell", "--no-startup", "-c", code],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"manage.py shell failed ({proc.returncode}):\n{proc.stdout.decode()}"
                f"\n{proc.stderr.decode()}"
            )
        return proc.stdout.decode()

    def create_user(self, name: str) -> str:
        return self.registry.create_user(name)

    def push_base_image(self, source: str, repository: str, user: str, tmp: Path):
        """Push an image (a containers-image reference) into Hub, as user."""
        registry = Registry(self.registry.target, self.addr, users=self.registry.users, user=user)
        return skopeo_push(registry, source, repository, "latest", tmp, "--format", "v2s2")

    def configure_builds(
        self,
        *,
        user: str,
        name: str,
        source: GitRepository,
        rules: list[dict] = (),
        github_login: str | None = None,
    ) -> BuildConfig:
        """Link user's GitHub account (a token of the fake, stored encrypted as
        the OAuth dance stores it), create the Hub repository user/name and its
        build settings from source (default rule: the default branch as
        latest), plus rules (keyword arguments of build_rule_create)."""
        github_login = github_login or source.full_name.split("/")[0]
        token = self.github.link_user(github_login)
        args = {
            "user": user,
            "name": name,
            "source": source.full_name,
            "default_branch": source.default_branch,
            "github_login": github_login,
            "github_uid": str(self.github.users[github_login]["id"]),
            "github_token": token,
            "rules": list(rules),
        }
        out = self.shell(CONFIGURE_BUILDS.replace("ARGS_JSON", repr(json.dumps(args))))
        result = json.loads(out.strip().splitlines()[-1])
        return BuildConfig(
            repository=f"{user}/{name}",
            repository_id=result["repository_id"],
            settings_id=result["settings_id"],
            hook_id=result["hook_id"],
            webhook_secret=result["webhook_secret"],
            source=source,
            github_token=token,
        )

    # Webhooks

    def send_github_push(
        self,
        config: BuildConfig,
        body: bytes,
        *,
        signature: str | None = None,
        delivery: str | None = None,
    ) -> requests.Response:
        """POST body to the settings' GitHub hook as GitHub delivers a push."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/e2e",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": signature or github_signature(body, config.webhook_secret),
        }
        return requests.post(self.url + config.hook_path, data=body, headers=headers, timeout=30)

    def push_branch(self, config: BuildConfig, sha: str, message: str, *, branch=None, **kw):
        branch = branch or config.source.default_branch
        body = github_push_payload(
            "push__branch",
            ref=f"refs/heads/{branch}",
            sha=sha,
            message=message,
            repository=self.github.repositories[config.source.full_name],
        )
        return self.send_github_push(config, body, **kw)

    def push_tag(self, config: BuildConfig, tag: str, sha: str, message: str, **kw):
        body = github_push_payload(
            "push__tag",
            ref=f"refs/tags/{tag}",
            sha=sha,
            message=message,
            repository=self.github.repositories[config.source.full_name],
        )
        return self.send_github_push(config, body, **kw)

    # Reads, straight from the database

    def query(self, sql: str, params=()) -> list[dict]:
        import psycopg2
        import psycopg2.extras

        if self._db is None or self._db.closed:
            self._db = psycopg2.connect(self.database_url, connect_timeout=10)
            self._db.autocommit = True
        with self._db.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return [dict(row) for row in cur.fetchall()] if cur.description else []

    def build(self, build_id: int) -> dict:
        rows = self.query("SELECT * FROM builds_build WHERE id = %s", (build_id,))
        assert rows, f"build {build_id} does not exist"
        return rows[0]

    def builds_of(self, config: BuildConfig) -> list[dict]:
        return self.query(
            "SELECT * FROM builds_build WHERE repository_id = %s ORDER BY id",
            (config.repository_id,),
        )

    def build_log(self, build_id: int) -> str:
        rows = self.query(
            "SELECT text FROM builds_buildlogchunk WHERE build_id = %s ORDER BY seq", (build_id,)
        )
        return "".join(row["text"] for row in rows)

    def wait_build(self, build_id: int, *, phases=("success", "failed", "canceled"), timeout=300):
        """Poll the build until its phase is one of phases; returns its row."""
        deadline = time.monotonic() + timeout
        while True:
            row = self.build(build_id)
            if row["phase"] in phases:
                return row
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"build {build_id} is still {row['phase']} after {timeout}s, waiting for "
                    f"{'/'.join(phases)}:\n{describe_build(row, self.build_log(build_id))}\n"
                    f"--- builds worker ---\n{tail(self.log_path('builds-worker'), limit=6000)}"
                )
            time.sleep(0.2)

    def manifest_digest(self, repository: str, tag: str) -> str | None:
        """Docker-Content-Digest of an anonymous HEAD of repository:tag, or None."""
        response = requests.head(
            f"{self.url}/v2/{repository}/manifests/{tag}",
            headers={
                "Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                "application/vnd.oci.image.manifest.v1+json"
            },
            timeout=10,
        )
        return response.headers.get("Docker-Content-Digest") if response.ok else None


def describe_build(row: dict, log: str) -> str:
    fields = ", ".join(
        f"{key}={row.get(key)!r}"
        for key in (
            "id",
            "phase",
            "source_type",
            "source_ref",
            "commit_sha",
            "tags",
            "worker",
            "failure_reason",
            "failed_step",
            "image_digest",
            "waiting_reason",
        )
    )
    return f"{fields}\n--- build log ---\n{log[-8000:]}"


CONFIGURE_BUILDS = """
import json

from allauth.socialaccount.models import SocialAccount, SocialToken
from django.contrib.auth import get_user_model

from accounts import crypto
from builds import services
from builds.models import BuildSettings
from repositories import services as repository_services

args = json.loads(ARGS_JSON)
user = get_user_model().objects.get(username=args["user"])
account, _ = SocialAccount.objects.get_or_create(
    user=user,
    provider="github",
    uid=args["github_uid"],
    defaults={"extra_data": {"login": args["github_login"], "id": int(args["github_uid"])}},
)
SocialToken.objects.update_or_create(
    account=account, app=None, defaults={"token": crypto.encrypt(args["github_token"])}
)
repository = repository_services.repository_create(
    namespace=user.namespace, name=args["name"], creator=user
)
created = services.build_settings_create(
    repository=repository,
    provider="github",
    source=args["source"],
    linked_user=user,
    default_branch=args["default_branch"],
)
BuildSettings.objects.filter(pk=created.settings.pk).update(created_by=user)
for rule in args["rules"]:
    services.build_rule_create(settings=created.settings, **rule)
settings = BuildSettings.objects.get(pk=created.settings.pk)
print(json.dumps({
    "repository_id": repository.pk,
    "settings_id": settings.pk,
    "hook_id": str(settings.hook_id),
    "webhook_secret": settings.webhook_secret,
}))
"""


# --------------------------------------------------------------------------
# The fixture


@dataclass
class BuildsSetup:
    hub: BuildHub
    user: str  # the Hub user who owns the built repositories
    base: str  # host:port/namespace/name of the base image the Dockerfiles start FROM


@pytest.fixture(scope="module")
def build_hub(base_images, tmp_path_factory) -> BuildsSetup:
    """Hub with its build workers, a user `builder` and a public busybox
    base image builder/busybox:latest in it. Module-scoped: its servers' logs
    join the reports of failing build tests only."""
    server_url = os.environ.get("HUB_TEST_DATABASE_URL")
    if not server_url:
        pytest.skip("the build tests need PostgreSQL: set HUB_TEST_DATABASE_URL")
    require_bins("buildah", "skopeo", "git")
    from . import conftest

    work = tmp_path_factory.mktemp("build-hub")
    # Build hooks run in a container of the base image pushed below.
    hub = BuildHub(work, server_url, extra_env={"HUB_BUILD_HOOK_IMAGE": "builder/busybox"})
    names = []
    try:
        hub.start()
        for name in ("hub", "celery-worker", "builds-worker"):
            label = f"build hub: {name}"
            conftest._SERVER_LOGS[label] = hub.log_path(name)
            names.append(label)
        hub.create_user("builder")
        hub.push_base_image(base_images.oci("base"), "builder/busybox", "builder", work)
        yield BuildsSetup(hub=hub, user="builder", base=f"{hub.addr}/builder/busybox")
    finally:
        for label in names:
            conftest._SERVER_LOGS.pop(label, None)
        hub.stop()
