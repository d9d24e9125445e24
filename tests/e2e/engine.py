"""A private Docker engine, and Hub's container image built and run on it;
for the end-to-end tests and for `make bench`.

The engine has its own socket, data and exec roots and no bridge network:
containers use ``--network host``. This machine cannot pull images, so the
Dockerfile's base, debian:bookworm-slim, is made from Debian's packages
(debootstrap, then `docker import` under that name), and the same
Dockerfile builds unchanged where the real base exists."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from .helpers import Tool, free_port, kill_process_group, require_bins, run, tail, umount_under

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE = "debian:bookworm-slim"
HUB_IMAGE = "hub-e2e/hub:latest"
# Kept between runs (images and the build's layer cache): see image_engine.
IMAGE_ENGINE_ROOT = Path(os.environ.get("HUB_TEST_DOCKER_ROOT", "/var/tmp/hub-tests/docker"))
# What this machine trusts for TLS; its network may inspect TLS with a CA of its own.
HOST_TRUST = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))


@dataclass
class Docker(Tool):
    """The docker CLI talking to the private dockerd; its credentials are those
    `docker login` stored in its DOCKER_CONFIG (change it with with_env)."""

    root: Path
    log_path: Path
    process: subprocess.Popen | None = field(default=None, compare=False)


class EngineFailed(RuntimeError):
    pass


@contextmanager
def private_dockerd(*flags: str, name: str = "dockerd", data_root: Path | None = None):
    """Start a dockerd of our own (``flags`` added to its command line,
    ``data_root`` to keep its images); yield a Docker; stop it."""
    bins = require_bins("dockerd", "docker", "containerd", "runc")
    # Short path: unix socket paths are limited to 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="hub-e2e-docker-", dir="/tmp"))
    for d in ("data", "exec", "cli"):
        (root / d).mkdir()
    (root / "daemon.json").write_text("{}")
    sock = root / "docker.sock"
    log = root / "dockerd.log"
    args = [
        bins["dockerd"],
        "--config-file",
        root / "daemon.json",
        "--bridge=none",
        "--iptables=false",
        "--ip-masq=false",
        "--ip6tables=false",
        "--data-root",
        data_root or root / "data",
        "--exec-root",
        root / "exec",
        "--pidfile",
        root / "docker.pid",
        "--host",
        f"unix://{sock}",
        # If a system containerd is running, dockerd uses it: keep our
        # images and containers apart from any other engine's.
        "--containerd-namespace",
        f"hub-e2e-{name}",
        "--containerd-plugins-namespace",
        f"hub-e2e-{name}-plugins",
        *flags,
    ]
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            [str(a) for a in args],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    env = {"DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(root / "cli")}
    docker = Docker([bins["docker"]], env, root, log, proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise EngineFailed(f"dockerd exited with {proc.returncode}:\n{tail(log)}")
            if sock.exists() and docker("version", timeout=20, check=False).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise EngineFailed(f"dockerd did not come up within 60s:\n{tail(log)}")
            time.sleep(0.5)
        yield docker
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # dockerd stops its containerd itself
            try:
                proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                pass
        kill_process_group(proc, term_timeout=5)
        umount_under(root)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def image_engine():
    """The engine that builds and runs Hub's image. Its data root outlives
    the run, so the base and the build's layers are made once per machine;
    one run at a time uses it."""
    import fcntl

    IMAGE_ENGINE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(IMAGE_ENGINE_ROOT.parent / "docker.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        flags = ("--storage-driver", "overlay2")
        with private_dockerd(*flags, name="image-engine", data_root=IMAGE_ENGINE_ROOT) as docker:
            yield docker


def ensure_base(engine: Docker, work: Path) -> None:
    """debian:bookworm-slim, made here from Debian's packages if the engine
    lacks it."""
    if engine("image", "inspect", BASE, check=False).returncode == 0:
        return
    debootstrap = require_bins("debootstrap")["debootstrap"]
    rootfs = work / "rootfs"
    mirror = "http://deb.debian.org/debian"
    run([debootstrap, "--variant=minbase", "bookworm", rootfs, mirror], timeout=900)
    # This machine's trust for TLS, where the build's pip and npm read it; a
    # real base needs none of this.
    shutil.copy(HOST_TRUST, rootfs / "etc" / "ssl" / "host-trust.pem")
    trust = "/etc/ssl/host-trust.pem"
    env = f"ENV SSL_CERT_FILE={trust} PIP_CERT={trust} NODE_EXTRA_CA_CERTS={trust}"
    tar = subprocess.Popen(
        ["tar", "-C", rootfs, "--numeric-owner", "-c", "."], stdout=subprocess.PIPE
    )
    changes = ["--change", 'CMD ["bash"]', "--change", env]
    engine("import", *changes, "-", BASE, input=tar.stdout.read(), timeout=600)
    if tar.wait() != 0:
        raise EngineFailed("tar of the debootstrapped base failed")
    shutil.rmtree(rootfs, ignore_errors=True)


def build_hub_image(engine: Docker) -> str:
    """Hub's image, built from this checkout by its Dockerfile. The legacy
    builder ships with every engine; --network host, as the engine has no
    bridge for the build's apt-get, pip and npm."""
    build = engine.with_env(DOCKER_BUILDKIT="0")
    build("build", "--network", "host", "--tag", HUB_IMAGE, REPO_ROOT, timeout=1800)
    return HUB_IMAGE


class Container:
    """A `docker run -d` of Hub's image on a port of its own (the engine has
    no bridge: HUB_ADDR takes the place of `-p 5000:5000`)."""

    def __init__(self, engine, *, data: Path, env: dict | None = None, args=(), volumes=()):
        self.engine = engine
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = ["run", "-d", "--network", "host", "-e", f"HUB_ADDR=127.0.0.1:{self.port}"]
        for name, value in (env or {}).items():
            argv += ["-e", f"{name}={value}"]
        for volume in [f"{data}:/var/lib/hub", *volumes]:
            argv += ["-v", volume]
        self.id = engine(*argv, HUB_IMAGE, *args).stdout.decode().strip()

    def logs(self) -> str:
        out = self.engine("logs", self.id, check=False)
        return (out.stdout + out.stderr).decode(errors="replace")

    def state(self) -> dict:
        return json.loads(self.engine("inspect", self.id).stdout)[0]["State"]

    def wait_ready(self, timeout=180, **kwargs) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.state()["Running"]:
                raise EngineFailed(f"the container exited:\n{self.logs()}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=5, **kwargs).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or still booting
                pass
            time.sleep(0.2)
        raise EngineFailed(f"not ready within {timeout}s:\n{self.logs()}")

    def stop(self, timeout=30) -> float:
        """`docker stop` (SIGTERM, then SIGKILL after ``timeout``): seconds taken."""
        started = time.monotonic()
        self.engine("stop", "--time", str(timeout), self.id, timeout=timeout + 30)
        return time.monotonic() - started

    def remove(self) -> None:
        self.engine("rm", "--force", self.id, check=False)
