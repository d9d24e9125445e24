"""Hub as the compose file and the Kubernetes manifests run it: one program
per process, each started as ``manage.py serve <role>`` (harness.Topology).

- ``serve migrate`` exits 0 (the fixture checks it), and each other role
  becomes its program: the process the container runtime started is
  gunicorn, or Celery, itself;
- an image pushed through one ``serve web`` process pulls, every byte
  verified, through another;
- a push's event is handled by the ``serve worker`` process: the
  repository's webhook is called;
- SIGTERM ends each role process by itself, with status 0 (gunicorn's and
  Celery's warm shutdown both exit 0) and nothing left behind, within
  HUB_WEB_GRACEFUL_TIMEOUT and a few seconds, even while a client keeps an
  idle connection open (gunicorn waits for it until that timeout).
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import time
from contextlib import suppress

import pytest
import requests

from tests.hub.stack import alive, descendants

from .harness import Journal, Topology, random_image, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

WEBHOOK_DEADLINE = 90
# Beyond HUB_WEB_GRACEFUL_TIMEOUT, for a role process to end after SIGTERM.
STOP_MARGIN = 5
PROGRAMS = {
    "web": ("-m gunicorn", "--config"),
    "worker": ("-m celery", " worker ", "--queues celery"),
    "builds": ("-m celery", " worker ", "--queues builds"),
    "beat": ("-m celery", " beat "),
}


def test_each_role_process_is_its_program(topology: Topology):
    print(f"\nserve migrate took {topology.migrate_seconds:.1f}s")
    for process in topology.running:
        assert process.proc.poll() is None, f"{process.name} exited ({process.proc.returncode})"
        cmdline = process.cmdline()
        missing = [word for word in PROGRAMS[process.role] if word not in cmdline]
        assert not missing, f"{process.name} (pid {process.proc.pid}) runs {cmdline!r}"


def test_an_image_pushed_through_one_web_process_pulls_through_another(topology: Topology):
    first, second = topology.webs
    client = topology.client(Journal())
    image = random_image(random.Random(), topology.repo, "across-webs", 2, 2)
    client.push(image, [first])
    client.pull(image, second)
    # And the other way round, the requests of one push spread over both.
    image = random_image(random.Random(), topology.repo, "both-webs", 2, 2)
    client.push(image, [second, first])
    client.pull(image, first)


def test_a_push_is_notified_by_the_worker_process(topology: Topology):
    client = topology.client(Journal())
    image = random_image(random.Random(), topology.repo, "notified", 1, 1)
    client.push(image, topology.webs)
    wait_until(
        lambda: image.key in topology.receiver.pushes(),
        WEBHOOK_DEADLINE,
        f"the webhook notified of {image.key}",
        0.5,
    )
    assert topology.receiver.pushes()[image.key] == 1
    # The worker process ran the tasks; the web processes only queued them.
    ran = re.compile(r"Task [\w.]+\[[\w-]+\] succeeded")
    assert ran.search(topology.worker.log.read_text(errors="replace")), "the worker's log"
    for web in topology.webs:
        assert not ran.search(web.log.read_text(errors="replace")), f"{web.name} ran a task"


def test_sigterm_ends_each_role_process_cleanly(topology: Topology):
    limit = topology.graceful_timeout + STOP_MARGIN
    # An idle keep-alive connection, as a load balancer keeps them: gunicorn
    # waits for it until HUB_WEB_GRACEFUL_TIMEOUT before it ends.
    idle = requests.Session()
    idle.trust_env = False
    assert idle.get(f"{topology.webs[0].url}/-/healthy", timeout=10).status_code == 200
    results = {}
    for process in [topology.beat, topology.builds, topology.worker, *topology.webs]:
        tree = descendants(process.proc.pid)  # gunicorn's workers, Celery's pool
        started = time.monotonic()
        process.proc.send_signal(signal.SIGTERM)
        try:
            returncode = process.proc.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            returncode = None
        took = time.monotonic() - started
        with suppress(AssertionError):  # what is left is reported below
            wait_until(lambda t=tree: not any(alive(pid) for pid in t), 5, "", 0.1)
        left = [pid for pid in tree if alive(pid)]
        results[process.name] = (returncode, round(took, 1), left)
    idle.close()
    print(f"\nafter SIGTERM (status, seconds, processes left): {results}")
    problems = {name: result for name, result in results.items() if result[0] != 0 or result[2]}
    assert not problems, (
        f"role processes that did not end with status 0 within {limit}s, or left "
        f"processes behind: {problems}"
    )
    log = "\n".join(p.log.read_text(errors="replace") for p in topology.running)
    assert "Traceback" not in log, log[-6000:]
