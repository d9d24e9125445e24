"""A build's commands die with the build, whole trees of them: a process a
step starts in a session of its own (as buildah and runc start a RUN step)
is killed when the build is canceled or runs out of time, when its step
ends, and when the worker process running the build is killed outright.
Real processes throughout; their pids come from a file the step writes."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from builds import pipeline, services
from builds.models import Build

pytestmark = pytest.mark.django_db(transaction=True)

REPO_ROOT = Path(__file__).resolve().parents[2]


def detached_sleeper(pidfile):
    """Shell that starts `sleep` in a session of its own and writes its pid."""
    write = f'echo $$ > "{pidfile}.tmp"; mv "{pidfile}.tmp" "{pidfile}"'
    return f"setsid sh -c '{write}; exec sleep 300'"


def wait_for_pid(pidfile, timeout=20):
    deadline = time.monotonic() + timeout
    while not pidfile.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{pidfile} was not written within {timeout}s")
        time.sleep(0.02)
    return int(pidfile.read_text())


def alive(pid):
    """Whether ``pid`` is a live process (a zombie is dead, just not reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(b")") + 2 :].split()[0] != b"Z"


def wait_until_dead(pids, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return
        time.sleep(0.05)
    raise AssertionError(f"still running after {timeout}s: {[p for p in pids if alive(p)]}")


@pytest.fixture
def kill_afterwards():
    """Pids to SIGKILL when the test ends, so a failing test leaves nothing behind."""
    pids = []
    yield pids
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def running_build(make_settings, owner, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = ["127.0.0.1"]
    created = make_settings(provider="git", source="https://140.82.112.3/ada/widget.git")
    build_settings = created.settings
    build = Build.objects.create(
        repository_id=build_settings.repository_id,
        settings=build_settings,
        rule=build_settings.rules.first(),
        trigger=Build.Trigger.MANUAL,
        source_type="branch",
        source_ref="main",
        tags=["latest"],
    )
    return services.build_claim(build_id=build.pk, worker="test")


def _cancel_when_written(pidfile, build, owner):
    try:
        wait_for_pid(pidfile)
        services.build_cancel(build=build, user=owner)
    finally:
        connection.close()


@pytest.mark.parametrize("reason", ["canceled", "timeout"])
def test_stopping_a_build_kills_what_its_step_started_in_another_session(
    reason, running_build, owner, settings, tmp_path, kill_afterwards
):
    settings.HUB_BUILD_HEARTBEAT_SECONDS = 0.1
    pidfile = tmp_path / "sleeper.pid"
    seconds = 3 if reason == "timeout" else 60
    canceler = threading.Thread(target=_cancel_when_written, args=(pidfile, running_build, owner))
    if reason == "canceled":
        canceler.start()
    started = time.monotonic()
    with pipeline.Runner(running_build, deadline=time.monotonic() + seconds) as runner:
        with pytest.raises(pipeline.Stopped):
            runner.run(["sh", "-c", f"{detached_sleeper(pidfile)} & wait"], step="Sleeping")
    if reason == "canceled":
        canceler.join()
    sleeper = wait_for_pid(pidfile, timeout=0)
    kill_afterwards.append(sleeper)

    assert runner.stop_reason == reason
    assert time.monotonic() - started < 20
    # Run returns once the step's output closed, that is, once every process
    # of the step, the detached one too, is gone.
    assert not alive(sleeper)


def test_a_step_leaves_nothing_running_when_it_ends(running_build, tmp_path, kill_afterwards):
    pidfile = tmp_path / "sleeper.pid"
    # The sleeper lets go of the step's output, so nothing waits for it.
    script = (
        f"{detached_sleeper(pidfile)} >/dev/null 2>&1 &"
        f' while [ ! -s "{pidfile}" ]; do sleep 0.05; done'
    )

    with pipeline.Runner(running_build, deadline=time.monotonic() + 60) as runner:
        result = runner.run(["sh", "-c", script], step="Starting a daemon")
    sleeper = wait_for_pid(pidfile, timeout=0)
    kill_afterwards.append(sleeper)

    assert result.returncode == 0
    assert not alive(sleeper)


def test_a_command_that_cannot_start_fails_as_before(running_build):
    with pipeline.Runner(running_build, deadline=time.monotonic() + 60) as runner:
        with pytest.raises(FileNotFoundError, match="no-such-command-here"):
            runner.run(["no-such-command-here"], step="Nothing")
    assert runner.stop_reason == ""


def test_the_exit_status_and_output_come_through_the_watchdog(running_build):
    with pipeline.Runner(running_build, deadline=time.monotonic() + 60) as runner:
        result = runner.run(["sh", "-c", "echo out; echo err >&2; exit 4"], step="x", check=False)
        killed = runner.run(["sh", "-c", "kill -TERM $$"], step="y", check=False)
    assert (result.returncode, result.output) == (4, "out\nerr\n")
    assert killed.returncode == -signal.SIGTERM


# The process that owns the Runner, as a build worker's pool process would:
# it runs the step on its main thread and is then SIGKILLed by the test.
OWNER = """
import sys, time, types
import django
django.setup()
from builds.pipeline import Runner
runner = Runner(types.SimpleNamespace(pk=0), deadline=time.monotonic() + 600)
runner.run(["sh", "-c", sys.argv[1]], step="Sleeping", quiet=True)
"""


def test_killing_the_worker_kills_the_whole_tree_of_its_step(tmp_path, kill_afterwards):
    pidfile = tmp_path / "sleeper.pid"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "hub.settings.base",
        "HUB_DATA_DIR": str(tmp_path / "data"),
    }
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, f"{detached_sleeper(pidfile)} & sleep 300"],
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        sleeper = wait_for_pid(pidfile)
        tree = pipeline.descendants(owner.pid)
        kill_afterwards.extend(tree)
        assert sleeper in tree
        assert os.getsid(sleeper) == sleeper  # its own session, not the step's
        assert len(tree) >= 4  # the watchdog, sh, the step's sleep, the sleeper

        owner.kill()
        owner.wait()

        wait_until_dead(tree)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
