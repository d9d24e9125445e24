"""Fixtures for the end-to-end tests that drive real registry clients.

Target selection (env HUB_E2E_TARGET):
  hub (default)  start Hub with `make run` (HUB_ADDR / HUB_DATA_DIR / HUB_DATABASE_URL)
  reference      start Debian's reference registry (/usr/bin/docker-registry)
  external       use an already running registry at HUB_E2E_ADDR (host:port), pushing
                 as HUB_E2E_USERNAME / HUB_E2E_PASSWORD into that user's namespace

Hub is started with HUB_ADMIN_PASSWORD (a random one) and the tests create the
user `alice` with `manage.py create_user`; they push as alice into `alice/...`.

Other knobs:
  HUB_TEST_DATABASE_URL      postgres://... server on which a fresh hub_e2e_<random>
                             database is created for Hub (dropped afterwards);
                             unset -> Hub uses SQLite in HUB_DATA_DIR.
  HUB_E2E_STARTUP_TIMEOUT    seconds to wait for GET /v2/ == 200 (default 300).
  HUB_E2E_CMD_TIMEOUT        per client command timeout (default 180).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from .build_fixtures import build_hub  # noqa: F401  (the automated-build tests' Hub)
from .engine import Docker, private_dockerd
from .helpers import (
    OCI_INDEX,
    Pushed,
    Registry,
    Tool,
    create_database,
    docker_without_daemon,
    free_port,
    kill_process_group,
    layout_blob,
    layout_json,
    layout_ref,
    log_summary,
    read_layout_index,
    require_bins,
    run,
    sha256_bytes,
    skopeo_push,
    tail,
    umount_under,
    wait_for_v2,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = float(os.environ.get("HUB_E2E_STARTUP_TIMEOUT", "300"))

# Logs of servers started by the fixtures; their new output is attached to
# the report of a failing test.
_SERVER_LOGS: dict[str, Path] = {}
# Server processes started by the fixtures, to notice when one has died.
_SERVER_PROCS: dict[str, subprocess.Popen] = {}
_LOG_OFFSETS = pytest.StashKey[dict]()


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end test driving real registry clients (slow)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_LOG_OFFSETS] = {name: _size(p) for name, p in _SERVER_LOGS.items()}
    # Fail fast, with the cause, once a server started by a fixture has died
    # (rather than have every later client time out on a closed port).
    for name, proc in _SERVER_PROCS.items():
        if proc.poll() is not None:
            log = _SERVER_LOGS.get(name)
            pytest.fail(
                f"{name} exited earlier in this session with status {proc.returncode}"
                f" (log: {log})\n{log_summary(log)}",
                pytrace=False,
            )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, proc in _SERVER_PROCS.items():
            if proc.poll() is not None:
                report.sections.append(
                    (f"{name} is not running", f"{name} exited with status {proc.returncode}")
                )
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for name, path in _SERVER_LOGS.items():
            report.sections.append(
                (f"{name} log during this test ({path})", tail(path, offsets.get(name, 0)))
            )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --------------------------------------------------------------------------
# The registry under test


REFERENCE_CONFIG = """\
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  headers:
    X-Content-Type-Options: [nosniff]
