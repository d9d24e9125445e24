"""`manage.py serve` keeps Hub running: a child that dies is logged and
started again while the others go on serving, and stopping (or killing)
`serve` leaves no process behind. Real processes: `serve` is started as
`make run` starts it, with a data directory and a port of its own, and its
children are found through /proc."""

import contextlib
import io
import os
import re
import signal
import socket
import sys
import threading
import time

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from hub.management.commands import serve
from hub.management.commands.serve import Command

from .stack import Hub, alive, child_running, children, descendants, with_timeout

CHILDREN = {
    "web": "gunicorn",
    "worker": "main@%h",
    "builds": "builds@%h",
    "beat": " beat ",
}


def running_children(hub, timeout=60):
    """{name: pid} of serve's four children, once all of them run."""
    found = {}

    def all_found():
        found.update(
            {name: child_running(hub.process.pid, marker) for name, marker in CHILDREN.items()}
        )
        return all(found.values())

    assert with_timeout(all_found, timeout), f"not all running: {found}\n{hub.log()}"
    return dict(found)


def wait_until_dead(pids, timeout=15):
    assert with_timeout(lambda: not any(alive(pid) for pid in pids), timeout), (
        f"still running after {timeout}s: {[pid for pid in pids if alive(pid)]}"
    )


def wait_for_log(hub, pattern, timeout=60, count=1):
    ok = with_timeout(lambda: len(re.findall(pattern, hub.log())) >= count, timeout, 0.1)
    assert ok, f"{pattern!r} ({count}x) not in the log within {timeout}s:\n{hub.log()[-5000:]}"


class Poller:
    """GET /v2/ with credentials, again and again, in a thread of its own."""

    def __init__(self, hub):
        self.hub = hub
        self.answers = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        session = requests.Session()
        session.auth = ("admin", self.hub.admin_password)
        while not self._stop.is_set():
            try:
                self.answers.append(session.get(f"{self.hub.url}/v2/", timeout=10).status_code)
            except requests.RequestException as error:
                self.answers.append(repr(error))
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    hub = Hub(tmp_path_factory.mktemp("serve"))
    hub.use_test_database_server()
    hub.start_serve()
    try:
        hub.wait_until_serving()
        running_children(hub)
        # Ready: consuming, with its pool processes started.
        wait_for_log(hub, r"main@\S+ ready\.")
        yield hub
    finally:
        hub.stop()


@pytest.mark.e2e
def test_a_killed_worker_is_started_again_while_the_web_answers(hub):
    before = running_children(hub)
    worker = before["worker"]
    pool = children(worker)
    assert pool, "the worker's pool processes"

    with Poller(hub) as poller:
        os.kill(worker, signal.SIGKILL)
        wait_for_log(hub, rf"worker \(pid {worker}\) was killed by SIGKILL; starting it again")
        after = running_children(hub)
        wait_for_log(hub, r"main@\S+ ready\.", count=2)
        time.sleep(1)

    assert after["worker"] != worker
    # The others ran on untouched.
    assert {name: pid for name, pid in after.items() if name != "worker"} == {
        name: pid for name, pid in before.items() if name != "worker"
    }
    assert len(poller.answers) > 20
    assert set(poller.answers) == {200}, poller.answers
    # Celery's pool processes went with the worker they belonged to.
    wait_until_dead(pool)


@pytest.mark.e2e
def test_a_killed_web_server_is_started_again_and_its_workers_die_with_it(hub):
    web = running_children(hub)["web"]
    web_workers = children(web)
    assert web_workers
    log_before = len(hub.log())

    os.kill(web, signal.SIGKILL)
    # Without their master, the workers die at once (rather than hold the port).
    wait_until_dead(web_workers, timeout=5)
    wait_for_log(hub, rf"web \(pid {web}\) was killed by SIGKILL; starting it again")
    hub.wait_until_serving(timeout=60)

    assert running_children(hub)["web"] != web
    after = hub.log()[log_before:]
    assert "Listening at:" in after
    assert "Connection in use" not in after  # it could bind at once


@pytest.mark.e2e
def test_sigterm_stops_every_child(hub):
    serve = hub.process
    tree = descendants(serve.pid)
    assert len(tree) >= 4 + 2  # four children, gunicorn's workers, Celery's pools

    serve.send_signal(signal.SIGTERM)
    serve.wait(timeout=60)

    assert serve.returncode == 0
    wait_until_dead(tree, timeout=5)
    assert "Stopping (SIGTERM)" in hub.log()


@pytest.mark.e2e
def test_a_killed_serve_takes_its_children_with_it(tmp_path):
    hub = Hub(tmp_path)
    hub.use_test_database_server()
    hub.start_serve()
    try:
        hub.wait_until_serving()
        running_children(hub)
        tree = descendants(hub.process.pid)

        hub.process.kill()
        hub.process.wait()

        wait_until_dead(tree, timeout=10)
        # And the address is free for the next `serve`.
        host, port = hub.addr.split(":")
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, int(port)))
    finally:
        hub.stop()


