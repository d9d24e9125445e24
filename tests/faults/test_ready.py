"""/-/ready follows the services Hub stands on, and Hub needs no restart.

For each service (PostgreSQL stopped with ``-m immediate``, the cache's or
the broker's Redis killed with SIGKILL, S3's connections refused and cut at
the forwarder), while a web node keeps running:

- /-/ready on that node answers 503 within a few seconds, naming that
  service ``unavailable`` and every other one ``ok``; no probe takes long
  (a probe that waits out a client's retries would hold a web worker and
  time out at the orchestrator);
- /-/healthy answers 200 all along (a liveness probe that failed would have
  every web process restarted for an outage elsewhere);
- once the service is back, /-/ready answers 200 again on both web nodes,
  served by the same processes as before.

Every service is started again at the end, whatever happened: the rest of
the fault suite shares the cluster.
"""

from __future__ import annotations

import time

import pytest
import requests

from .harness import Cluster, HubNode, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

COMPONENTS = ["database", "cache", "broker", "storage"]
# Seconds for /-/ready to notice a service going away or coming back (the
# cache backend tries a Redis it lost again after 2 s).
NOTICE_DEADLINE = 20
RECOVERY_DEADLINE = 30
# The longest one /-/ready or /-/healthy answer may take.
PROBE_LIMIT = 5.0


class Probes:
    """GET /-/ready and /-/healthy on a node, noting each answer and its time."""

    def __init__(self, node: HubNode):
        self.node = node
        self.session = requests.Session()
        self.session.trust_env = False
        self.slow: list[str] = []
        self.unhealthy: list[str] = []
        self.count = 0

    def _get(self, path: str) -> requests.Response:
        started = time.monotonic()
        response = self.session.get(f"{self.node.url}{path}", timeout=30)
        took = time.monotonic() - started
        if took > PROBE_LIMIT:
            self.slow.append(f"{path} on {self.node.name}: {took:.1f}s ({response.status_code})")
        return response

    def ready(self) -> tuple[int, dict]:
        self.count += 1
        healthy = self._get("/-/healthy")
        if healthy.status_code != 200:
            self.unhealthy.append(f"{healthy.status_code} {healthy.text[:200]}")
        response = self._get("/-/ready")
        return response.status_code, response.json()

    def close(self):
        self.session.close()


def _wait_ready(probes: Probes, deadline: float):
    last = {}

    def ready():
        status, body = probes.ready()
        last["answer"] = (status, body)
        return status == 200

    try:
        wait_until(ready, deadline, f"/-/ready answering 200 on node {probes.node.name}", 0.5)
    except AssertionError as error:
        raise AssertionError(f"{error}; last answer: {last.get('answer')}") from None


@pytest.mark.parametrize("component", COMPONENTS)
def test_ready_names_the_service_that_is_down_and_recovers_without_a_restart(
    cluster: Cluster, component: str
):
    node, other = cluster.a, cluster.b
    probes = {n.name: Probes(n) for n in (node, other)}
    for n in (node, other):
        _wait_ready(probes[n.name], RECOVERY_DEADLINE)
    pids_before = {n.name: n.web_pids() for n in (node, other)}
    assert all(pids_before.values()), f"no gunicorn found under serve: {pids_before}"

    down, up = cluster.switches(component)
    answers = []
    down()
    try:
        down_at = time.monotonic()

        def named_unavailable():
            status, body = probes[node.name].ready()
            answers.append((round(time.monotonic() - down_at, 1), status, body))
            return status == 503 and body.get("checks", {}).get(component) == "unavailable"

        try:
            wait_until(
                named_unavailable,
                NOTICE_DEADLINE,
                f"/-/ready on node {node.name} naming the {component} unavailable",
                0.5,
            )
        except AssertionError as error:
            raise AssertionError(f"{error}; last answers: {answers[-3:]}") from None
        noticed_after = answers[-1][0]
        # It stays that way while the service is down, and blames nothing else.
        for _ in range(3):
            named_unavailable()
            time.sleep(0.5)
    finally:
        up()
    up_at = time.monotonic()
    for n in (node, other):
        _wait_ready(probes[n.name], RECOVERY_DEADLINE)
    recovered_after = time.monotonic() - up_at
    print(
        f"\n{component}: /-/ready said so after {noticed_after:.1f}s, "
        f"answered 200 again {recovered_after:.1f}s after it was back"
    )
    for p in probes.values():
        p.close()

    outage_answers = [a for a in answers if a[1] == 503]
    blamed = [
        (at, body["checks"])
        for at, _, body in outage_answers
        if {name for name, state in body["checks"].items() if state != "ok"} != {component}
    ]
    assert not blamed, f"with only the {component} down, /-/ready blamed others: {blamed}"
    assert all(body["checks"][component] == "unavailable" for _, _, body in answers[-3:]), (
        f"/-/ready changed its mind while the {component} was still down: {answers[-3:]}"
    )
    unhealthy = [u for p in probes.values() for u in p.unhealthy]
    assert not unhealthy, f"/-/healthy failed while the {component} was down: {unhealthy}"
    slow = [s for p in probes.values() for s in p.slow]
    assert not slow, f"probes took longer than {PROBE_LIMIT}s: {slow}"
    pids_after = {n.name: n.web_pids() for n in (node, other)}
    assert pids_after == pids_before, (
        f"the web servers were restarted: {pids_before} before, {pids_after} after"
    )
