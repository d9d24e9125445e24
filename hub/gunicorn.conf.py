"""gunicorn's configuration for Hub: `manage.py serve` passes it with --config,
and so can anyone running gunicorn themselves:

    .venv/bin/gunicorn --config hub/gunicorn.conf.py

The values come from Hub's settings (HUB_ADDR, HUB_WEB_* in the environment;
see the README). Options in GUNICORN_CMD_ARGS or on the command line still
win over this file."""

import ctypes
import os
import re
import signal
import sys
import traceback
from pathlib import Path

from gunicorn.glogging import Logger

_PROJECT = Path(__file__).resolve().parent.parent
# gunicorn may be started from any directory; the settings and the app live here.
if str(_PROJECT) not in sys.path:
    sys.path.insert(0, str(_PROJECT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hub.settings.base")
# Each request runs in a greenlet of its own (see worker_class), and Django
# keeps one database connection per thread, which here means per greenlet: a
# connection kept for reuse after its request would never be used again. So
# the web server's connections last one request (or less: see
# repositories.services.release_database).
os.environ["HUB_DB_CONN_MAX_AGE"] = "0"

from django.conf import settings  # noqa: E402  (needs the path and the module above)

wsgi_app = "hub.wsgi:application"
chdir = str(_PROJECT)
bind = [settings.HUB_ADDR]
workers = settings.HUB_WEB_WORKERS
# Each connection is served by a greenlet, not a thread: a client on a slow
# link holds a few kilobytes of stack and its socket, and while it waits the
# process serves everyone else. With a fixed pool of threads, a few dozen
# slow downloads held every thread and a manifest GET waited seconds for one
# (README, Performance). gevent makes the standard library's sockets, locks
# and sleeps cooperative when the worker starts; psycopg2 is made so in
# post_worker_init.
worker_class = "gevent"
worker_connections = settings.HUB_WEB_CONNECTIONS
# An idle client connection stays open this long. A load balancer or proxy
# keeps its own idle connections to Hub and reuses them; if Hub closed one
# just as the proxy sent the next request on it, that request would fail
# with a connection reset and nothing in Hub's log. Hub must therefore wait
# longer than the proxy does (AWS ALB: 60 s by default), so that the proxy
# is always the side that closes. Registry clients reuse connections too,
# between the requests of a push; with gunicorn's own default of 2 s, pushes
# under load failed that way.
keepalive = settings.HUB_WEB_KEEPALIVE
# A worker that has not checked in for this long (stuck, not merely busy
# with a long request: the threads serve requests) is killed and replaced.
timeout = settings.HUB_WEB_TIMEOUT
# On a stop or restart, requests in flight get this long to finish.
graceful_timeout = settings.HUB_WEB_GRACEFUL_TIMEOUT
# HTTPS, when Hub serves it itself (HUB_TLS_CERT and HUB_TLS_KEY).
if settings.HUB_TLS_CERT:
    certfile = settings.HUB_TLS_CERT
    keyfile = settings.HUB_TLS_KEY
errorlog = "-"
accesslog = "-" if settings.HUB_WEB_ACCESS_LOG else None
# One line per request: client, user, request line without the query string,
# status, bytes sent, milliseconds taken, user agent, request id (the
# response's X-Request-ID, hub/logs.py). The query string is left out on
# purpose (see AccessLogger). With HUB_LOG_FORMAT=json the line is a JSON
# object with these fields instead.
access_log_format = '%(h)s %(u)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s" %({x-request-id}o)s'
# No control socket file in the working directory; `serve` supervises.
control_socket_disable = True

PR_SET_PDEATHSIG = 1
# Paths that carry a secret of their own: a build trigger's token, a webhook
# callback's token, e-mail confirmation and password reset keys. The access
# log shows them with the secret replaced.
_SECRET_PATHS = (
    re.compile(r"(/builds/hooks/[^/]+/generic/)[^/?]+"),
    re.compile(r"(/builds/webhook-callbacks/\d+/)[^/?]+"),
    re.compile(r"(/accounts/confirm-email/)[^/?]+"),
    re.compile(r"(/accounts/password/reset/key/[0-9A-Za-z]+-)(?!set-password/)[^/?]+"),
)


def redact(url):
    """``url`` (a path or a whole URL) without its query string or secrets."""
    url = url.split("?", 1)[0]
    for pattern in _SECRET_PATHS:
        url = pattern.sub(r"\1[secret]", url)
    return url


class AccessLogger(Logger):
    """gunicorn's logger, with secrets kept out of the access log.

    Query strings may hold secrets (a build trigger's token, an OAuth
    callback's code), so every atom that could show one (the request line,
    the path, the referrer, the query string itself) loses it, whatever
    access_log_format says, and the secret segment of a few paths is
    replaced.

    With HUB_LOG_FORMAT=json the error log and the access log are JSON lines
    like the rest of Hub's log; an access line's fields come from the same
    redacted atoms."""

    def setup(self, cfg):
        super().setup(cfg)
        if settings.HUB_LOG_FORMAT == "json":
            from hub.logs import JsonFormatter, RequestIdFilter

            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    if getattr(handler, "_gunicorn", False):
                        handler.setFormatter(JsonFormatter())
                        handler.addFilter(RequestIdFilter())

    def access(self, resp, req, environ, request_time):
        if settings.HUB_LOG_FORMAT != "json":
            super().access(resp, req, environ, request_time)
        elif self.access_log_enabled:
            try:
                fields = self.access_fields(resp, req, environ, request_time)
                self.access_log.info(
                    "%s %s %s", fields["method"], fields["path"], fields["status"], extra=fields
                )
            except Exception:  # as gunicorn's own: a request is never failed over its log line
                self.error(traceback.format_exc())

    def access_fields(self, resp, req, environ, request_time):
        """An access line's fields in JSON, from the redacted atoms."""
        atoms = self.atoms(resp, req, environ, request_time)
        fields = {
            "remote_addr": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "status": int(atoms["s"]),
            "bytes": atoms["B"],
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "user_agent": atoms["a"],
        }
        if atoms["u"] != "-":
            fields["user"] = atoms["u"]
        if "{x-request-id}o" in atoms:
            fields["request_id"] = atoms["{x-request-id}o"]
        return fields

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = redact(environ.get("PATH_INFO") or "/")
        atoms["U"] = atoms["{path_info}e"] = path
        atoms["r"] = f"{environ['REQUEST_METHOD']} {path} {environ.get('SERVER_PROTOCOL', '-')}"
        for name in ("{raw_uri}e", "{request_uri}e"):
            if name in atoms:
                atoms[name] = path
        for name in ("q", "{query_string}e"):
            atoms[name] = "-"
        for name in ("f", "{referer}i"):
            if name in atoms:
                atoms[name] = redact(atoms[name])
        return atoms


logger_class = AccessLogger


def post_fork(server, worker):
    """Have the kernel kill this worker when the master dies. Without a
    master nobody restarts or times out the worker, and it would hold the
    listening socket, so a restarted gunicorn could not bind its address."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != server.pid:  # the master died before the line above
        os._exit(1)


def post_worker_init(worker):
    """Make the C parts that wait for the network cooperative too: psycopg2
    waits for PostgreSQL through gevent (psycopg2's own select-based wait,
    with select patched by gevent), and sockets send files with the kernel's
    sendfile rather than through Python in 8 KiB pieces."""
    from psycopg2 import extensions, extras

    extensions.set_wait_callback(extras.wait_select)
    import gevent.socket

    gevent.socket.socket.sendfile = _cooperative_sendfile


def _cooperative_sendfile(self, file, offset=0, count=None):
    """socket.sendfile for a gevent socket: the kernel copies the file to the
    socket (os.sendfile, no bytes through Python), and while the socket's
    buffer is full this greenlet waits and others run. gevent's own sendfile
    reads and sends 8 KiB at a time, as its sockets are non-blocking; that is
    what lets this loop wait on EAGAIN instead."""
    import gevent.socket

    fileno = file.fileno()
    if count is None:
        count = os.fstat(fileno).st_size - offset
    sent = 0
    try:
        while sent < count:
            try:
                n = os.sendfile(self.fileno(), fileno, offset + sent, count - sent)
            except BlockingIOError:
                gevent.socket.wait_write(self.fileno(), timeout=self.gettimeout())
                continue
            if n == 0:  # the file is shorter than it was said to be
                break
            sent += n
        return sent
    finally:
        if sent:
            file.seek(offset + sent)


def post_request(worker, req, environ, resp):
    """Let the other connections' requests go first before this connection's
    next one. A greenlet gives way only when it would wait, and a client
    that sends its next request the moment it has an answer (wrk; a busy CI
    runner) never makes it wait: measured with two such clients on one
    process, one was served at once while the other waited up to 200 ms."""
    import gevent

    gevent.sleep(0)


def on_starting(server):
    """Forget the metrics files of processes that are gone, a previous run's
    (hub/metrics.py): their counts would be added to this run's, and their
    live gauges would count what they no longer do. Files of processes still
    running (Celery workers sharing the directory) are kept."""
    directory = Path(settings.HUB_METRICS_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        pid = path.stem.rpartition("_")[2]
        if pid.isdigit() and not _running(int(pid)):
            path.unlink(missing_ok=True)


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def child_exit(server, worker):
    """A worker's live gauges (uploads in flight) go with it; its counters
    stay, so that the totals do not fall back."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
