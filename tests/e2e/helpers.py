"""Small helpers shared by the end-to-end tests (no pytest fixtures here)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

# Default bound for a single client command (push/pull/build of a ~1 MB image).
CMD_TIMEOUT = float(os.environ.get("HUB_E2E_CMD_TIMEOUT", "180"))

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
ALL_MANIFEST_TYPES = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])


class CommandFailed(AssertionError):
    pass


def require_bins(*names: str) -> dict[str, str]:
    """Return {name: path}; skip the test if any binary is missing."""
    found = {}
    missing = []
    for name in names:
        path = shutil.which(name) or (
            name if os.path.isabs(name) and os.access(name, os.X_OK) else None
        )
        if path is None:
            missing.append(name)
        else:
            found[name] = path
    if missing:
        pytest.skip(f"required binary not installed: {', '.join(missing)} (make test installs it)")
    return found


def run(
    args: list[str],
    *,
    timeout: float = CMD_TIMEOUT,
    env: dict | None = None,
    cwd: str | os.PathLike | None = None,
    check: bool = True,
    input: bytes | None = None,
    inherit_env: bool = True,
) -> subprocess.CompletedProcess:
    """Run a command with a timeout; on failure raise with stdout/stderr.

    env is added to this process's environment, or with inherit_env=False is
    the whole environment."""
    args = [str(a) for a in args]
    full_env = None
    if env is not None:
        full_env = dict(os.environ) if inherit_env else {}
        full_env.update(env)
    try:
        proc = subprocess.run(
            args,
            capture_output=True,
            timeout=timeout,
            env=full_env,
            cwd=cwd,
            input=input,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(
            f"command timed out after {timeout}s: {shlex.join(args)}\n"
            f"--- stdout ---\n{_text(exc.stdout)}\n--- stderr ---\n{_text(exc.stderr)}"
        ) from None
    if check and proc.returncode != 0:
        raise CommandFailed(
            f"command failed (rc={proc.returncode}): {shlex.join(args)}\n"
            f"--- stdout ---\n{_text(proc.stdout)}\n--- stderr ---\n{_text(proc.stderr)}"
        )
    return proc


def _text(b) -> str:
    if b is None:
        return ""
    if isinstance(b, bytes):
        b = b.decode("utf-8", "replace")
    return b[-8000:]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def wait_for_v2(url: str, timeout: float, alive=lambda: True, what: str = "registry") -> None:
    """Poll GET {url}/v2/ until it answers: 200, or 401 with a challenge when
    the registry requires authentication."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"{what} exited before /v2/ answered ({last})")
        try:
            r = requests.get(f"{url}/v2/", timeout=5)
            if r.status_code == 200 or (r.status_code == 401 and "WWW-Authenticate" in r.headers):
                return
            last = f"HTTP {r.status_code}: {r.text[:200]!r}"
        except requests.RequestException as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer on {url}/v2/ within {timeout}s (last: {last})")


def kill_process_group(proc: subprocess.Popen, term_timeout: float = 30) -> None:
    """SIGTERM the process group of proc (started with start_new_session), then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=term_timeout)
        except subprocess.TimeoutExpired:
            pass
    # Children may outlive the leader; sweep the group.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def umount_under(root: str | os.PathLike) -> None:
    """Lazily unmount every mount point below root (deepest first)."""
    root = os.path.realpath(root)
    try:
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f]
    except OSError:
        return
    points = [p.replace("\\040", " ") for p in points]
    for p in sorted(
        {p for p in points if p == root or p.startswith(root + "/")}, key=len, reverse=True
    ):
        subprocess.run(["umount", "-l", p], capture_output=True, timeout=30)


def tail(path: str | os.PathLike, start: int = 0, limit: int = 20000) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    text = data.decode("utf-8", "replace")
    if len(text) > limit:
        text = "...[truncated]...\n" + text[-limit:]
    return text


_ERROR_LINE = re.compile(r"CRITICAL|ERROR|Traceback|Error:|Exception|exited|stopped")


def log_summary(path: str | os.PathLike, errors: int = 40, last: int = 30) -> str:
    """The error-looking lines of a server log, then its last lines."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    found = [line for line in lines if _ERROR_LINE.search(line)][-errors:]
    return (
        "error-looking lines:\n"
        + "\n".join(found or ["(none)"])
        + f"\nlast {last} lines:\n"
        + "\n".join(lines[-last:])
    )


# --------------------------------------------------------------------------
# OCI layout helpers


def read_layout_index(layout: Path) -> dict:
    return json.loads((layout / "index.json").read_text())


def layout_blob(layout: Path, digest: str) -> Path:
    algo, hexd = digest.split(":", 1)
    return layout / "blobs" / algo / hexd


