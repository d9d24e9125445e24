"""Automated builds: the time from a GitHub push webhook to the pushed image.

Starts Hub as production runs builds (gunicorn through `manage.py serve
--no-worker`, a Celery worker for the builds queue and one with beat, on a
fresh PostgreSQL database and Redis), with a fake GitHub on 127.0.0.1 that
serves the source repository over git's smart HTTP. A public busybox image
is pushed into Hub as the base. Then, --builds times: commit a change to a
small Dockerfile (FROM the base, RUN echo N > /n), deliver the signed push
webhook, and time until HEAD /v2/<repository>/manifests/latest answers the
new digest. Every build must succeed; its phases' durations are shown too.

    .venv/bin/python bench/builds.py [--builds 10]

HUB_BENCH_POSTGRES names the PostgreSQL server (default
postgres://postgres@127.0.0.1:5432), HUB_BENCH_REDIS the Redis server
(default redis://127.0.0.1:6379; an empty database 1-15 is used). Needs
buildah, git and busybox-static (/bin/busybox). Server logs go to
bench/out/builds-*.log, the table to bench/out/builds.md.
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from run import MANIFEST_V2, OUT, Side, cpu_model, push_blob

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.build_fixtures import BuildHub  # noqa: E402

TARGET_P50_S = 5.0
BUSYBOX = Path("/bin/busybox")
BASE = "builder/busybox"
POLL_SECONDS = 0.05


# --- the base image --------------------------------------------------------------


def busybox_layer():
    """A root file system with a static busybox and its applets, as a tar."""
    applets = subprocess.run(
        [BUSYBOX, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    tar = io.BytesIO()

    def add(name, kind=tarfile.DIRTYPE, mode=0o755, data=b"", target=""):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime, info.linkname = kind, mode, 0, target
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        archive.addfile(info, io.BytesIO(data) if data else None)

    with tarfile.open(fileobj=tar, mode="w") as archive:
        for directory in ("bin", "dev", "etc", "proc", "root", "sys", "usr", "usr/bin", "var"):
            add(directory)
        add("tmp", mode=0o1777)
        add("bin/busybox", tarfile.REGTYPE, data=BUSYBOX.read_bytes())
        for applet in applets:
            if applet != "busybox":
                add(f"bin/{applet}", tarfile.SYMTYPE, 0o777, target="busybox")
        add("etc/passwd", tarfile.REGTYPE, 0o644, b"root:x:0:0:root:/root:/bin/sh\n")
        add("etc/group", tarfile.REGTYPE, 0o644, b"root:x:0:\n")
    return tar.getvalue()


def push_base_image(side, repository):
    """builder/busybox:latest, a Docker schema2 image of one layer."""
    layer_tar = busybox_layer()
    layer = gzip.compress(layer_tar, mtime=0)
    architecture = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "amd64")
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()],
            },
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": push_blob(side, repository, config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": push_blob(side, repository, layer),
                }
            ],
        }
    ).encode()
    side.call(
        "PUT",
        f"/v2/{repository}/manifests/latest",
        201,
        data=manifest,
        headers={"Content-Type": MANIFEST_V2},
    )


# --- one build -------------------------------------------------------------------


def seconds(start, end):
    return None if start is None or end is None else (end - start).total_seconds()


def timed_build(hub, config, number, timeout):
    """Commit, deliver the webhook, wait for the new digest; returns the figures."""
    dockerfile = f"FROM {hub.addr}/{BASE}\nRUN echo {number} > /n\n"
    message = f"Build number {number}"
    sha = config.source.commit({"Dockerfile": dockerfile}, message)
    before = hub.manifest_digest(config.repository, "latest")
    started = time.perf_counter()
    response = hub.push_branch(config, sha, message)
    if response.status_code != 202:
        raise RuntimeError(f"webhook answered {response.status_code}: {response.text[:300]}")
    build_id = response.json()["builds"][0]["id"]
    deadline = started + timeout
    while True:
        digest = hub.manifest_digest(config.repository, "latest")
        if digest is not None and digest != before:
            elapsed = time.perf_counter() - started
            break
        if time.perf_counter() > deadline:
            row = hub.build(build_id)
            raise RuntimeError(
                f"build {number} ({build_id}) is {row['phase']} after {timeout} s: "
                f"{row['failure_reason']}\n{hub.build_log(build_id)[-3000:]}"
            )
        if hub.build(build_id)["phase"] in ("failed", "canceled"):
            break
        time.sleep(POLL_SECONDS)
    row = hub.wait_build(build_id, timeout=timeout)
    if row["phase"] != "success" or row["image_digest"] != digest:
        raise RuntimeError(
            f"build {number} ({build_id}) ended {row['phase']} (digest {row['image_digest']!r}, "
            f"registry {digest!r}): {row['failure_reason']}\n{hub.build_log(build_id)[-3000:]}"
        )
    return {
        "total": elapsed,
        "queued": seconds(row["queued_at"], row["cloning_at"]),
        "clone": seconds(row["cloning_at"], row["building_at"]),
        "build": seconds(row["building_at"], row["pushing_at"]),
        "push": seconds(row["pushing_at"], row["finished_at"]),
    }


# --- report ----------------------------------------------------------------------


def percentile(values, fraction):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * fraction) - 1)]


def report(results, args, hub_url):
    keys = [
        ("total", "webhook to pullable image"),
        ("queued", "  queued (webhook received to clone start)"),
        ("clone", "  clone"),
        ("build", "  buildah bud"),
        ("push", "  push and record"),
    ]
    header = ("figure (seconds)", "p50", "p95", "min", "max")
    rows = []
    for key, label in keys:
        values = [r[key] for r in results if r[key] is not None]
        if values:
            figures = [statistics.median(values), percentile(values, 0.95), min(values)]
            rows.append((label, *[f"{v:.2f}" for v in [*figures, max(values)]]))
    buildah = subprocess.run(["buildah", "--version"], capture_output=True, text=True)
    meta = [
        f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine: {platform.machine()}, nproc {os.cpu_count()}, CPU {cpu_model()}",
        f"Hub: manage.py serve --no-worker at {hub_url}, one builds worker (concurrency 1), "
        "one worker with beat; PostgreSQL, Redis",
        f"{buildah.stdout.strip()}, chroot isolation, vfs storage, layer cache on (default rule)",
        f"{len(results)} builds, one after another, of FROM {BASE} + RUN echo N > /n; the first "
        "one starts with an empty cache",
        f"first build: {results[0]['total']:.2f} s",
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    text = ["", *meta, ""]
    for row in [header, ["-" * w for w in widths], *rows]:
        cells = [c.rjust(w) for c, w in zip(row, widths, strict=True)]
        text.append("  ".join([row[0].ljust(widths[0]), *cells[1:]]))
    p50 = statistics.median(r["total"] for r in results)
    verdict = "met" if p50 <= TARGET_P50_S else "MISSED"
    text.append(
        f"target p50 <= {TARGET_P50_S:.0f} s from webhook to image: {verdict} ({p50:.2f} s)"
    )
    print("\n".join(text))

    md = ["# Automated builds: webhook to pushed image", "", *[f"- {m}" for m in meta], ""]
    md += ["| " + " | ".join(header) + " |", "|---|---:|---:|---:|---:|"]
    md += ["| " + " | ".join(cell.strip() for cell in row) + " |" for row in rows]
    md += ["", f"Target p50 ≤ {TARGET_P50_S:.0f} s: {verdict} ({p50:.2f} s)."]
    (OUT / "builds.md").write_text("\n".join(md) + "\n")
    print(f"\nwrote {OUT / 'builds.md'}")
    return p50 <= TARGET_P50_S


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--builds", type=int, default=10, help="builds to time (1-100)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed per build")
    args = parser.parse_args()
    args.builds = max(1, min(args.builds, 100))
    missing = [name for name in ("buildah", "git") if shutil.which(name) is None]
    if missing or not BUSYBOX.exists():
        missing += [] if BUSYBOX.exists() else ["busybox-static"]
        print(f"missing: {', '.join(missing)} (scripts/setup-debian test installs them)")
        return 2

    OUT.mkdir(parents=True, exist_ok=True)
    postgres = os.environ.get("HUB_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    redis = os.environ.get("HUB_BENCH_REDIS", "redis://127.0.0.1:6379")
    with tempfile.TemporaryDirectory(prefix="hub-bench-builds-") as tmp:
        hub = BuildHub(Path(tmp), postgres, redis_url=redis, logs=OUT, log_prefix="builds-")
        try:
            hub.start()
            print(f"Hub at {hub.url}, fake GitHub at {hub.github.url}", flush=True)
            password = hub.create_user("builder")
            side = Side("Hub", hub.url, None, None, ("builder", password))
            push_base_image(side, BASE)
            source = hub.github.create_repository("bench/small")
            config = hub.configure_builds(user="builder", name="small", source=source)
            results = []
            for number in range(1, args.builds + 1):
                results.append(timed_build(hub, config, number, args.timeout))
                print(f"build {number}: {results[-1]['total']:.2f} s", flush=True)
            hub.check_alive()
        finally:
            hub.stop()
    return 0 if report(results, args, hub.url) else 1


if __name__ == "__main__":
    sys.exit(main())
