"""What Hub's web server writes to its log: one access line per request,
with status, size and time taken but never a query string or a path's
secret; no INFO chatter from django-axes for every registry log-in; and
keep-alive connections that outlive gunicorn's 2 s default. gunicorn runs
for real, with hub/gunicorn.conf.py, as an operator would run it."""

import re
import runpy
import socket
import time
import uuid

import pytest
import requests

from .stack import REPO_ROOT, Hub

CONFIG = REPO_ROOT / "hub" / "gunicorn.conf.py"
PASSWORD = "correct horse battery staple"
ACCESS_LINE = re.compile(
    r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.1" (?P<status>\d{3}) \d+ \d+ms'
)


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    hub = Hub(tmp_path_factory.mktemp("gunicorn"))
    # What the end-to-end tests set; the configuration file must not fight it.
    hub.env["GUNICORN_CMD_ARGS"] = "--access-logfile - --log-level info"
    with hub.gunicorn_serving(["alice", "bob"], PASSWORD):
        yield hub


def log_offset(hub):
    """Where the log ends once the server has written what it had to say
    (an access line comes just after its response)."""
    size = -1
    while size != (size := len(hub.log())):
        time.sleep(0.3)
    return size


def new_log(hub, since):
    """What the server logged after ``since``."""
    log_offset(hub)
    return hub.log()[since:]


def access_lines(log):
    return [line for line in log.splitlines() if ACCESS_LINE.search(line)]


def test_each_request_gets_an_access_line_with_status_and_time_but_no_query(web):
    since = log_offset(web)

    answer = web.get("/v2/?last=hunter2-in-the-query")

    log = new_log(web, since)
    assert answer.status_code == 401
    (line,) = access_lines(log)
    found = ACCESS_LINE.search(line)
    assert (found["method"], found["path"], found["status"]) == ("GET", "/v2/", "401")
    assert "hunter2" not in log


def test_a_build_triggers_secret_stays_out_of_the_log(web):
    since = log_offset(web)
    hook = uuid.uuid4()

    requests.post(
        f"{web.url}/builds/hooks/{hook}/generic/trigger-secret-in-path?token=qs-secret",
        json={},
        timeout=30,
    )

    log = new_log(web, since)
    (line,) = access_lines(log)
    assert f"/builds/hooks/{hook}/generic/[secret] " in line
    assert "trigger-secret-in-path" not in log
    assert "qs-secret" not in log


def test_an_authenticated_registry_request_logs_no_axes_chatter(web):
    since = log_offset(web)

    # bob's first log-in: his password is checked, not found in the cache of
    # verified credentials (where alice's are since the server came up).
    registry = requests.Session()
    registry.auth = ("bob", PASSWORD)
    assert registry.get(f"{web.url}/v2/", timeout=30).status_code == 200
    token = registry.get(
        f"{web.url}/token",
        params={"service": "hub-registry", "scope": "repository:bob/app:pull,push"},
        timeout=30,
    )
    assert token.status_code == 200
    bearer = {"Authorization": f"Bearer {token.json()['token']}"}
    assert requests.get(f"{web.url}/v2/", headers=bearer, timeout=30).status_code == 200

    log = new_log(web, since)
    assert len(access_lines(log)) == 3
    assert "AXES" not in log


def test_a_failed_log_in_is_still_logged_readably(web):
    since = log_offset(web)

    answer = web.get("/v2/", auth=("mallory", "not her password"))

    log = new_log(web, since)
    assert answer.status_code == 401
    # Time, level, logger, process, message.
    assert re.search(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "
        r"WARNING axes\.[\w.]+ \[\d+\] AXES: New login failure",
        log,
        re.MULTILINE,
    ), log
    # A 401 is no server error: django.request keeps quiet about it.
    assert "Unauthorized" not in log


def test_an_idle_connection_is_kept_longer_than_gunicorns_default(web):
    host, port = web.addr.split(":")
    request = f"GET /v2/ HTTP/1.1\r\nHost: {web.addr}\r\n\r\n".encode()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        first = read_response(connection)
        time.sleep(3)  # gunicorn would have closed it after 2 s
        connection.sendall(request)
        second = read_response(connection)
    assert first.startswith(b"HTTP/1.1 401") and second.startswith(b"HTTP/1.1 401")


def read_response(connection):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, f"closed by the server after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, "closed by the server mid-response"
        body += chunk
    return head


def test_the_configuration_follows_the_settings(settings):
    settings.HUB_WEB_KEEPALIVE = 61
    settings.HUB_WEB_ACCESS_LOG = False
    config = runpy.run_path(str(CONFIG))
    assert (config["keepalive"], config["accesslog"]) == (61, None)
    assert (config["timeout"], config["graceful_timeout"]) == (
        settings.HUB_WEB_TIMEOUT,
        settings.HUB_WEB_GRACEFUL_TIMEOUT,
    )


@pytest.mark.parametrize(
    "url, logged",
    [
        ("/accounts/confirm-email/MTA:1t2:abc/", "/accounts/confirm-email/[secret]/"),
        ("/accounts/password/reset/key/2-abc-def/", "/accounts/password/reset/key/2-[secret]/"),
        (
            "/accounts/password/reset/key/2-set-password/",
            "/accounts/password/reset/key/2-set-password/",
        ),
        ("/builds/webhook-callbacks/7/tok/", "/builds/webhook-callbacks/7/[secret]/"),
        ("https://hub.example/login/?code=x", "https://hub.example/login/"),
        ("/v2/alice/app/tags/list", "/v2/alice/app/tags/list"),
    ],
)
def test_secrets_in_paths_are_replaced(url, logged):
    assert runpy.run_path(str(CONFIG))["redact"](url) == logged


def test_a_requests_id_ends_its_access_line_and_what_was_logged_for_it(web):
    since = log_offset(web)

    answer = web.get("/v2/", auth=("mallory", "still not her password"))

    log = new_log(web, since)
    request_id = answer.headers["X-Request-ID"]
    (line,) = access_lines(log)
    assert line.endswith(f'"python-requests/{requests.__version__}" {request_id}')
    assert re.search(rf"AXES: .* request_id={request_id}$", log, re.MULTILINE), log
