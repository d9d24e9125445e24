"""Hub in its container image against Hub as a bare process, and the
reference registry beside them: what running in a container costs.

    .venv/bin/python bench/container.py [--seconds 10] [--rounds 3]

Figures: the image's size, seconds from start to ready on an empty data
directory (Hub: GET /-/ready answers 200, after migrating; the reference:
GET /v2/ answers 200), and manifest GETs per second (wrk -t2 -c10). The
image is built from this checkout by the Dockerfile on a private Docker
engine (tests/e2e/engine.py, which also makes the base image here from
Debian's packages); the container uses the host's network, as the engine
has no bridge. Both Hubs run the same settings: `serve` with the embedded
default and no demo content. Prints a table and writes it as Markdown to
bench/out/container.md."""

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import requests
from run import (
    OUT,
    Server,
    Side,
    cpu_model,
    free_port,
    manifest_figure,
    push_image,
    start_reference,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.e2e.engine import (  # noqa: E402
    BASE,
    Container,
    build_hub_image,
    ensure_base,
    image_engine,
)

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-container-password"


def until_ready(url, path, alive, timeout=300):
    """Seconds until GET url+path answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        alive()
        try:
            if requests.get(url + path, timeout=2).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:  # not listening yet, or its workers still booting
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url}{path} not 200 within {timeout}s")


def start_bare(tmp, settings):
    """`manage.py serve` as `make run` runs it, without the demo content."""
    addr = f"127.0.0.1:{free_port()}"
    data = Path(tempfile.mkdtemp(dir=tmp, prefix="bare-"))
    env = dict(os.environ, HUB_ADDR=addr, HUB_DATA_DIR=str(data), HUB_DEMO="false")
    env.update(HUB_ADMIN_PASSWORD=PASSWORD, PYTHONUNBUFFERED="1", **settings)
    for var in ("DJANGO_SETTINGS_MODULE", "HUB_DATABASE_URL"):
        env.pop(var, None)
    argv = [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "serve"]
    return Server(argv, f"http://{addr}", "container-bare.log", cwd=ROOT, env=env)


def measure_start(engine, tmp, rounds, settings):
    """Best start-to-ready of each over ``rounds`` cold starts."""
    best = {}
    for _ in range(rounds):
        bare = start_bare(tmp, settings)
        try:
            seconds = until_ready(bare.url, "/-/ready", bare.check_alive)
        finally:
            bare.stop()
        best["bare"] = min(best.get("bare", seconds), seconds)

        data = Path(tempfile.mkdtemp(dir=tmp, prefix="container-"))
        started = time.monotonic()
        container = Container(engine, data=data, env={"HUB_ADMIN_PASSWORD": PASSWORD, **settings})
        try:
            container.wait_ready(timeout=300)
            seconds = time.monotonic() - started
        finally:
            container.remove()
        best["container"] = min(best.get("container", seconds), seconds)

        reference = start_reference(tmp, f"reference-{len(best)}-{time.monotonic_ns()}")
        try:
            seconds = until_ready(reference.url, "/v2/", reference.check_alive)
        finally:
            reference.stop()
        best["reference"] = min(best.get("reference", seconds), seconds)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per figure")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best is kept")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="HUB_NAME=VALUE",
        help="a setting for both Hubs, e.g. HUB_WEB_ACCESS_LOG=0 (repeatable)",
    )
    args = parser.parse_args()
    settings = dict(setting.split("=", 1) for setting in args.setting)
    OUT.mkdir(parents=True, exist_ok=True)

    with (
        tempfile.TemporaryDirectory(prefix="hub-bench-container-") as tmp,
        image_engine() as engine,
    ):
        tmp = Path(tmp)
        ensure_base(engine, tmp)
        image = build_hub_image(engine)
        size_mb = json.loads(engine("image", "inspect", image).stdout)[0]["Size"] / 1e6
        base_mb = json.loads(engine("image", "inspect", BASE).stdout)[0]["Size"] / 1e6
        starts = measure_start(engine, tmp, args.rounds, settings)

        bare_server = start_bare(tmp, settings)
        data = Path(tempfile.mkdtemp(dir=tmp, prefix="container-"))
        container = Container(engine, data=data, env={"HUB_ADMIN_PASSWORD": PASSWORD, **settings})
        reference = start_reference(tmp, "reference")
        try:
            until_ready(bare_server.url, "/-/ready", bare_server.check_alive)
            container.wait_ready(timeout=300)
            until_ready(reference.url, "/v2/", reference.check_alive)
            credentials = ("admin", PASSWORD)
            sides = [
                Side("container", container.url, None, None, credentials),
                Side("bare", bare_server.url, bare_server.proc.pid, bare_server, credentials),
                Side("reference", reference.url, reference.proc.pid, reference),
            ]
            for side in sides:
                side.manifest_digest = push_image(side, "bench/image", ["latest"])
            for round_number in range(args.rounds):
                order = sides if round_number % 2 == 0 else sides[::-1]
                for side in order:
                    side.run("manifest", manifest_figure, args.seconds)
        finally:
            container.remove()
            bare_server.stop()
            reference.stop()

    container_side, bare, ref = sides
    rows = [
        ("image size (MB)", size_mb, None, None),
        ("start to ready, empty data (s)", starts["container"], starts["bare"],
         starts["reference"]),
        ("manifest GET by tag (req/s)", container_side.results.get("manifest"),
         bare.results.get("manifest"), ref.results.get("manifest")),
    ]  # fmt: skip

    def fmt(value):
        return "-" if value is None else f"{value:.2f}" if value < 100 else f"{value:.1f}"

    def ratio(a, b):
        return "-" if a is None or b is None else f"{a / b:.2f}"

    header = "| figure | container | bare process | reference | container/bare |"
    lines = [header, "|---|---|---|---|---|"]
    for name, in_container, bare_value, ref_value in rows:
        lines.append(
            f"| {name} | {fmt(in_container)} | {fmt(bare_value)} | {fmt(ref_value)} "
            f"| {ratio(in_container, bare_value)} |"
        )
    notes = [note for side in sides for note in side.notes]
    text = "\n".join(
        [
            f"# Hub in a container, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
            f"best of {args.rounds} rounds, wrk -t2 -c10 for {args.seconds} s."
            + (f" Settings: {' '.join(args.setting)}." if args.setting else ""),
            "",
            *lines,
            "",
            *(f"- {note}" for note in notes),
        ]
    )
    text += f"\nThe image's base here ({BASE}, from debootstrap) is {base_mb:.0f} MB of it.\n"
    print(text)
    (OUT / "container.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
