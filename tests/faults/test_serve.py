"""`manage.py serve` keeps its children running: a Celery worker or the web
server killed with SIGKILL is started again, the node keeps (or goes back
to) serving, and push notifications still arrive, once each.

These run after the outages (they may take a node down for good where
serve does not restart its children)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from contextlib import suppress
from pathlib import Path

import pytest
import requests

from .harness import USER, HubNode, Journal, MiB, OperationFailed, random_image, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

RESTART_DEADLINE = 60
WEBHOOK_DEADLINE = 120


class Prober:
    """GET /v2/ on a node five times a second, noting every miss."""

    def __init__(self, node: HubNode):
        self.node = node
        self.misses: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self):
        with requests.Session() as session:
            while not self._stop.wait(0.2):
                try:
                    status = session.get(f"{self.node.url}/v2/", timeout=10).status_code
                    if status not in (200, 401):
                        self.misses.append(f"{time.strftime('%X')} {status}")
                except requests.RequestException as exc:
                    self.misses.append(f"{time.strftime('%X')} {exc!r}")


def _restarted(node: HubNode, old_pid: int, *words: str):
    def check():
        if node.proc.poll() is not None:
            raise AssertionError(
                f"serve on node {node.name} exited ({node.proc.returncode}) once its child "
                f"{' '.join(words)} was killed, instead of starting it again"
            )
        pid = node.child(*words)
        return pid if pid not in (None, old_pid) else None

    return wait_until(check, RESTART_DEADLINE, f"serve on {node.name} restarting {words}")


def test_killed_worker_is_restarted_and_events_still_get_delivered(cluster):
    worker_node = cluster.worker
    old = worker_node.child("celery", "main@")
    assert old, f"no Celery worker among serve's children: {worker_node.children()}"
    client = cluster.client(Journal())
    rng = random.Random()
    images = [random_image(rng, cluster.repos[1], f"worker-kill-{i}", 1, 1) for i in range(6)]

    with Prober(worker_node) as prober:
        for image in images[:3]:
            client.push(image, cluster.web_nodes)
        os.kill(old, signal.SIGKILL)
        for image in images[3:]:
            client.push(image, cluster.web_nodes)
        _restarted(worker_node, old, "celery", "main@")
        expected = {image.key for image in images}
        try:
            wait_until(
                lambda: not expected - cluster.receiver.pushes().keys(),
                WEBHOOK_DEADLINE,
                "notifications of the pushes made around the kill",
                1,
            )
        finally:
            notified = cluster.receiver.pushes()
    missing = sorted(expected - notified.keys())
    twice = sorted(k for k in expected if notified[k] > 1)
    assert not missing and not twice, f"never notified: {missing}; notified twice: {twice}"
    assert not prober.misses, f"node W stopped answering /v2/: {prober.misses[:20]}"


def _upload_in_flight(node: HubNode, cluster, stop: threading.Event):
    """A monolithic blob upload to ``node`` whose body trickles in until ``stop``:
    while it lasts, the server holds a scratch file for it."""

    def body():
        yield b"\0" * MiB
        while not stop.wait(0.1):
            yield b"\0" * 1024

    def send():
        url = f"{node.url}/v2/{cluster.probe_repo}/blobs/uploads/?digest=sha256:{'0' * 64}"
        with suppress(requests.RequestException):
            requests.post(url, data=body(), auth=(USER, cluster.password), timeout=120)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _scratch_files(node: HubNode) -> list[Path]:
    return [p for p in node.scratch_dir.rglob("*") if p.is_file()]


def test_killed_web_server_is_restarted_and_its_scratch_files_swept(cluster):
    node, other = cluster.b, cluster.a
    old = node.child("gunicorn")
    assert old, f"no gunicorn among serve's children: {node.children()}"
    stop = threading.Event()
    upload = _upload_in_flight(node, cluster, stop)
    try:
        wait_until(lambda: _scratch_files(node), 30, f"a scratch file on node {node.name}")
        with Prober(other) as prober:
            os.kill(old, signal.SIGKILL)
            _restarted(node, old, "gunicorn")
            journal = Journal()
            client = cluster.client(journal)

            def push_and_pull():
                tag = f"web-kill-{time.time_ns()}"
                image = random_image(random.Random(), cluster.probe_repo, tag)
                try:
                    client.push(image, [node])
                    client.pull(image, node)
                except OperationFailed:
                    return False
                return True

            wait_until(push_and_pull, RESTART_DEADLINE, f"node {node.name} serving pushes again", 1)
    finally:
        stop.set()
        upload.join(timeout=30)
    assert not prober.misses, f"node {other.name} stopped answering: {prober.misses[:20]}"

    left = _scratch_files(node)  # the killed request's file
    print(f"\nscratch files the killed server left on node {node.name}: {len(left)}")
    node.manage("sweep", env={"HUB_SCRATCH_MAX_AGE": "0"})
    remaining = _scratch_files(node)
    assert not remaining, f"`manage.py sweep` left {remaining} on node {node.name} (before: {left})"


def test_no_push_was_notified_twice_in_the_whole_session(cluster):
    twice = {k: n for k, n in cluster.receiver.pushes().items() if n > 1}
    assert not twice, f"pushes notified more than once: {twice}"
