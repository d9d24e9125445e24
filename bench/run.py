"""Benchmark Hub's registry API against the reference registry (distribution 2.8).

    .venv/bin/python bench/run.py              # Hub (`make run`) vs reference
    .venv/bin/python bench/run.py --sanity     # a second reference registry as "Hub"
    .venv/bin/python bench/run.py --hub-url http://127.0.0.1:8000 [--hub-pid PID]

Both servers listen on 127.0.0.1 only. Prints a table and writes it as Markdown to
bench/out/results.md; server logs go to bench/out/*.log.

Authentication: Hub is started with HUB_ADMIN_PASSWORD and pushes to it carry the
admin's Basic credentials; the reference registry runs without authentication.
Reads are anonymous on both (public repositories). The one authenticated read,
"manifest GET, authenticated", sends Hub a bearer token from its GET /token, and
sends Basic credentials on every request to a second reference registry started
with htpasswd (bcrypt, cost 5 as `htpasswd -B` makes it), which is how clients
talk to that registry.
"""

import argparse
import base64
import datetime
import gzip
import hashlib
import io
import json
import os
import platform
import re
import secrets
import signal
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import urljoin

import requests

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
MB = 10**6
MIB = 2**20
BLOB_SIZE = 200 * MB
CHUNK_SIZE = 10 * MB
TIMEOUT = (5, 300)  # (connect, read) seconds, for every HTTP call
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCTET = {"Content-Type": "application/octet-stream"}
TAGS = ["latest"] + [f"v{i:02d}" for i in range(49)]

REFERENCE_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
"""

REFERENCE_HTPASSWD = """\
auth:
  htpasswd:
    realm: bench
    path: {path}
"""
HUB_SERVICE = "hub-registry"  # HUB_REGISTRY_SERVICE's default

# key, label, unit, higher is better
FIGURES = [
    ("upload", "monolithic upload, 200 MB blob", "MB/s", True),
    ("download", "blob download, 200 MB (curl)", "MB/s", True),
    ("chunked", "chunked upload, 200 MB in 10 MB chunks", "MB/s", True),
    ("upload_curl", "monolithic upload, 200 MB blob (curl -T)", "MB/s", True),
    ("chunked_curl", "chunked upload, 200 MB in 10 MB chunks (curl -T)", "MB/s", True),
    ("manifest", "manifest GET by tag (wrk -t2 -c10)", "req/s", True),
    ("tags", f"tags list, {len(TAGS)} tags (wrk -t2 -c10)", "req/s", True),
    (
        "manifest_auth",
        "manifest GET with a bearer token; reference: htpasswd Basic (wrk -t2 -c10)",
        "req/s",
        True,
    ),
    ("rss_up", "peak worker RSS growth, {big} upload", "MiB", False),
    ("rss_down", "peak worker RSS growth, {big} download", "MiB", False),
]


# --- servers -------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A command run in its own process group, logging to bench/out/<log_name>."""

    def __init__(self, cmd, url, log_name, **kwargs):
        self.url, self.log_name = url, log_name
        with open(OUT / log_name, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )

    def check_alive(self):
        if self.proc.poll() is not None:
            tail = (OUT / self.log_name).read_text(errors="replace")[-3000:]
            raise RuntimeError(f"server exited with {self.proc.returncode}; log tail:\n{tail}")

    def stop(self):
        """SIGTERM the process group, then SIGKILL whatever is left of it."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=5)


def start_reference(tmp, label, credentials=None):
    """docker-registry; with credentials (user, password), behind htpasswd auth."""
    addr = f"127.0.0.1:{free_port()}"
    (tmp / label).mkdir()
    config = tmp / f"{label}.yml"
    text = REFERENCE_CONFIG.format(root=tmp / label, addr=addr)
    if credentials:
        htpasswd = tmp / f"{label}.htpasswd"
        htpasswd.write_text(f"{credentials[0]}:{bcrypt_hash(credentials[1])}\n")
        text += REFERENCE_HTPASSWD.format(path=htpasswd)
    config.write_text(text)
    return Server(["docker-registry", "serve", str(config)], f"http://{addr}", f"{label}.log")


def bcrypt_hash(password):
    """A bcrypt hash of cost 5, as `htpasswd -B` makes by default, from the C
    library's crypt(3) (libxcrypt on Debian), through Python's crypt module (there
    until Python 3.13), so as to need no bcrypt package or apache2-utils."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**5))
    if not (hashed or "").startswith("$2"):
        raise RuntimeError("crypt(3) here cannot make bcrypt hashes")
    return hashed