"""


def _start_reference(tmp: Path) -> tuple[Registry, subprocess.Popen]:
    bins = require_bins("docker-registry")
    port = free_port()
    (tmp / "storage").mkdir()
    cfg = tmp / "config.yml"
    cfg.write_text(REFERENCE_CONFIG.format(root=tmp / "storage", port=port))
    log = tmp / "registry.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            [bins["docker-registry"], "serve", str(cfg)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Registry("reference", f"127.0.0.1:{port}", log), proc


def _start_hub(tmp: Path) -> tuple[Registry, subprocess.Popen, callable | None]:
    require_bins("make")
    if not (REPO_ROOT / "Makefile").exists():
        pytest.fail(
            f"HUB_E2E_TARGET=hub but {REPO_ROOT}/Makefile does not exist (no `make run`)",
            pytrace=False,
        )
    port = free_port()
    addr = f"127.0.0.1:{port}"
    data_dir = tmp / "data"
    data_dir.mkdir()
    env = dict(os.environ)
    # Hub must run as `make run` runs it for a user, not with the settings
    # pytest-django put into this process's environment (hub.settings.test).
    for var in ("HUB_DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTEST_CURRENT_TEST"):
        env.pop(var, None)
    admin_password = secrets.token_urlsafe(16)
    env.update(
        HUB_ADDR=addr,
        HUB_DATA_DIR=str(data_dir),
        HUB_ADMIN_PASSWORD=admin_password,
        PYTHONUNBUFFERED="1",
    )
    # gunicorn reads extra options from the environment: an access log makes
    # the request/response sequence of a failing test visible in its report.
    env.setdefault("GUNICORN_CMD_ARGS", "--access-logfile - --log-level info")
    drop = None
    db_url = os.environ.get("HUB_TEST_DATABASE_URL")
    if db_url:
        env["HUB_DATABASE_URL"], drop = create_database(db_url)
    log = tmp / "hub.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            ["make", "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    # `env` is also how the tests run manage.py against this Hub.
    reg = Registry(
        "hub",
        addr,
        log,
        extra={"data_dir": data_dir, "env": env, "repo_root": REPO_ROOT},
        users={"admin": admin_password},
    )
    return reg, proc, drop


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Registry:
    """The registry under test, started once per session."""
    target = os.environ.get("HUB_E2E_TARGET", "hub").strip().lower()
    tmp = tmp_path_factory.mktemp(f"registry-{target}")
    proc = None
    drop = None
    if target == "reference":
        reg, proc = _start_reference(tmp)
        what = "docker-registry"
    elif target == "hub":
        reg, proc, drop = _start_hub(tmp)
        what = "`make run`"
    elif target == "external":
        addr = os.environ.get("HUB_E2E_ADDR")
        if not addr:
            pytest.fail("HUB_E2E_TARGET=external needs HUB_E2E_ADDR=host:port", pytrace=False)
        reg = Registry("external", addr)
        if user := os.environ.get("HUB_E2E_USERNAME"):
            reg.users[user] = os.environ.get("HUB_E2E_PASSWORD", "")
            reg.user = user
        what = "external registry"
    else:
        pytest.fail(f"unknown HUB_E2E_TARGET={target!r} (hub, reference, external)", pytrace=False)

    if reg.log_path:
        _SERVER_LOGS[reg.target] = reg.log_path
    if proc is not None:
        _SERVER_PROCS[reg.target] = proc
    try:
        try:
            wait_for_v2(
                reg.url,
                STARTUP_TIMEOUT,
                alive=(lambda: proc.poll() is None) if proc else (lambda: True),
                what=what,
            )
        except RuntimeError as exc:
            log = tail(reg.log_path) if reg.log_path else ""
            pytest.fail(f"{exc}\n--- {what} output ---\n{log}", pytrace=False)
        if target == "hub":
            reg.create_user("alice")
            reg.user = "alice"
        yield reg
    finally:
        if proc is not None:
            kill_process_group(proc)
        if drop is not None:
            try:
                drop()
            except Exception as exc:  # pragma: no cover - best effort cleanup
                print(f"warning: could not drop e2e database: {exc}")
        _SERVER_LOGS.pop(reg.target, None)
        _SERVER_PROCS.pop(reg.target, None)


# --------------------------------------------------------------------------
# Images built offline from busybox-static


@dataclass
class ImageInfo:
    ref: str  # ref.name in the OCI layout
    manifest_digest: str
    manifest_bytes: bytes
    manifest: dict
    config_digest: str
    config: dict
    layer_digests: list[str]


@dataclass
class BaseImages:
    layout: Path  # OCI image layout directory
    rootfs: Path  # unpacked rootfs of the base image
    rootfs_tar: Path  # plain tar of the rootfs (for `docker import`)
    amd64: ImageInfo  # ref "base"
    arm64: ImageInfo  # ref "base-arm64" (same layer, arm64 config)
    index_digest: str  # ref "multi": OCI index of amd64 + arm64
    index_bytes: bytes

    def oci(self, ref: str) -> str:
        return f"oci:{self.layout}:{ref}"


def _image_info(layout: Path, ref: str) -> ImageInfo:
    desc = layout_ref(layout, ref)
    mbytes = layout_blob(layout, desc["digest"]).read_bytes()
    manifest = json.loads(mbytes)
    return ImageInfo(
        ref=ref,
        manifest_digest=desc["digest"],
        manifest_bytes=mbytes,
        manifest=manifest,
        config_digest=manifest["config"]["digest"],
        config=layout_json(layout, manifest["config"]["digest"]),
        layer_digests=[layer["digest"] for layer in manifest["layers"]],
    )


@pytest.fixture(scope="session")
def base_images(tmp_path_factory) -> BaseImages:
    """OCI layout with a busybox-static image (amd64), an arm64 twin and an index."""
    bins = require_bins("umoci")
    busybox = "/bin/busybox"
    if not os.access(busybox, os.X_OK):
        pytest.skip("/bin/busybox (busybox-static) not installed")
    umoci = bins["umoci"]
    work = tmp_path_factory.mktemp("images")
    layout = work / "oci"
    bundle = work / "bundle"

    run([umoci, "init", "--layout", layout])
    run([umoci, "new", "--image", f"{layout}:base"])
    run([umoci, "unpack", "--rootless", "--image", f"{layout}:base", bundle])
    rootfs = bundle / "rootfs"
    for d in (
        "bin",
        "sbin",
        "etc",
        "tmp",
        "root",
        "proc",
        "sys",
        "dev",
        "var",
        "usr/bin",
        "usr/sbin",
    ):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    os.chmod(rootfs / "tmp", 0o1777)
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    os.chmod(rootfs / "bin" / "busybox", 0o755)
    applets = run([busybox, "--list"]).stdout.decode().split()
    assert "sh" in applets and "echo" in applets, applets
    for applet in applets:
        if applet != "busybox":
            link = rootfs / "bin" / applet
            if not link.exists():
                link.symlink_to("busybox")
    (rootfs / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
    )
    (rootfs / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (rootfs / "etc" / "e2e-release").write_text("hub e2e busybox base\n")
    run([umoci, "repack", "--image", f"{layout}:base", bundle])
    run(
        [
            umoci,
            "config",
            "--image",
            f"{layout}:base",
            "--config.cmd",
            "/bin/sh",
            "--config.env",
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--os",
            "linux",
            "--architecture",
            "amd64",
        ]
    )
    # Same layer bytes, arm64 config (the binary is amd64, but only the
    # metadata matters to the registry).
    run(
        [
            umoci,
            "config",
            "--image",
            f"{layout}:base",
            "--tag",
            "base-arm64",
            "--architecture",
            "arm64",
        ]
    )
    run([umoci, "gc", "--layout", layout])

    amd64 = _image_info(layout, "base")
    arm64 = _image_info(layout, "base-arm64")
    assert amd64.layer_digests == arm64.layer_digests
    assert amd64.config["architecture"] == "amd64" and arm64.config["architecture"] == "arm64"
    assert amd64.manifest_digest != arm64.manifest_digest

    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": img.manifest["mediaType"]
                if "mediaType" in img.manifest
                else "application/vnd.oci.image.manifest.v1+json",
                "digest": img.manifest_digest,
                "size": len(img.manifest_bytes),
                "platform": {"architecture": arch, "os": "linux"},
            }
            for img, arch in ((amd64, "amd64"), (arm64, "arm64"))
        ],
    }
    index_bytes = json.dumps(index, separators=(",", ":")).encode()
    index_digest = sha256_bytes(index_bytes)
    layout_blob(layout, index_digest).write_bytes(index_bytes)
    top = read_layout_index(layout)
    top["manifests"].append(
        {
            "mediaType": OCI_INDEX,
            "digest": index_digest,
            "size": len(index_bytes),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }
    )
    (layout / "index.json").write_text(json.dumps(top))

    rootfs_tar = work / "rootfs.tar"
    with tarfile.open(rootfs_tar, "w") as tf:
        for child in sorted(rootfs.iterdir()):
            tf.add(child, arcname=child.name, filter=_root_owned)

    return BaseImages(
        layout=layout,
        rootfs=rootfs,
        rootfs_tar=rootfs_tar,
        amd64=amd64,
        arm64=arm64,
        index_digest=index_digest,
        index_bytes=index_bytes,
    )


def _root_owned(info):
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


# --------------------------------------------------------------------------
# Images pushed once per session and shared by several tests


@pytest.fixture(scope="session")
def pushed_base(registry, base_images, tmp_path_factory) -> Pushed:
    """<ns>/base:latest in Docker schema2 format (the FROM of the buildah test)."""
    tmp = tmp_path_factory.mktemp("pushed-base")
    return skopeo_push(
        registry, base_images.oci("base"), f"{registry.ns}/base", "latest", tmp, "--format", "v2s2"
    )


@pytest.fixture(scope="session")
def pushed_multi(registry, base_images, tmp_path_factory) -> Pushed:
    """<ns>/multi:latest: OCI index with linux/amd64 and linux/arm64."""
    tmp = tmp_path_factory.mktemp("pushed-multi")
    return skopeo_push(
        registry, base_images.oci("multi"), f"{registry.ns}/multi", "latest", tmp, "--all"
    )


@pytest.fixture
def forgive_failures(registry):
    """For a test that sends wrong credentials: afterwards, forget the failed logins."""
    yield
    registry.forgive_failed_logins()


@pytest.fixture
def requires_user(registry):
    """The name of the user the tests push as; skip on a registry without accounts."""
    if not registry.user:
        pytest.skip(f"the {registry.target} registry under test has no accounts")
    return registry.user


# --------------------------------------------------------------------------
# buildah and podman, each with its own storage and configuration


def _containers_tool(name: str, tmp: Path, runroot: Path, *flags: str, **env: str) -> Tool:
    """buildah or podman storing images (vfs) and credentials (REGISTRY_AUTH_FILE) under tmp."""
    binary = require_bins(name)[name]
    root = tmp / "storage"
    (tmp / "home").mkdir(parents=True)
    (tmp / "xdg").mkdir(mode=0o700)
    (tmp / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root}"\nrunroot = "{runroot}"\n'
    )
    (tmp / "auth.json").write_text('{"auths": {}}')  # with --creds too, it must exist
    env = {
        # Keep the tool away from the user's configuration.
        "CONTAINERS_STORAGE_CONF": str(tmp / "storage.conf"),
        "HOME": str(tmp / "home"),
        "XDG_RUNTIME_DIR": str(tmp / "xdg"),
        "REGISTRY_AUTH_FILE": str(tmp / "auth.json"),
        **env,
    }
    argv = [binary, "--root", root, "--runroot", runroot, "--storage-driver", "vfs"]
    return Tool([*argv, *flags], env)


@pytest.fixture
def buildah(tmp_path):
    tmp = tmp_path / "buildah"
    tool = _containers_tool("buildah", tmp, tmp / "run", BUILDAH_ISOLATION="chroot")
    yield tool
    # vfs layers are plain directories, but unmount anything buildah left behind.
    tool("rm", "--all", check=False, timeout=60)


@pytest.fixture
def podman(tmp_path):
    # podman refuses a runroot path longer than 50 characters.
    runroot = Path(tempfile.mkdtemp(prefix="hub-e2e-podman-", dir="/tmp"))
    # Without systemd or journald here, podman keeps its cgroups with cgroupfs
    # and its events in a file (it picks both by itself here; say so anyway).
    flags = ("--cgroup-manager", "cgroupfs", "--events-backend", "file")
    tool = _containers_tool("podman", tmp_path / "podman", runroot, *flags)
    yield tool
    tool("rm", "--all", "--force", check=False, timeout=60)
    umount_under(runroot)
    shutil.rmtree(runroot, ignore_errors=True)


# --------------------------------------------------------------------------
# A private Docker engine


@pytest.fixture(scope="session")
def dockerd(registry) -> Docker:
    flags = ("--insecure-registry", registry.addr, "--storage-driver", "vfs")
    with private_dockerd(*flags) as docker:
        _SERVER_LOGS["dockerd"] = docker.log_path
        _SERVER_PROCS["dockerd"] = docker.process
        try:
            if registry.user:
                docker_without_daemon(docker.root / "cli").login(
                    registry, registry.user, registry.users[registry.user]
                )
            yield docker
        finally:
            _SERVER_LOGS.pop("dockerd", None)
            _SERVER_PROCS.pop("dockerd", None)
