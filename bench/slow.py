"""Many slow clients at once: Hub against the reference registry (distribution 2.8).

    .venv/bin/python bench/slow.py                 # Hub (`make run`) vs reference
    .venv/bin/python bench/slow.py --downloaders 32 --rate 16M

While DOWNLOADERS clients each download a BLOB_MB blob and UPLOADERS clients
each upload one, every client limited to RATE by curl's --limit-rate (a
client on a slow link), one more client asks for a manifest and for a token
in turn, one request at a time, and records how long each took. Printed for
each server: those latencies (median, p99, max), the rate each transfer
reached (the slowest, the median, and how many reached 90 % of RATE), and
the growth of the server's resident memory over all its processes, whole
and per connection. Rounds alternate which server goes first.

Hub is asked as a Docker client asks: a bearer token from GET /token for the
pushes, anonymous pulls of a public repository. Its token figure is GET
/token with the admin's Basic credentials; the reference has no token
service, so its figure is a GET /v2/ (the request a client sends before it
asks for a token).

The output goes to the terminal and, as Markdown, to bench/out/slow.md.
"""

import argparse
import datetime
import os
import platform
import secrets
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urljoin

import requests
from run import (
    HUB_SERVICE,
    MANIFEST_V2,
    MB,
    OUT,
    TIMEOUT,
    RssSampler,
    Side,
    cpu_model,
    push_image,
    start_hub,
    start_reference,
    wait_ready,
    write_random_file,
)

PROBE_PAUSE = 0.02  # seconds between two probe requests


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Probe(threading.Thread):
    """Asks, one request at a time, for the manifest and the token (or /v2/)
    until stopped, keeping each request's duration in milliseconds."""

    def __init__(self, side, token_request):
        super().__init__(daemon=True)
        self.side, self.token_request = side, token_request
        self.times = {"manifest": [], "token": []}
        self.errors = []
        self.done = threading.Event()
        self.session = requests.Session()
        self.session.trust_env = False

    def run(self):
        manifest = self.side.url + "/v2/bench/image/manifests/latest"
        while not self.done.is_set():
            for key, call in (
                ("manifest", lambda: self.session.get(manifest, headers={"Accept": MANIFEST_V2})),
                ("token", lambda: self.token_request(self.session)),
            ):
                started = time.perf_counter()
                try:
                    status = call().status_code
                except requests.RequestException as exc:
                    status = type(exc).__name__
                self.times[key].append((time.perf_counter() - started) * 1000)
                if status != 200:
                    self.errors.append(f"{key}: {status}")
                self.done.wait(PROBE_PAUSE)

    def stop(self):
        self.done.set()
        self.join(timeout=30)


def hub_token(side, scope):
    params = {"service": HUB_SERVICE, "scope": scope}
    return side.call("GET", "/token", 200, params=params).json()["token"]


