"""Clients on slow links against Hub's own web server (gunicorn with Hub's
configuration, one process).

Each stalled client here is a real socket that sends a request and then
stops: a download that reads nothing of the blob, an upload that sends a
few bytes of its body and no more. Such clients hold their connection for
as long as they like. Many more of them than a thread pool has threads must
not keep anybody else waiting, must not cost a database connection each,
and must leave nothing half-written behind when they go.
"""

import base64
import hashlib
import json
import socket
import threading
import time
from contextlib import ExitStack, closing

import psycopg2
import pytest
import requests

from tests.hub.stack import Hub, with_timeout

pytestmark = pytest.mark.e2e

STALLED = 40  # ten times the threads one process had when each request held a thread
BLOB_SIZE = 32 * 1024 * 1024  # more than the socket buffers on both ends hold
OCTET = {"Content-Type": "application/octet-stream"}
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Client:
    """Requests to one Hub as its admin, with Basic credentials."""

    def __init__(self, hub):
        self.hub = hub
        self.auth = ("admin", hub.admin_password)
        self.session = requests.Session()
        self.session.auth = self.auth

    def request(self, method, path, expect, **kwargs):
        url = path if path.startswith("http") else self.hub.url + path
        response = self.session.request(method, url, timeout=60, **kwargs)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response

    def start_upload(self, repo):
        return self.request("POST", f"/v2/{repo}/blobs/uploads/", 202).headers["Location"]

    def push_blob(self, repo, data):
        digest = digest_of(data)
        location = self.start_upload(repo)
        self.request("PUT", location, 201, params={"digest": digest}, data=data, headers=OCTET)
        return digest

    def push_image(self, repo, tag, layer):
        config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": self.push_blob(repo, config),
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": self.push_blob(repo, layer),
                        "size": len(layer),
                    }
                ],
            }
        ).encode()
        self.request(
            "PUT",
            f"/v2/{repo}/manifests/{tag}",
            201,
            data=manifest,
            headers={"Content-Type": MANIFEST},
        )
        return digest_of(manifest)

    def answers_promptly(self, repo, tag, manifest_digest):
        """A manifest GET and a token request both answer, while the stalled
        clients hold on. Under a thread per request, they waited for a thread
        that never came free."""
        got = self.request("GET", f"/v2/{repo}/manifests/{tag}", 200, headers={"Accept": MANIFEST})
        assert got.headers["Docker-Content-Digest"] == manifest_digest
        token = self.request(
            "GET",
            "/token",
            200,
            params={"service": "hub-registry", "scope": f"repository:{repo}:pull"},
        )
        assert token.json()["token"]


def raw_request(hub, method, path, headers, body=b""):
    """A socket that has sent a request (and ``body``, maybe only the start
    of what its Content-Length says) and reads nothing yet."""
    host, port = hub.addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=60)
    # A small receive buffer, so that a blob fills it and the server's quickly.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {hub.addr}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    return sock


def session_id(location):
    return location.split("?", 1)[0].rstrip("/").rsplit("/", 1)[1]