def layout_json(layout: Path, digest: str) -> dict:
    return json.loads(layout_blob(layout, digest).read_bytes())


def layout_ref(layout: Path, ref: str) -> dict:
    """Descriptor in index.json whose ref.name annotation is ref."""
    for desc in read_layout_index(layout)["manifests"]:
        if (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name") == ref:
            return desc
    raise KeyError(f"{ref!r} not in {layout}/index.json")


def tar_members(layer_bytes: bytes) -> dict[str, bytes | None]:
    """name -> content (None for non-regular files) of a (possibly gzipped) layer tar."""
    if layer_bytes[:2] == b"\x1f\x8b":
        layer_bytes = gzip.decompress(layer_bytes)
    out = {}
    with tarfile.open(fileobj=io.BytesIO(layer_bytes), mode="r:") as tf:
        for m in tf.getmembers():
            name = m.name[2:] if m.name.startswith("./") else m.name
            out[name.lstrip("/")] = tf.extractfile(m).read() if m.isfile() else None
    return out


# --------------------------------------------------------------------------
# Registry HTTP helpers (read-only probes used to cross-check clients)


def get_manifest(
    url: str, repo: str, ref: str, accept: str = ALL_MANIFEST_TYPES
) -> requests.Response:
    return requests.get(f"{url}/v2/{repo}/manifests/{ref}", headers={"Accept": accept}, timeout=30)


def head_manifest(
    url: str, repo: str, ref: str, accept: str = ALL_MANIFEST_TYPES
) -> requests.Response:
    return requests.head(f"{url}/v2/{repo}/manifests/{ref}", headers={"Accept": accept}, timeout=30)


# --------------------------------------------------------------------------
# The registry under test, and images pushed to it


@dataclass
class Registry:
    target: str  # "hub", "reference" or "external"
    addr: str  # host:port
    log_path: Path | None = None
    extra: dict = field(default_factory=dict)
    # Known accounts (name -> password); `user` is the one tests push as, into
    # its own namespace. Without one (the reference registry), pushes are anonymous.
    users: dict[str, str] = field(default_factory=dict)
    user: str | None = None

    @property
    def url(self) -> str:
        return f"http://{self.addr}"

    @property
    def ns(self) -> str:
        """The namespace tests push into: the pushing user's own."""
        return self.user or "e2e"

    def ref(self, repo: str, tag: str | None = None, digest: str | None = None) -> str:
        if digest:
            return f"{self.addr}/{repo}@{digest}"
        return f"{self.addr}/{repo}:{tag or 'latest'}"

    def creds(self, user: str | None = None) -> str | None:
        """ "name:password" of user (default: the pushing user), or None without accounts."""
        user = user or self.user
        return f"{user}:{self.users[user]}" if user else None

    def creds_args(self, flag: str, user: str | None = None) -> list[str]:
        """[flag, "name:password"] for a containers/image client, or [] without accounts."""
        creds = self.creds(user)
        return [flag, creds] if creds else []

    # Hub's command line, run as `make run` runs Hub (same data dir and database).

    def manage(self, *args: str) -> str:
        if self.target != "hub":
            pytest.skip(f"needs Hub's manage.py (target is {self.target})")
        python = Path(self.extra["repo_root"]) / ".venv" / "bin" / "python"
        return (
            run(
                [python, "manage.py", *args],
                env=self.extra["env"],
                inherit_env=False,
                cwd=self.extra["repo_root"],
                timeout=120,
            )
            .stdout.decode()
            .strip()
        )

    def create_user(self, name: str) -> str:
        """Create a (non-staff) user with a random password; return the password."""
        password = secrets.token_urlsafe(16)
        # "--password=…": a random password may start with "-", which argparse
        # would take for an option.
        self.manage("create_user", name, f"--password={password}", f"--email={name}@example.com")
        self.users[name] = password
        return password

    def create_access_token(self, user: str, scope: str) -> str:
        return self.manage("create_access_token", user, "--scope", scope, "--days", "1")

    def forgive_failed_logins(self) -> None:
        """Lift django-axes' record of failed logins: all the clients share one
        address, and after HUB_LOGIN_FAILURE_LIMIT failures it is locked out."""
        if self.target == "hub":
            self.manage("axes_reset")


@dataclass
class Pushed:
    repo: str
    tag: str
    digest: str  # digest of the manifest (or index) as pushed

    def ref(self, registry: Registry) -> str:
        return registry.ref(self.repo, self.tag)


def skopeo_push(
    registry: Registry, src: str, repo: str, tag: str, tmp: Path, *extra: str, user=None
) -> Pushed:
    """Push src to repo:tag as user (default: the registry's pushing user)."""
    bins = require_bins("skopeo")
    digestfile = tmp / f"{repo.replace('/', '_')}_{tag}.digest"
    run(
        [
            bins["skopeo"],
            "copy",
            "--retry-times",
            "0",
            "--dest-tls-verify=false",
            *registry.creds_args("--dest-creds", user),
            "--digestfile",
            digestfile,
            *extra,
            src,
            f"docker://{registry.ref(repo, tag)}",
        ]
    )
    return Pushed(repo, tag, digestfile.read_text().strip())


# --------------------------------------------------------------------------
# Command-line clients


@dataclass
class Tool:
    """A command-line client: its argv prefix and the environment added for it."""

    argv: list
    env: dict

    def __call__(self, *args, timeout: float | None = None, check: bool = True, input=None):
        kw = {} if timeout is None else {"timeout": timeout}
        return run([*self.argv, *args], env=self.env, check=check, input=input, **kw)

    def with_env(self, **env: str) -> Tool:
        return dataclasses.replace(self, env={**self.env, **env})

    def login(self, registry: Registry, user: str, password: str, *flags: str, check=True):
        """`TOOL login [flags] -u USER --password-stdin HOST` (docker, skopeo, buildah, podman)."""
        args = ["login", *flags, "-u", user, "--password-stdin", registry.addr]
        return self(*args, input=f"{password}\n".encode(), check=check, timeout=60)


# How each client says that the registry refused its credentials: containers/
# image's `login` reports a 401 as "invalid username/password"; otherwise the
# registry's UNAUTHORIZED error code is shown.
UNAUTHORIZED = re.compile(r"unauthorized|invalid username/password", re.IGNORECASE)
# How a client reports that the registry refused an action to its credentials
# (or to no credentials): DENIED, or an UNAUTHORIZED challenge it cannot meet.
REFUSED = re.compile(r"denied|unauthorized", re.IGNORECASE)


def assert_refused(proc: subprocess.CompletedProcess, pattern: re.Pattern = UNAUTHORIZED):
    """proc failed, and its stderr says why (pattern)."""
    stderr = _text(proc.stderr)
    assert proc.returncode != 0, f"expected a failure, got rc=0:\n{_text(proc.stdout)}\n{stderr}"
    assert pattern.search(stderr), (
        f"rc={proc.returncode}, stderr lacks {pattern.pattern!r}:\n{stderr}"
    )


def docker_without_daemon(config: Path) -> Tool:
    """The docker CLI with its own DOCKER_CONFIG and no daemon to reach: `docker
    login` then checks the credentials itself and stores them in config."""
    cli = require_bins("docker")["docker"]
    return Tool(
        [cli],
        {"DOCKER_CONFIG": str(config), "DOCKER_HOST": "unix:///nonexistent/hub-e2e-no-daemon.sock"},
    )


def login_push_pull_logout(tool: Tool, registry: Registry, src: str, repo: str) -> str:
    """With buildah or podman (credentials in REGISTRY_AUTH_FILE): log in as the
    pushing user, push src to repo:1, drop every local image, pull repo:1 back and
    log out; then a push is refused. Returns the digest pushed."""
    tls = "--tls-verify=false"
    auth_file = Path(tool.env["REGISTRY_AUTH_FILE"])
    login = tool.login(registry, registry.user, registry.users[registry.user], tls)
    assert "Login Succeeded" in login.stdout.decode()
    assert registry.addr in json.loads(auth_file.read_text())["auths"]
    target = registry.ref(repo, "1")
    digestfile = auth_file.with_name("digest")
    image_id = tool("pull", "-q", src).stdout.decode().strip()
    tool("push", tls, "--digestfile", digestfile, image_id, f"docker://{target}")
    tool("rmi", "--all", "--force")
    tool("pull", tls, target)
    tool("logout", registry.addr)
    after = tool("push", tls, target, f"docker://{registry.ref(repo, 'anonymous')}", check=False)
    assert_refused(after, REFUSED)
    return digestfile.read_text().strip()


def create_database(server_url: str, prefix: str = "hub_e2e") -> tuple[str, callable]:
    """A new database <prefix>_<random> on the PostgreSQL server of server_url;
    returns (url, drop)."""
    import psycopg2

    parts = urllib.parse.urlsplit(server_url)
    name = f"{prefix}_{secrets.token_hex(6)}"
    admin_url = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    conn = psycopg2.connect(admin_url, connect_timeout=10)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()

    def drop():
        conn = psycopg2.connect(admin_url, connect_timeout=10)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()

    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}")), drop