def curl(args, rate):
    """A curl process at ``rate``, printing status, bytes and speed."""
    return subprocess.Popen(
        [
            "curl",
            "-sS",
            "--noproxy",
            "*",
            "--limit-rate",
            rate,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download} %{size_upload} %{speed_download} %{speed_upload}",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def prepare(side, blob_path, blob_digest, is_hub):
    """An image to ask the manifest of, and a blob to download, in public
    repositories."""
    side.manifest_digest = push_image(side, "bench/image", ["latest"])
    push_image(side, "bench/slow", ["seed"])  # Hub shows no repository without an image
    start = side.call("POST", "/v2/bench/slow/blobs/uploads/", 202)
    location = urljoin(start.url, start.headers["Location"])
    with open(blob_path, "rb") as body:
        side.call(
            "PUT",
            location,
            201,
            params={"digest": blob_digest},
            data=body,
            headers={"Content-Type": "application/octet-stream"},
        )


def round_for(side, args, blob_digest, upload_path, upload_digest, is_hub):
    """One round: all transfers at once, with the probe running. Returns the figures."""
    headers = []
    if is_hub:
        token = hub_token(side, "repository:bench/uploads:push,pull")
        headers = ["-H", f"Authorization: Bearer {token}"]
        auth = {"Authorization": f"Bearer {token}"}

        def token_request(session):
            return session.get(
                side.url + "/token",
                params={"service": HUB_SERVICE, "scope": "repository:bench/image:pull"},
                headers={"Authorization": side.session.headers["Authorization"]},
                timeout=TIMEOUT,
            )
    else:
        auth = {}

        def token_request(session):
            return session.get(side.url + "/v2/", timeout=TIMEOUT)

    locations = []
    for _ in range(args.uploaders):
        r = requests.post(
            side.url + "/v2/bench/uploads/blobs/uploads/", headers=auth, timeout=TIMEOUT
        )
        if r.status_code != 202:
            raise RuntimeError(f"POST upload -> {r.status_code}: {r.text[:200]}")
        location = urljoin(r.url, r.headers["Location"])
        separator = "&" if "?" in location else "?"
        locations.append(f"{location}{separator}digest={upload_digest}")

    blob_url = f"{side.url}/v2/bench/slow/blobs/{blob_digest}"
    probe = Probe(side, token_request)
    probe.start()
    time.sleep(1)  # a quiet baseline first
    with RssSampler(side.pid) as rss:
        clients = [curl([blob_url], args.rate) for _ in range(args.downloaders)]
        clients += [
            curl(
                [
                    "-X",
                    "PUT",
                    "-T",
                    str(upload_path),
                    *headers,
                    "-H",
                    "Content-Type: application/octet-stream",
                    location,
                ],
                args.rate,
            )
            for location in locations
        ]
        outputs = [client.communicate() for client in clients]
    probe.stop()

    expected_down = args.blob_mb * MB
    rates, failures = {"download": [], "upload": []}, []
    for i, (out, err) in enumerate(outputs):
        fields = out.split()
        upload = i >= args.downloaders
        if len(fields) != 5:
            failures.append(err.strip() or "no output")
            continue
        status, down, up, speed_down, speed_up = fields
        want_status, got = ("201", int(up)) if upload else ("200", int(down))
        if status != want_status or got != expected_down:
            failures.append(f"{'PUT' if upload else 'GET'} {status}, {got} bytes")
        rates["upload" if upload else "download"].append(float(speed_up if upload else speed_down))
    return {
        "manifest": probe.times["manifest"],
        "token": probe.times["token"],
        "probe_errors": probe.errors,
        "rates": rates,
        "failures": failures,
        "rss": rss.growth_mib() if side.pid else None,
    }


def rate_bytes(rate):
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    return float(rate[:-1]) * units[rate[-1].upper()] if rate[-1].upper() in units else float(rate)


def summarize(label, figures, args):
    connections = args.downloaders + args.uploaders
    limit = rate_bytes(args.rate)
    lines = []
    for key, name in (("manifest", "manifest GET"), ("token", "token (Hub), GET /v2/ (reference)")):
        times = figures[key]
        lines.append(
            f"{label}: {name}: {len(times)} requests, median {statistics.median(times):.1f} ms, "
            f"p99 {percentile(times, 0.99):.1f} ms, max {max(times):.1f} ms"
        )
    for kind, rates in figures["rates"].items():
        if not rates:
            continue
        reached = sum(rate >= 0.9 * limit for rate in rates)
        lines.append(
            f"{label}: {kind}s: slowest {min(rates) / MB:.2f} MB/s, median "
            f"{statistics.median(rates) / MB:.2f} MB/s, {reached} of {len(rates)} at 90 % of "
            f"{args.rate}/s"
        )
    if figures["rss"] is not None:
        lines.append(
            f"{label}: resident memory growth {figures['rss']:.0f} MiB, "
            f"{figures['rss'] * 1024 / connections:.0f} KiB per connection"
        )
    for failure in (figures["failures"] + figures["probe_errors"])[:5]:
        lines.append(f"{label}: failed: {failure}")
    return lines


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--downloaders", type=int, default=200)
    p.add_argument("--uploaders", type=int, default=50)
    p.add_argument("--rate", default="8M", help="each client's limit, as curl's --limit-rate")
    p.add_argument("--blob-mb", type=int, default=64, help="size of each transfer, MB")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--hub-url", help="use this running Hub instead of `make run`")
    p.add_argument("--hub-pid", type=int, help="with --hub-url: its root pid, to sample memory")
    p.add_argument(
        "--hub-admin-password",
        default=os.environ.get("HUB_ADMIN_PASSWORD") or secrets.token_urlsafe(16),
    )
    args = p.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    servers = []
    with tempfile.TemporaryDirectory(prefix="hub-slow-") as tmp:
        tmp = Path(tmp)
        try:
            reference = start_reference(tmp, "reference")
            servers.append(reference)
            credentials = ("admin", args.hub_admin_password)
            if args.hub_url:
                hub = Side("Hub", args.hub_url.rstrip("/"), args.hub_pid, None, credentials)
            else:
                hub_server = start_hub(tmp, args.hub_admin_password)
                servers.append(hub_server)
                hub = Side("Hub", hub_server.url, hub_server.proc.pid, hub_server, credentials)
            ref = Side("reference", reference.url, reference.proc.pid, reference)
            for side in (hub, ref):
                wait_ready(side.url, side.server)
            # Transfers read from memory, not from a disk the servers write to.
            shm = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else tmp))
            try:
                blob_path, upload_path = shm / "download", shm / "upload"
                blob_digest = write_random_file(blob_path, args.blob_mb * MB)
                upload_digest = write_random_file(upload_path, args.blob_mb * MB)
                for side in (hub, ref):
                    prepare(side, blob_path, blob_digest, side is hub)
                results = {hub.label: [], ref.label: []}
                for round_number in range(args.rounds):
                    order = (hub, ref) if round_number % 2 == 0 else (ref, hub)
                    for side in order:
                        print(f"round {round_number + 1}: {side.label} ...", flush=True)
                        results[side.label].append(
                            round_for(
                                side, args, blob_digest, upload_path, upload_digest, side is hub
                            )
                        )
            finally:
                for path in shm.iterdir():
                    path.unlink()
                shm.rmdir()
        finally:
            for server in servers:
                server.stop()

    meta = [
        f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine: {platform.machine()}, nproc {os.cpu_count()}, CPU {cpu_model()}",
        f"{args.downloaders} downloads and {args.uploaders} uploads of {args.blob_mb} MB at "
        f"{args.rate}/s each (curl --limit-rate), all at once; a probe asks in turn for a "
        f"manifest and a token, {PROBE_PAUSE * 1000:.0f} ms apart",
    ]
    lines = []
    for label, rounds in results.items():
        for number, figures in enumerate(rounds, 1):
            lines += summarize(f"{label} (round {number})", figures, args)
    ratio_lines = []
    for key in ("manifest", "token"):
        hub_p99 = max(percentile(r[key], 0.99) for r in results["Hub"])
        ref_p99 = max(percentile(r[key], 0.99) for r in results["reference"])
        ratio_lines.append(
            f"{key} p99, worst round: Hub {hub_p99:.1f} ms, reference {ref_p99:.1f} ms, "
            f"Hub/reference {hub_p99 / ref_p99:.2f} (lower is better)"
        )
    for kind in ("download", "upload"):
        medians = {
            label: statistics.median(r for f in rounds for r in f["rates"][kind] or [0])
            for label, rounds in results.items()
        }
        if medians["reference"]:
            ratio_lines.append(
                f"median {kind} rate: Hub {medians['Hub'] / MB:.2f} MB/s, reference "
                f"{medians['reference'] / MB:.2f} MB/s, Hub/reference "
                f"{medians['Hub'] / medians['reference']:.2f}"
            )
    print("\n".join(["", *meta, "", *lines, "", *ratio_lines]))
    md = ["# Many slow clients: Hub vs reference registry", "", *[f"- {m}" for m in meta], ""]
    md += [f"- {line}" for line in lines] + [""] + [f"- {line}" for line in ratio_lines]
    (OUT / "slow.md").write_text("\n".join(md) + "\n")
    print(f"\nwrote {OUT / 'slow.md'}")


if __name__ == "__main__":
    main()