def basic(hub):
    token = base64.b64encode(f"admin:{hub.admin_password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def read_response(sock):
    """Status, headers and body of a response with a Content-Length."""
    stream = sock.makefile("rb")
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline().strip()) != b"":
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", 0)))
    return status, headers, body


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    hub = Hub(tmp_path_factory.mktemp("slow"), HUB_WEB_WORKERS="1")
    hub.use_test_database_server()
    hub.start_serve()
    try:
        hub.wait_until_serving()
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def pushed(hub):
    """An image whose one layer is a blob bigger than the socket buffers."""
    client = Client(hub)
    layer = bytes(range(256)) * (BLOB_SIZE // 256)
    manifest_digest = client.push_image("slow/image", "latest", layer)
    return client, manifest_digest, digest_of(layer), layer


def test_stalled_downloads_keep_nobody_waiting_and_finish_whole(hub, pushed):
    client, manifest_digest, layer_digest, layer = pushed
    path = f"/v2/slow/image/blobs/{layer_digest}"
    with ExitStack() as stack:
        stalled = [
            stack.enter_context(closing(raw_request(hub, "GET", path, basic(hub))))
            for _ in range(STALLED)
        ]
        client.answers_promptly("slow/image", "latest", manifest_digest)
        # A stalled download picks up where it stopped, and its bytes are the blob's.
        status, headers, body = read_response(stalled[0])
        assert status == 200
        assert headers["docker-content-digest"] == layer_digest
        assert body == layer


def test_stalled_uploads_keep_nobody_waiting_and_leave_their_sessions_as_they_were(hub, pushed):
    client, manifest_digest, _, _ = pushed
    locations = [client.start_upload("slow/uploads") for _ in range(STALLED)]
    headers = {
        **basic(hub),
        **OCTET,
        "Content-Length": str(BLOB_SIZE),
        "Content-Range": f"0-{BLOB_SIZE - 1}",
    }
    with ExitStack() as stack:
        for location in locations:
            stack.enter_context(closing(raw_request(hub, "PATCH", location, headers, b"x" * 4096)))
        client.answers_promptly("slow/image", "latest", manifest_digest)
    # The clients went away mid-body: nothing of what they sent counts, and
    # a session goes on as if the failed chunk had never been sent.
    data = b"whole chunk"
    for location in locations[:3]:
        appended = client.request("PATCH", location, 202, data=data, headers=OCTET)
        assert appended.headers["Range"] == f"0-{len(data) - 1}"
        created = client.request("PUT", location, 201, params={"digest": digest_of(data)})
        assert created.headers["Docker-Content-Digest"] == digest_of(data)


def test_a_second_chunk_for_a_session_waits_for_the_first_without_stopping_the_process(hub, pushed):
    """Two PATCHes of one session take turns on its staging file. The one
    that waits must not stop the process it runs in: the first needs that
    process to receive the rest of its body. (Without the wait, a blocking
    lock, the process stopped until the first client gave up.)"""
    client, manifest_digest, _, _ = pushed
    location = client.start_upload("slow/turns")
    first_part, first_rest, second = b"a" * 1000, b"b" * 1000, b"c" * 500
    headers = {**basic(hub), **OCTET, "Content-Length": str(len(first_part + first_rest))}
    staging = hub.data_dir / "uploads" / session_id(location) / "data"
    with closing(raw_request(hub, "PATCH", location, headers, first_part)) as first:
        # The first chunk has made the staging file and taken its lock, and
        # waits for the rest of its body.
        assert with_timeout(staging.exists, 30)
        answers = {}

        def second_chunk():
            answers["second"] = requests.patch(
                hub.url + location, data=second, headers=OCTET, auth=client.auth, timeout=60
            )

        waiting = threading.Thread(target=second_chunk)
        waiting.start()
        time.sleep(0.5)  # time for the second to reach the lock
        client.answers_promptly("slow/image", "latest", manifest_digest)
        assert "second" not in answers  # it waits for the first, which needs its body
        first.sendall(first_rest)
        status, _, _ = read_response(first)
        waiting.join(timeout=60)
    assert status == 202
    # The second was sent for the session as it was before the first: once
    # it has the file, it is refused with where the session now stands.
    assert answers["second"].status_code == 416
    whole = first_part + first_rest
    assert answers["second"].headers["Range"] == f"0-{len(whole) - 1}"
    client.request("PUT", location, 201, params={"digest": digest_of(whole)})


def test_stalled_transfers_hold_no_database_connection(hub, pushed):
    """Each stalled client here asked the database (its credentials, its
    upload session), and none of them keeps a connection while it stalls."""
    database = hub.env.get("HUB_DATABASE_URL")
    if not database:
        pytest.skip("counts PostgreSQL's connections (HUB_TEST_DATABASE_URL)")
    client, _, layer_digest, _ = pushed
    locations = [client.start_upload("slow/connections") for _ in range(STALLED // 2)]
    upload = {**basic(hub), **OCTET, "Content-Length": str(BLOB_SIZE)}

    def web_connections():
        with closing(psycopg2.connect(database)) as connection, connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0]

    before = web_connections()
    with ExitStack() as stack:
        downloads = [
            stack.enter_context(
                closing(raw_request(hub, "GET", f"/v2/slow/image/blobs/{layer_digest}", basic(hub)))
            )
            for _ in range(STALLED // 2)
        ]
        for location in locations:
            stack.enter_context(closing(raw_request(hub, "PATCH", location, upload, b"x" * 4096)))
        # Every request is past the checks of its caller: each download has
        # begun to arrive, each upload has made its staging file.
        for download in downloads:
            assert download.recv(1, socket.MSG_PEEK)
        stagings = [
            hub.data_dir / "uploads" / session_id(location) / "data" for location in locations
        ]
        assert with_timeout(lambda: all(path.exists() for path in stagings), 30)
        # The workers' and beat's own connections come and go; a connection
        # kept by each stalled client would add forty, for as long as they stall.
        assert with_timeout(lambda: web_connections() <= before + 5, timeout=10, interval=0.5)


# A stored hash of a password that takes PBKDF2 seconds to check.
SLOW_HASH = "pbkdf2_sha256$20000000$salt$" + "A" * 43 + "="
SLOW_USER = f"""
from django.contrib.auth import get_user_model
from accounts.services import user_namespace_create
user = get_user_model().objects.create(username="slowcheck", password={SLOW_HASH!r})
user_namespace_create(user=user)
"""


def test_a_password_check_keeps_nobody_waiting(hub, pushed):
    """A password check is seconds of CPU here (a user's hash with many
    iterations): others' requests are answered meanwhile, not after it."""
    client, manifest_digest, _, _ = pushed
    hub.manage("shell", "-c", SLOW_USER)
    answered = {}

    def log_in():
        answered["login"] = requests.get(
            hub.url + "/token",
            params={"service": "hub-registry"},
            auth=("slowcheck", "not the password"),
            timeout=300,
        )
        answered["login at"] = time.monotonic()

    checking = threading.Thread(target=log_in)
    checking.start()
    time.sleep(1)  # time for the check to begin
    client.answers_promptly("slow/image", "latest", manifest_digest)
    answered["others at"] = time.monotonic()
    checking.join(timeout=300)
    assert answered["login"].status_code == 401
    assert answered["others at"] < answered["login at"]