def start_hub(tmp, admin_password):
    addr = f"127.0.0.1:{free_port()}"
    (tmp / "hub-data").mkdir()
    env = dict(
        os.environ,
        HUB_ADDR=addr,
        HUB_DATA_DIR=str(tmp / "hub-data"),
        HUB_ADMIN_PASSWORD=admin_password,
        PYTHONUNBUFFERED="1",
    )
    for var in ("DJANGO_SETTINGS_MODULE", "HUB_DATABASE_URL"):  # Hub as `make run` runs it
        env.pop(var, None)
    return Server(["make", "run"], f"http://{addr}", "hub.log", cwd=ROOT, env=env)


def wait_ready(url, server=None, timeout=300):
    """Poll url/v2/ until it answers: 200, or 401 with a challenge when it wants
    credentials (the first `make run` may install packages)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server:
            server.check_alive()
        try:
            r = requests.get(url + "/v2/", timeout=2)
            if r.status_code == 200 or (r.status_code == 401 and "WWW-Authenticate" in r.headers):
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url}/v2/ did not answer within {timeout}s")


# --- streamed bodies -----------------------------------------------------------


class Body:
    """Iterable request body of known length, so requests sends Content-Length (not
    chunked transfer encoding) and streams it; hashes the bytes as they are sent."""

    def __init__(self, size, chunks):
        self.size, self.chunks, self.sha = size, chunks, hashlib.sha256()

    def __len__(self):
        return self.size

    def __iter__(self):
        for chunk in self.chunks:
            self.sha.update(chunk)
            yield chunk

    def digest(self):
        return "sha256:" + self.sha.hexdigest()


def random_chunks(size):
    """`size` random-looking bytes, 1 MiB at a time: one random buffer, numbered per chunk."""
    buf = os.urandom(MIB)
    for i in range(-(-size // MIB)):
        yield (i.to_bytes(8, "big") + buf[8:])[: size - i * MIB]


def file_chunks(path, size=MIB):
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def write_random_file(path, size):
    body = Body(size, random_chunks(size))
    with open(path, "wb") as f:
        for chunk in body:
            f.write(chunk)
    return body.digest()


# --- one registry under test, and its API --------------------------------------


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Side:
    """A registry under test: URL, root pid (for RSS), Server if started here, results,
    notes; with credentials (user, password), every request made here sends them."""

    def __init__(self, label, url, pid, server=None, credentials=None):
        self.label, self.url, self.pid, self.server = label, url, pid, server
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only: never through a proxy
        if credentials:
            self.session.headers["Authorization"] = basic(*credentials)
        self.results, self.notes, self.failed = {}, [], set()

    def call(self, method, url, status, redirects=False, **kwargs):
        """One request; `status` must be the status of the response itself (no redirects)."""
        r = self.session.request(
            method, urljoin(self.url, url), timeout=TIMEOUT, allow_redirects=redirects, **kwargs
        )
        if r.status_code != status:
            body = " ".join(r.text[:300].split())
            raise RuntimeError(f"{method} {r.url} -> {r.status_code} (want {status}): {body}")
        return r

    def run(self, key, fn, *args):
        """Run fn(self, *args) and keep the best (max) value for key; skip key after an error."""
        if key in self.failed:
            return
        try:
            value = fn(self, *args)
        except Exception as e:  # keep going: report the error, measure the rest
            self.failed.add(key)
            self.notes.append(f"{key}: {type(e).__name__}: {e}")
            return
        if value is not None:
            self.results[key] = max(self.results.get(key, value), value)


def start_upload(side, name):
    r = side.call("POST", f"/v2/{name}/blobs/uploads/", 202)
    return urljoin(r.url, r.headers["Location"])


def finish_upload(side, location, digest, data=b""):
    side.call("PUT", location, 201, params={"digest": digest}, data=data, headers=OCTET)


def push_blob(side, name, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    finish_upload(side, start_upload(side, name), digest, data)
    return digest


def upload_monolithic(side, name, path, digest):
    t = time.perf_counter()
    size = path.stat().st_size
    finish_upload(side, start_upload(side, name), digest, Body(size, file_chunks(path)))
    return size / MB / (time.perf_counter() - t)


def upload_chunked(side, name, path, digest):
    t = time.perf_counter()
    location, offset = start_upload(side, name), 0
    for chunk in file_chunks(path, CHUNK_SIZE):
        headers = dict(OCTET, **{"Content-Range": f"{offset}-{offset + len(chunk) - 1}"})
        r = side.call("PATCH", location, 202, data=chunk, headers=headers)
        location, offset = urljoin(r.url, r.headers["Location"]), offset + len(chunk)
    finish_upload(side, location, digest)
    return offset / MB / (time.perf_counter() - t)


def curl(side, args, write_out):
    """Run curl with the side's credentials; what ``write_out`` asks for, split."""
    credentials = side.session.headers.get("Authorization")
    headers = ["-H", f"Authorization: {credentials}"] if credentials else []
    out = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", *headers, "-w", write_out, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return out.stdout.split()


