"""The fault suite's cluster (tests/faults/harness.py), started once per
session, and the server logs a failing test's report carries.

HUB_FAULTS_KEEP=1 keeps the cluster's directory (logs, data) afterwards."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from .harness import Cluster, Topology

_LOGS: dict[str, Path] = {}
_OFFSETS = pytest.StashKey[dict]()
# Lines of a server log worth showing: answers of 500 and up other than the
# expected 503s in gunicorn's access log, dead processes, and the start of
# each traceback (with the lines that follow it).
_NOTEWORTHY = re.compile(r'" 5(?!03)\d\d |CRITICAL|WORKER TIMEOUT|exited|Error handling request')
_TRACEBACK_LINES = 25


@pytest.fixture(scope="session")
def cluster():
    # Short and outside pytest's 0700 directories: PostgreSQL's socket lives
    # beside its data, owned by the postgres user.
    root = Path(tempfile.mkdtemp(prefix="hub-faults-"))
    cluster = Cluster(root)
    try:
        try:
            cluster.start()
        finally:
            for node in cluster.nodes:
                _LOGS[f"hub {node.name}"] = node.log
        yield cluster
    finally:
        cluster.close()
        _LOGS.clear()
        if os.environ.get("HUB_FAULTS_KEEP"):
            print(f"fault cluster's logs and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def topology(cluster):
    """Hub as separate role processes, on the cluster's servers."""
    root = Path(tempfile.mkdtemp(prefix="hub-topology-"))
    topology = Topology(cluster, root)
    try:
        try:
            topology.start()
        finally:
            for process in topology.processes:
                _LOGS[f"hub {process.name}"] = process.log
        yield topology
    finally:
        topology.close()
        for process in topology.processes:
            _LOGS.pop(f"hub {process.name}", None)
        if os.environ.get("HUB_FAULTS_KEEP"):
            print(f"topology's logs and data kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item.stash[_OFFSETS] = {name: _size(path) for name, path in _LOGS.items()}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    offsets = item.stash.get(_OFFSETS, {})
    for name, path in _LOGS.items():
        try:
            with open(path, "rb") as log:
                log.seek(offsets.get(name, 0))
                lines = log.read().decode("utf-8", "replace").splitlines()
        except OSError:
            continue
        noteworthy = _noteworthy(lines)
        if noteworthy:
            report.sections.append((f"{name}: noteworthy log lines ({path})", noteworthy))


def _noteworthy(lines: list[str], limit: int = 120) -> str:
    picked, follow = [], 0
    for line in lines:
        if line.startswith("Traceback"):
            follow = _TRACEBACK_LINES
        if follow or _NOTEWORTHY.search(line):
            picked.append(line)
        follow = max(follow - 1, 0)
    return "\n".join(picked[:limit])


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
