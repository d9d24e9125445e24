"""hub/logs.py: a request's id (taken from a sane X-Request-ID or made up,
answered in the response, on every record logged while serving it, one per
greenlet), and the text and JSON formats of the log."""

import io
import json
import logging
import os
import re
import subprocess
import sys

import gevent
import pytest
from django.http import HttpResponse

from hub.logs import (
    JsonFormatter,
    RequestIdFilter,
    RequestIdMiddleware,
    TextFormatter,
    current_request_id,
)

from .stack import REPO_ROOT

GENERATED = re.compile(r"[0-9a-f]{32}")


# Closing a response, as serve() does, sends request_finished, on which
# Django checks the thread's database connections.
pytestmark = pytest.mark.django_db


@pytest.fixture
def logged(caplog):
    """caplog, its records each with a request_id."""
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO, logger="hub.test")
    return caplog


def serve(view, request):
    """``request`` through the middleware, its response closed as a server does."""
    response = RequestIdMiddleware(view)(request)
    response.close()
    return response


def logging_view(request):
    logging.getLogger("hub.test").info("serving %s", request.path)
    return HttpResponse("ok")


@pytest.mark.parametrize(
    "offered",
    ["abc-123", "Root.1-67891233-abcdef", "a" * 200, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"],
)
def test_a_sane_request_id_is_kept(rf, logged, offered):
    response = serve(logging_view, rf.get("/x", HTTP_X_REQUEST_ID=offered))

    assert response["X-Request-ID"] == offered
    assert [record.request_id for record in logged.records] == [offered]


@pytest.mark.parametrize(
    "offered",
    ["", "a" * 201, "two words", 'x" injected="1', "line\nbreak", "ünicode", "semi;colon"],
)
def test_an_insane_request_id_is_replaced(rf, logged, offered):
    response = serve(logging_view, rf.get("/x", HTTP_X_REQUEST_ID=offered))

    assert GENERATED.fullmatch(response["X-Request-ID"])
    assert [record.request_id for record in logged.records] == [response["X-Request-ID"]]


def test_a_request_without_an_id_gets_a_new_one_each_time(client):
    first = client.get("/-/healthy")["X-Request-ID"]
    second = client.get("/-/healthy")["X-Request-ID"]

    assert GENERATED.fullmatch(first) and GENERATED.fullmatch(second)
    assert first != second


def test_the_id_is_forgotten_when_the_response_is_closed(client, logged):
    client.get("/-/healthy", HTTP_X_REQUEST_ID="done-1")

    logging.getLogger("hub.test").info("between requests")

    assert current_request_id() == ""
    assert logged.records[-1].request_id == "-"


def test_concurrent_greenlets_each_log_their_own_request_id(rf, logged):
    """gevent serves each connection in a greenlet, and each greenlet has a
    context of its own: interleaved requests never see each other's id."""
    seen = {}

    def slow_view(request):
        gevent.sleep(0.01)  # every other request starts meanwhile
        logging.getLogger("hub.test").info("serving %s", request.path)
        seen[request.path] = current_request_id()
        return HttpResponse()

    greenlets = [
        gevent.spawn(serve, slow_view, rf.get(f"/{n}", HTTP_X_REQUEST_ID=f"req-{n}"))
        for n in range(5)
    ]
    gevent.joinall(greenlets, raise_error=True)

    assert seen == {f"/{n}": f"req-{n}" for n in range(5)}
    assert [g.value["X-Request-ID"] for g in greenlets] == [f"req-{n}" for n in range(5)]
    assert sorted((r.getMessage(), r.request_id) for r in logged.records) == [
        (f"serving /{n}", f"req-{n}") for n in range(5)
    ]
    assert current_request_id() == ""


def formatted(formatter, log):
    """What ``log(logger)`` writes through ``formatter`` and the request id filter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("hub.test.format")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        log(logger)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    return stream.getvalue()


def test_a_json_line_has_the_fields_and_no_request_id_outside_a_request():
    line = formatted(JsonFormatter(), lambda logger: logger.warning("disk %s%% full", 91))

    assert line.endswith("\n") and line.count("\n") == 1
    record = json.loads(line)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record.pop("time"))
    assert record == {
        "level": "WARNING",
        "logger": "hub.test.format",
        "message": "disk 91% full",
        "process": os.getpid(),
    }


def test_a_json_line_carries_the_request_id_extras_and_the_traceback(rf):
    def view(request):
        def log(logger):
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception(
                    "failed", extra={"status_code": 500, "request": request, "attempt": 2}
                )

        return HttpResponse(formatted(JsonFormatter(), log))

    response = serve(view, rf.get("/x?token=secret", HTTP_X_REQUEST_ID="r-1"))

    record = json.loads(response.content)
    assert record["request_id"] == "r-1"
    assert (record["status_code"], record["attempt"]) == (500, 2)
    assert "Traceback" in record["exc_info"] and "ValueError: boom" in record["exc_info"]
    # The request object (whose repr has the query string) is not written.
    assert "request" not in record and "secret" not in response.content.decode()


def test_a_text_line_ends_with_the_request_id_only_in_a_request(rf):
    formatter = TextFormatter("%(levelname)s %(name)s %(message)s")

    outside = formatted(formatter, lambda logger: logger.info("idle"))
    inside = serve(
        lambda request: HttpResponse(formatted(formatter, lambda logger: logger.info("busy"))),
        rf.get("/", HTTP_X_REQUEST_ID="r-2"),
    ).content.decode()

    assert outside == "INFO hub.test.format idle\n"
    assert inside == "INFO hub.test.format busy request_id=r-2\n"


def test_an_unknown_log_format_is_refused_by_name(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
        "DJANGO_SETTINGS_MODULE": "hub.settings.base",
        "HUB_DATA_DIR": str(tmp_path),
        "HUB_LOG_FORMAT": "xml",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: HUB_LOG_FORMAT must be 'text' or 'json'" in result.stderr