def with_digest(location, digest):
    return f"{location}{'&' if '?' in location else '?'}digest={digest}"


def curl_put(side, location, path, digest, status="201"):
    got = curl(
        side,
        [
            "-o",
            "/dev/null",
            "-X",
            "PUT",
            "-T",
            str(path),
            "-H",
            "Content-Type: application/octet-stream",
            with_digest(location, digest),
        ],
        "%{http_code}",
    )
    if got != [status]:
        raise RuntimeError(f"curl PUT {location}: {got}")


def upload_monolithic_curl(side, name, path, digest):
    """The upload as curl makes it: POST, then one PUT with the file (-T)."""
    t = time.perf_counter()
    curl_put(side, start_upload(side, name), path, digest)
    return path.stat().st_size / MB / (time.perf_counter() - t)


def upload_chunked_curl(side, name, path, digest, tmp):
    """PATCH by curl -T, one 10 MB chunk file (split beforehand) at a time."""
    chunks = []
    for number, chunk in enumerate(file_chunks(path, CHUNK_SIZE)):
        chunks.append(tmp / f"chunk{number:03d}")
        chunks[-1].write_bytes(chunk)
    try:
        t = time.perf_counter()
        location, offset = start_upload(side, name), 0
        for chunk in chunks:
            size = chunk.stat().st_size
            status, location = curl(
                side,
                [
                    "-o",
                    "/dev/null",
                    "-X",
                    "PATCH",
                    "-T",
                    str(chunk),
                    "-H",
                    "Content-Type: application/octet-stream",
                    "-H",
                    f"Content-Range: {offset}-{offset + size - 1}",
                    location,
                ],
                "%{http_code} %header{location}",
            )
            if status != "202":
                raise RuntimeError(f"curl PATCH: {status}")
            location, offset = urljoin(side.url, location), offset + size
        finish_upload(side, location, digest)
        return offset / MB / (time.perf_counter() - t)
    finally:
        for chunk in chunks:
            chunk.unlink()


def download(side, name, digest, size):
    """Time a GET of the blob with curl, so that the client is not what is
    measured; bytes go to /dev/null and their count and status are checked."""
    url = urljoin(side.url, f"/v2/{name}/blobs/{digest}")
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-L",
            "--noproxy",
            "*",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{size_download} %{speed_download}",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout.split()
    if out[0] != "200" or int(out[1]) != size:
        raise RuntimeError(f"GET blob {digest}: status {out[0]}, {out[1]} bytes, want {size}")
    return float(out[2]) / MB


def download_verified(side, name, digest):
    """GET the blob and check its digest while streaming it."""
    sha, n = hashlib.sha256(), 0
    # A registry may redirect blob GETs (e.g. to object storage): follow those.
    with side.call("GET", f"/v2/{name}/blobs/{digest}", 200, True, stream=True) as r:
        for chunk in r.iter_content(MIB):
            sha.update(chunk)
            n += len(chunk)
    if "sha256:" + sha.hexdigest() != digest:
        raise RuntimeError(f"GET blob {digest}: {n} bytes with another digest")


def push_image(side, name, tags):
    """Push a tiny real image (config + one tar.gz layer) under tags; return its digest."""
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as t:
        info = tarfile.TarInfo("hello.txt")
        info.size = 6
        t.addfile(info, io.BytesIO(b"hello\n"))
    layer = gzip.compress(tar.getvalue(), mtime=0)
    diff_id = "sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": push_blob(side, name, config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": push_blob(side, name, layer),
                }
            ],
        }
    ).encode()
    for tag in tags:
        side.call(
            "PUT",
            f"/v2/{name}/manifests/{tag}",
            201,
            data=manifest,
            headers={"Content-Type": MANIFEST_V2},
        )
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


