"""Celery brokers for tests: one that is down, and a Redis server of the
test's own that the test starts and stops.

The test settings run tasks eagerly, in the test's process. Inside
``tasks_sent_to(url)`` the tasks the code queues go to that broker instead;
``broker_down()`` points them at a port of 127.0.0.1 nothing listens on,
with connection retries off, so sending fails at once, as it does when the
broker is down. ``RedisServer`` runs `redis-server` on a free port, never
the machine's shared Redis."""

import shutil
import socket
import subprocess
import time
from contextlib import contextmanager

import pytest
import redis


def free_port():
    """A port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Sending a message to a broker that does not answer: no retries, and short
# timeouts for a host that does not answer at all.
FAIL_FAST = {
    "task_publish_retry": False,
    "broker_connection_retry": False,
    "broker_connection_max_retries": 1,
    "broker_connection_timeout": 1,
    "broker_transport_options": {
        "max_retries": 0,
        "socket_connect_timeout": 1,
        "socket_timeout": 1,
    },
}


def _producer_connections_forget(app):
    """Celery keeps its producer pools for the broker it first connected to;
    after a broker change they must be rebuilt."""
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def tasks_sent_to(broker_url, **options):
    """Queue tasks on ``broker_url`` (with Celery ``options``) instead of
    running them in this process."""
    from hub.celery import app

    changes = {
        "broker_url": broker_url,
        "task_always_eager": False,
        "broker_transport_options": {},
        **options,
    }
    saved = {name: app.conf[name] for name in changes}
    app.conf.update(changes)
    _producer_connections_forget(app)
    try:
        yield
    finally:
        app.conf.update(saved)
        _producer_connections_forget(app)


def broker_down():
    """Tasks are sent to a Redis broker that is down: sending fails fast."""
    return tasks_sent_to(f"redis://127.0.0.1:{free_port()}/0", **FAIL_FAST)


class RedisServer:
    """`redis-server` on a free port of 127.0.0.1, keeping nothing on disk,
    started and stopped by the test."""

    def __init__(self, directory):
        self.directory = directory
        self.port = free_port()
        self.process = None
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not shutil.which(binary):
            pytest.skip("redis-server is not installed")
        self.binary = binary

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout=10):
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise AssertionError(
                            f"redis-server did not start on port {self.port}"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