@pytest.mark.e2e
def test_two_serves_starting_at_once_on_one_database_both_come_up(tmp_path):
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first, second = Hub(tmp_path / "first"), Hub(tmp_path / "second")
    if os.environ.get("HUB_TEST_DATABASE_URL"):
        first.use_test_database_server()
        second.env["HUB_DATABASE_URL"] = first.env["HUB_DATABASE_URL"]
    else:
        shared = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
        first.env["HUB_DATABASE_URL"] = second.env["HUB_DATABASE_URL"] = shared
    second.env["HUB_ADMIN_PASSWORD"] = second.admin_password = first.admin_password
    try:
        first.start_serve("--no-worker")
        second.start_serve("--no-worker")
        first.wait_until_serving()
        second.wait_until_serving()
    finally:
        second.stop()
        first.stop()
    for hub in (first, second):
        assert "Traceback" not in hub.log()


@pytest.mark.django_db
def test_ensure_admin_lets_another_serve_create_the_account_first(monkeypatch, capsys):
    users = get_user_model().objects
    look_up = users.filter

    def looked_just_before_another_serve_created_it(**lookup):
        assert not look_up(**lookup).exists()
        users.create_superuser("admin", "admin@localhost", "the other serve's")
        return users.none()

    monkeypatch.setattr(users, "filter", looked_just_before_another_serve_created_it)
    monkeypatch.delenv("HUB_ADMIN_PASSWORD", raising=False)

    Command().ensure_admin()

    assert users.get(username="admin").check_password("the other serve's")
    assert "Created the superuser" not in capsys.readouterr().out


# The role argument, in process: nothing is started, exec is caught.


class Execed(Exception):
    """What the fake os.execv raises instead of becoming the program."""


def _forbid_starting_programs(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError(f"started a program: {args}")

    monkeypatch.setattr(serve.subprocess, "Popen", forbidden)
    monkeypatch.setattr(serve.os, "execv", forbidden)


def _record_commands(monkeypatch):
    """The management commands serve calls, still run."""
    called = []
    real = serve.call_command

    def recording(name, *args, **kwargs):
        called.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(serve, "call_command", recording)
    return called


@pytest.mark.django_db(transaction=True)
def test_serve_migrate_migrates_and_creates_the_admin_then_returns(monkeypatch, settings):
    settings.HUB_DEMO = False
    _forbid_starting_programs(monkeypatch)
    called = _record_commands(monkeypatch)
    # The lock is another test's subject (two serves at once, above).
    monkeypatch.setattr(serve.Command, "startup_lock", lambda self: contextlib.nullcontext())
    monkeypatch.setenv("HUB_ADMIN_PASSWORD", "the admin's password")

    call_command("serve", "migrate", stdout=io.StringIO())

    assert called == ["migrate"]  # no collectstatic: nothing is served
    assert not MigrationExecutor(connection).migration_plan(
        MigrationExecutor(connection).loader.graph.leaf_nodes()
    )
    assert get_user_model().objects.get(username="admin").check_password("the admin's password")


@pytest.mark.parametrize(
    "role, words",
    [
        ("web", ["-m", "gunicorn", "--config"]),
        ("worker", ["-m", "celery", "worker", "main@%h"]),
        ("builds", ["-m", "celery", "worker", "builds@%h"]),
        ("beat", ["-m", "celery", "beat"]),
    ],
)
def test_a_single_role_becomes_its_program_in_the_project_directory(
    monkeypatch, settings, tmp_path, role, words
):
    settings.HUB_COLLECT_STATIC = False
    called = _record_commands(monkeypatch)
    monkeypatch.setattr(serve.subprocess, "Popen", None)  # no supervised children
    monkeypatch.chdir(tmp_path)  # a container's working directory, say
    execs = []

    def execv(path, argv):
        execs.append((os.getcwd(), path, argv))
        raise Execed

    monkeypatch.setattr(serve.os, "execv", execv)

    with pytest.raises(Execed):
        call_command("serve", role, stdout=io.StringIO())

    assert called == []  # neither migrates nor creates the admin
    ((cwd, path, argv),) = execs
    assert cwd == str(settings.BASE_DIR)  # where `-m` finds hub and its settings
    assert path == argv[0] == sys.executable
    assert all(word in argv for word in words), argv


def test_web_collects_the_static_files_unless_told_not_to(monkeypatch, settings, tmp_path):
    settings.HUB_COLLECT_STATIC = True
    settings.STATIC_ROOT = tmp_path / "static"
    called = _record_commands(monkeypatch)
    monkeypatch.chdir(tmp_path)

    def execv(path, argv):
        raise Execed

    monkeypatch.setattr(serve.os, "execv", execv)

    with pytest.raises(Execed):
        call_command("serve", "web", stdout=io.StringIO())

    assert called == ["collectstatic"]


def test_an_unknown_role_is_a_command_error_naming_the_roles(monkeypatch):
    _forbid_starting_programs(monkeypatch)
    with pytest.raises(CommandError) as error:
        call_command("serve", "webserver")
    message = str(error.value)
    assert "webserver" in message
    assert all(role in message for role in serve.ROLES)


def test_no_worker_with_a_single_role_is_a_command_error(monkeypatch):
    _forbid_starting_programs(monkeypatch)
    with pytest.raises(CommandError, match="--no-worker goes with the role all, not web"):
        call_command("serve", "web", "--no-worker")
