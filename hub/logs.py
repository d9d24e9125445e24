"""How Hub's processes log: text lines for people or JSON lines for a log
collector (HUB_LOG_FORMAT), and the id of the request each line was written
for.

Every request gets an id: the caller's ``X-Request-ID`` when it is a sane
token (a proxy or load balancer in front usually sets one), a new one
otherwise. The response carries it back in ``X-Request-ID``, the access log
and every record logged while the request is served name it, so one request
can be followed from the proxy's log through Hub's.

The id lives in a context variable: each gevent greenlet (one per connection
in the web server) and each thread has a context of its own, so concurrent
requests never see each other's id."""

import contextvars
import logging
import logging.config
import re
import uuid
from datetime import UTC, datetime

from django.core.signals import request_finished
from django.dispatch import receiver
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

LOG_FORMATS = ("text", "json")
REQUEST_ID_HEADER = "X-Request-ID"
# What a request id read from a client may look like: enough for a UUID, a
# hex trace id or the id a proxy makes up (nginx's $request_id), and nothing
# that could forge a log line, a JSON field or a header.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,200}")
# Shown where a record was written outside any request.
NO_REQUEST = "-"

_request_id = contextvars.ContextVar("hub_request_id", default="")


def current_request_id():
    """The id of the request being served here, or "" outside a request."""
    return _request_id.get()


class RequestIdMiddleware:
    """Give each request an id (see the module's docstring) and answer with it.

    It stays set until the response is closed, not merely returned, so what
    is logged while a streamed body is sent (a blob download) and the access
    log line still name it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        offered = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = offered if _SANE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        request.request_id = request_id
        _request_id.set(request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="hub.logs.forget_request_id")
def forget_request_id(**kwargs):
    """The request is over: what this connection (or thread) logs next, up
    to its next request, belongs to none."""
    _request_id.set("")


class RequestIdFilter(logging.Filter):
    """Put ``request_id`` on every record: the current request's id, or "-".

    A record that names its request already (gunicorn's access line, which
    reads it from the response) keeps that id."""

    def filter(self, record):
        if not getattr(record, "request_id", ""):
            record.request_id = _request_id.get() or NO_REQUEST
        return True


class TextFormatter(logging.Formatter):
    """Hub's text lines, ending in ``request_id=...`` when the line was written
    while serving a request."""

    def formatMessage(self, record):
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", NO_REQUEST)
        return line if request_id in ("", NO_REQUEST) else f"{line} request_id={request_id}"


class JsonFormatter(_JsonFormatter):
    """One JSON object per record, on one line: ``time`` (ISO 8601, UTC),
    ``level``, ``logger``, ``message``, ``process``, ``request_id`` (while
    serving a request), the record's extra fields, and ``exc_info`` with the
    traceback of an exception."""

    # Django's request loggers attach the request object; its repr holds
    # the query string, which may carry a secret (see hub/gunicorn.conf.py).
    # The request id is written above the extra fields, under its own rule.
    _NOT_EXTRA = (*RESERVED_ATTRS, "taskName", "request", "request_id")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("reserved_attrs", self._NOT_EXTRA)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data, record, message_dict):
        log_data["time"] = (
            datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data["process"] = record.process
        request_id = getattr(record, "request_id", "")
        if request_id and request_id != NO_REQUEST:
            log_data["request_id"] = request_id
        super().add_fields(log_data, record, message_dict)


def configure(config):
    """LOGGING_CONFIG: Django's LOGGING; with JSON lines, Python's warnings
    go through logging too, so that no line on the console is anything but
    JSON."""
    from django.conf import settings

    logging.config.dictConfig(config)
    logging.captureWarnings(settings.HUB_LOG_FORMAT == "json")
