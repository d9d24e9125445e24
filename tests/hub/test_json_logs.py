"""HUB_LOG_FORMAT=json with real processes: gunicorn with Hub's
configuration writes nothing but JSON lines (its own, its access log's and
Django's), one request's id ties its response, its access line and what was
logged while serving it; and `manage.py serve` starts (migrations, gunicorn,
two Celery workers, beat) without a line that is not JSON or that warns."""

import json
import re
import time
import uuid

import pytest
import requests

from .stack import Hub, with_timeout

PASSWORD = "correct horse battery staple"
FIELDS = {"time", "level", "logger", "message", "process"}


def records(log):
    """Every line of ``log`` as a JSON object; fails on any other line."""
    found = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}\n{log}")
        assert isinstance(record, dict) and FIELDS <= record.keys(), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), line
        found.append(record)
    return found


def settled_log(hub):
    """The log once the server has written what it had to say (an access
    line comes just after its response)."""
    size, log = -1, ""
    while size != len(log := hub.log()):
        size = len(log)
        time.sleep(0.3)
    return log


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    hub = Hub(tmp_path_factory.mktemp("gunicorn-json"), HUB_LOG_FORMAT="json")
    # What the end-to-end tests set; the configuration file must not fight it.
    hub.env["GUNICORN_CMD_ARGS"] = "--access-logfile - --log-level info"
    hub.use_test_database_server()
    with hub.gunicorn_serving(["alice"], PASSWORD):
        yield hub


def access_record(log, request_id):
    (record,) = [
        r
        for r in records(log)
        if r["logger"] == "gunicorn.access" and r.get("request_id") == request_id
    ]
    return record


def test_every_line_the_web_server_writes_is_json(web):
    web.get("/v2/?last=hunter2-in-the-query")
    web.get("/v2/", auth=("mallory", "not her password"))
    web.get("/no/such/page/")
    trigger = requests.post(
        f"{web.url}/builds/hooks/{uuid.uuid4()}/generic/trigger-secret?token=qs-secret",
        json={},
        timeout=30,
    )

    log = settled_log(web)

    loggers = {record["logger"] for record in records(log)}
    assert {"gunicorn.error", "gunicorn.access", "axes.handlers.database"} <= loggers
    path = access_record(log, trigger.headers["X-Request-ID"])["path"]
    assert path.endswith("/generic/[secret]")
    for secret in ("hunter2", "trigger-secret", "qs-secret"):
        assert secret not in log


def test_an_access_line_is_an_object_with_the_requests_facts(web):
    answer = requests.get(
        f"{web.url}/v2/?last=hunter2-in-the-query",
        headers={"User-Agent": "probe/1.0"},
        timeout=30,
    )

    record = access_record(settled_log(web), answer.headers["X-Request-ID"])
    assert record["duration_ms"] >= 0
    del record["time"], record["process"], record["duration_ms"]
    assert record == {
        "level": "INFO",
        "logger": "gunicorn.access",
        "message": "GET /v2/ 401",
        "remote_addr": "127.0.0.1",
        "method": "GET",
        "path": "/v2/",
        "status": 401,
        "bytes": len(answer.content),
        "user_agent": "probe/1.0",
        "request_id": answer.headers["X-Request-ID"],
    }


def test_a_requests_id_ties_its_response_access_line_and_application_log(web):
    answer = web.get("/v2/", auth=("mallory", "not her password"))

    log = settled_log(web)
    request_id = answer.headers["X-Request-ID"]
    assert answer.status_code == 401 and re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert access_record(log, request_id)["user"] == "mallory"
    (failure,) = [
        r
        for r in records(log)
        if r.get("request_id") == request_id and r["logger"] != "gunicorn.access"
    ]
    assert failure["logger"].startswith("axes.") and failure["level"] == "WARNING"
    assert "login failure" in failure["message"]


@pytest.mark.parametrize(
    "offered, kept",
    [
        ("proxy-7f3a.2", True),
        ("a" * 200, True),
        ("a" * 201, False),
        ("bad id", False),
        ('x","level":"ERROR', False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_sane(web, offered, kept):
    answer = web.get("/v2/", headers={"X-Request-ID": offered})

    request_id = answer.headers["X-Request-ID"]
    assert (request_id == offered) is kept
    if not kept:
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert access_record(settled_log(web), request_id)["path"] == "/v2/"


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_serve_starts_without_a_warning(tmp_path, log_format):
    """A normal start warns about nothing; with JSON every line is JSON.
    Stopped as soon as everything it starts is up."""
    hub = Hub(tmp_path, HUB_LOG_FORMAT=log_format)
    try:
        hub.use_test_database_server()
        hub.start_serve()
        up = [r"main@\S+ ready\.", r"builds@\S+ ready\.", r"beat: Starting", "Booting worker"]

        def ready():
            if hub.process.poll() is not None:
                return True
            try:
                answer = hub.get("/-/ready", timeout=5)
            except requests.RequestException:
                return False
            return answer.status_code == 200 and all(re.search(p, hub.log()) for p in up)

        assert with_timeout(ready, 120, 0.25), hub.log()
        assert hub.process.poll() is None, hub.log()
        log = settled_log(hub)
    finally:
        hub.stop()

    if log_format == "json":
        levels = {record["level"] for record in records(log)}
        assert levels == {"INFO"}, log
    else:
        assert not re.search(r"warn|error|traceback", log, re.IGNORECASE), log