def wrk(side, key, path, seconds, authorization=None):
    """requests/s from wrk; its error counts (printed only when non-zero) go to the notes."""
    headers = ["-H", f"Accept: {MANIFEST_V2}"]
    if authorization:
        headers += ["-H", f"Authorization: {authorization}"]
    cmd = ["wrk", "-t2", "-c10", f"-d{seconds}s", *headers, side.url + path]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=True)
    errors = re.findall(r"(Non-2xx or 3xx responses: \d+|Socket errors: .*)", out.stdout)
    if errors:
        side.notes.append(f"{key}: wrk {'; '.join(errors)}")
    return float(re.search(r"Requests/sec:\s*([\d.]+)", out.stdout).group(1))


# --- RSS sampling ----------------------------------------------------------------


def process_tree(root):
    """root and all its descendants, from /proc/<pid>/stat."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class RssSampler:
    """`with RssSampler(pid) as rss:` samples VmRSS of pid's process tree every 50 ms;
    rss.growth_mib() = max over processes of (peak RSS - RSS when first seen)."""

    def __init__(self, root):
        self.root, self.before, self.peak = root, {}, {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self):
        for pid in process_tree(self.root):
            if (rss := rss_kib(pid)) is not None:
                self.before.setdefault(pid, rss)
                self.peak[pid] = max(self.peak.get(pid, 0), rss)

    def _loop(self):
        while not self.done.wait(0.05):
            self.sample()

    def __enter__(self):
        self.sample()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=5)
        self.sample()

    def growth_mib(self):
        return max(self.peak[pid] - self.before[pid] for pid in self.peak) / 1024


# --- the figures -----------------------------------------------------------------


def blob_figure(side, key, tmp):
    """One round of upload / download / chunked on a fresh 200 MB random file."""
    path = tmp / "blob"
    digest = write_random_file(path, BLOB_SIZE)
    try:
        if key == "chunked":
            return upload_chunked(side, "bench/chunked", path, digest)
        if key == "upload_curl":
            return upload_monolithic_curl(side, "bench/blobs", path, digest)
        if key == "chunked_curl":
            return upload_chunked_curl(side, "bench/chunked", path, digest, tmp)
        rate = upload_monolithic(side, "bench/blobs", path, digest)
        if key == "download":
            return download(side, "bench/blobs", digest, BLOB_SIZE)
        return rate
    finally:
        path.unlink()


def push_tags(side):
    side.manifest_digest = push_image(side, "bench/image", TAGS)


def create_repositories(side):
    """The repositories the blob figures use, each with an image in it: Hub
    shows nobody (the anonymous downloads here) a repository whose push has
    not yet put a manifest."""
    for name in ("bench/blobs", "bench/chunked", "bench/big"):
        push_image(side, name, ["seed"])


def manifest_figure(side, seconds, key="manifest", authorization=None):
    """wrk on GET manifest by tag, once a GET has checked the digest (anonymously,
    or with `authorization` on both)."""
    path = "/v2/bench/image/manifests/latest"
    headers = {"Accept": MANIFEST_V2}
    if authorization:
        headers["Authorization"] = authorization
    else:
        anonymous = requests.get(side.url + path, headers=headers, timeout=TIMEOUT)
        if anonymous.status_code != 200:
            raise RuntimeError(f"anonymous GET {path} -> {anonymous.status_code}")
    r = side.call("GET", path, 200, headers=headers)
    if r.headers.get("Docker-Content-Digest") != side.manifest_digest:
        raise RuntimeError(f"Docker-Content-Digest is {r.headers.get('Docker-Content-Digest')!r}")
    return wrk(side, key, path, seconds, authorization)


def hub_bearer_manifest_figure(side, seconds):
    """Hub: a bearer token from GET /token (the side's Basic credentials), as a
    Docker client gets one; a fresh one each run, as it lives only minutes."""
    params = {"service": HUB_SERVICE, "scope": "repository:bench/image:pull"}
    token = side.call("GET", "/token", 200, params=params).json()["token"]
    return manifest_figure(side, seconds, "manifest_auth", f"Bearer {token}")


def basic_manifest_figure(side, seconds):
    """A registry with htpasswd: the same Basic credentials on every request."""
    authorization = side.session.headers["Authorization"]
    return manifest_figure(side, seconds, "manifest_auth", authorization)


def tags_figure(side, seconds):
    path = "/v2/bench/image/tags/list"
    got = side.call("GET", path, 200).json().get("tags") or []
    if sorted(got) != sorted(TAGS):
        raise RuntimeError(f"tags list has {len(got)} tags, want {len(TAGS)}")
    return wrk(side, "tags", path, seconds)


def rss_upload_figure(side, size):
    """One streamed PATCH (as `docker push` does), hashed on the fly, then PUT ?digest=."""
    body = Body(size, random_chunks(size))
    with RssSampler(side.pid) as rss:
        location = start_upload(side, "bench/big")
        headers = dict(OCTET, **{"Content-Range": f"0-{size - 1}"})
        r = side.call("PATCH", location, 202, data=body, headers=headers)
        finish_upload(side, urljoin(r.url, r.headers["Location"]), body.digest())
    side.big_digest = body.digest()
    return rss.growth_mib()


def rss_download_figure(side):
    with RssSampler(side.pid) as rss:
        download_verified(side, "bench/big", side.big_digest)
    return rss.growth_mib()


def measure(sides, auth_sides, tmp, args):
    """Each figure in turn; rounds alternate between the sides so that drift hits both.
    auth_sides: (side, figure function) for the authenticated manifest GET."""
    for side in sides:
        side.run("repositories", create_repositories)
    # Figures interleaved and the sides' order alternating, round by round:
    # writing to memory the page cache never used before costs far more CPU
    # than reusing it on some machines, so whatever ran first would be slower.
    for number in range(args.rounds):
        print(f"uploads and downloads, round {number + 1} ...", flush=True)
        for key in ["upload", "download", "chunked", "upload_curl", "chunked_curl"]:
            for side in sides if number % 2 == 0 else sides[::-1]:
                side.run(key, blob_figure, key, tmp)
    print("manifest GET and tags list ...", flush=True)
    for side in {*sides, *(side for side, _ in auth_sides)}:
        side.run("push image", push_tags)
    for key, fn in [("manifest", manifest_figure), ("tags", tags_figure)]:
        for _ in range(args.rounds):
            for side in sides:
                if "push image" not in side.failed:
                    side.run(key, fn, args.wrk_seconds)
    print("manifest GET, authenticated ...", flush=True)
    for _ in range(args.rounds):
        for side, fn in auth_sides:
            if "push image" not in side.failed:
                side.run("manifest_auth", fn, args.wrk_seconds)
    print(f"{args.big_mib} MiB upload and download, sampling RSS ...", flush=True)
    for side in sides:
        if side.pid is None:
            side.notes.append("RSS: not measured (pass --hub-pid with --hub-url)")
            continue
        side.run("rss_up", rss_upload_figure, args.big_mib * MIB)
        if "rss_up" not in side.failed:
            side.run("rss_down", rss_download_figure)


# --- report ---------------------------------------------------------------------


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def fmt(value):
    return "-" if value is None else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def report(hub, ref, refauth, hub_desc, args):
    """The table; the authenticated manifest GET's reference figure is refauth's."""
    big = f"{args.big_mib // 1024} GiB" if args.big_mib % 1024 == 0 else f"{args.big_mib} MiB"
    header = ("figure", "Hub", "reference", "Hub/reference")
    rows = []
    for key, label, unit, higher in FIGURES:
        h = hub.results.get(key)
        r = (refauth if key == "manifest_auth" else ref).results.get(key)
        # RSS growth near 0 makes ratios meaningless: need >= 1 MiB on the reference side.
        ratio = f"{h / r:.2f}" if h is not None and r and (higher or r >= 1) else "-"
        better = "higher is better" if higher else "lower is better"
        rows.append((f"{label.format(big=big)} ({unit}, {better})", fmt(h), fmt(r), ratio))
    version = subprocess.run(["docker-registry", "--version"], capture_output=True, text=True)
    hub_auth = (
        "pushes with the admin's Basic credentials, reads anonymous"
        if "Authorization" in hub.session.headers
        else "no credentials"
    )
    meta = [
        f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        f"machine: {platform.machine()}, nproc {os.cpu_count()}, CPU {cpu_model()}",
        f"Hub: {hub_desc} at {hub.url}; {hub_auth}",
        f"reference: {version.stdout.strip()} at {ref.url}; no authentication",
        f"reference with htpasswd (bcrypt cost 5, Basic credentials on every request) at "
        f"{refauth.url}: the reference of the authenticated manifest GET; Hub's is a bearer "
        "token from its GET /token (scope repository:bench/image:pull)",
        f"best of {args.rounds} rounds (alternating sides); wrk {args.wrk_seconds} s per run; "
        "MB = 10^6 bytes; client, wrk and servers share this machine",
    ]
    notes = [f"{side.label} {note}" for side in (hub, ref, refauth) for note in side.notes]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    text = ["", *meta, ""]
    for row in [header, ["-" * w for w in widths], *rows]:
        cells = [c.rjust(w) for c, w in zip(row, widths, strict=True)]
        text.append("  ".join([row[0].ljust(widths[0]), *cells[1:]]))
    text += [f"note: {note}" for note in notes]
    print("\n".join(text))

    md = ["# Hub vs reference registry", "", *[f"- {m}" for m in meta], ""]
    md += ["| " + " | ".join(header) + " |", "|---|---:|---:|---:|"]
    md += ["| " + " | ".join(row) + " |" for row in rows]
    md += ["", "Notes:", "", *[f"- {n}" for n in notes]] if notes else []
    (OUT / "results.md").write_text("\n".join(md) + "\n")
    print(f"\nwrote {OUT / 'results.md'}")


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--hub-url", help="use this running registry as Hub instead of `make run`")
    p.add_argument("--hub-pid", type=int, help="with --hub-url: its root pid, to sample RSS")
    p.add_argument(
        "--hub-admin-password",
        default=os.environ.get("HUB_ADMIN_PASSWORD") or secrets.token_urlsafe(16),
        help="Hub's admin password (default: $HUB_ADMIN_PASSWORD, or a random one for the Hub"
        " started here)",
    )
    p.add_argument("--sanity", action="store_true", help="a second reference registry as Hub")
    p.add_argument("--rounds", type=int, default=3, help="rounds per figure, 1-10 (best kept)")
    p.add_argument("--wrk-seconds", type=int, default=10, help="duration of each wrk run")
    p.add_argument("--big-mib", type=int, default=2048, help="size of the RSS transfers")
    args = p.parse_args()
    args.rounds = max(1, min(args.rounds, 10))
    args.wrk_seconds = max(1, min(args.wrk_seconds, 60))

    OUT.mkdir(parents=True, exist_ok=True)
    servers = []
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        tmp = Path(tmp)
        try:
            reference = start_reference(tmp, "reference")
            servers.append(reference)
            ref_credentials = ("bench", secrets.token_urlsafe(16))
            reference_auth = start_reference(tmp, "reference-htpasswd", ref_credentials)
            servers.append(reference_auth)
            hub_credentials = None if args.sanity else ("admin", args.hub_admin_password)
            if args.hub_url:
                hub = Side("Hub", args.hub_url.rstrip("/"), args.hub_pid, None, hub_credentials)
                hub_desc = "already running (--hub-url)"
            else:
                if args.sanity:
                    server = start_reference(tmp, "reference2")
                else:
                    server = start_hub(tmp, args.hub_admin_password)
                servers.append(server)
                hub = Side("Hub", server.url, server.proc.pid, server, hub_credentials)
                hub_desc = "second reference registry (--sanity)" if args.sanity else "make run"
            ref = Side("reference", reference.url, reference.proc.pid, reference)
            refauth = Side(
                "reference (htpasswd)",
                reference_auth.url,
                reference_auth.proc.pid,
                reference_auth,
                ref_credentials,
            )
            for side in (hub, ref, refauth):
                wait_ready(side.url, side.server)
            print(f"Hub at {hub.url}, reference at {ref.url} and {refauth.url}", flush=True)

            auth_sides = [(refauth, basic_manifest_figure)]
            if args.sanity:
                hub.notes.append("manifest_auth: not measured with --sanity")
            else:
                auth_sides.insert(0, (hub, hub_bearer_manifest_figure))
            measure([hub, ref], auth_sides, tmp, args)
            for side in (hub, ref, refauth):
                if side.server and side.server.proc.poll() is not None:
                    side.notes.append(
                        f"server exited during the run with code {side.server.proc.returncode};"
                        f" see bench/out/{side.server.log_name}"
                    )
            report(hub, ref, refauth, hub_desc, args)
        finally:
            for server in servers:
                server.stop()


if __name__ == "__main__":
    main()
