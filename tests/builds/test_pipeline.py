"""The worker's side of a build, with real processes: the runner's log,
masking, cancel and timeout; cloning from a real git server; and the
checks on where the Dockerfile may be."""

import shutil
import socket
import subprocess
import time

import pytest

from builds import pipeline, services
from builds.models import Build

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def build_settings(make_settings, owner, settings):
    settings.HUB_BUILDS_ALLOWED_HOSTS = ["127.0.0.1"]
    created = make_settings(provider="git", source="https://140.82.112.3/ada/widget.git")
    created.settings.created_by = owner
    created.settings.save()
    return created.settings


@pytest.fixture
def running_build(build_settings):
    """A claimed build, made without the services that would dispatch it."""
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


def runner_for(build, *, seconds=60, secrets=()):
    return pipeline.Runner(build, deadline=time.monotonic() + seconds, secrets=secrets)


def test_output_goes_to_the_log_with_secrets_masked(running_build):
    with runner_for(running_build, secrets=["hunter2-secret"]) as runner:
        result = runner.run(
            ["sh", "-c", "echo STEP 1/2: FROM x; echo the password is hunter2-secret"],
            step="Saying things",
        )
    log = running_build.log_text()
    assert "==> Saying things" in log
    assert "the password is ****" in log
    assert "hunter2-secret" not in log
    assert "hunter2-secret" in result.output  # the caller still sees what ran
    assert runner.last_step == "STEP 1/2: FROM x"


def test_a_failing_command_names_its_step_and_error(running_build):
    with runner_for(running_build) as runner, pytest.raises(pipeline.StepFailed) as failed:
        runner.run(
            ["sh", "-c", "echo 'STEP 2/3: RUN make'; echo 'Error: make: no rule' >&2; exit 3"],
            step="Building the image",
        )
    assert failed.value.step == "STEP 2/3: RUN make"
    assert str(failed.value) == ("Building the image failed: Error: make: no rule (exit status 3)")


def test_canceling_a_running_build_kills_its_command(running_build, settings, owner):
    settings.HUB_BUILD_HEARTBEAT_SECONDS = 0.1
    started = time.monotonic()
    with runner_for(running_build) as runner:
        services.build_cancel(build=running_build, user=owner)
        with pytest.raises(pipeline.Stopped):
            runner.run(["sleep", "30"], step="Sleeping")
    assert time.monotonic() - started < 10
    assert runner.stop_reason == "canceled"


def test_a_build_past_its_deadline_is_stopped(running_build, settings):
    settings.HUB_BUILD_HEARTBEAT_SECONDS = 0.1
    with runner_for(running_build, seconds=0.5) as runner:
        with pytest.raises(pipeline.Stopped):
            runner.run(["sleep", "30"], step="Sleeping")
    assert runner.stop_reason == "timeout"


@pytest.mark.parametrize(
    "relative", ["../outside", "/../../etc", "sub/../../outside", "link-out", "link-out/Dockerfile"]
)
def test_paths_may_not_leave_the_checkout(tmp_path, relative):
    checkout = tmp_path / "src"
    (checkout / "sub").mkdir(parents=True)
    (checkout / "link-out").symlink_to(tmp_path)
    with pytest.raises(pipeline.StepFailed, match="outside the repository"):
        pipeline.inside_checkout(checkout, relative, "Dockerfile location")


@pytest.mark.parametrize("relative", ["", "/", "Dockerfile", "/sub/Dockerfile", "sub/../x"])
def test_paths_inside_the_checkout_are_fine(tmp_path, relative):
    checkout = tmp_path / "src"
    (checkout / "sub").mkdir(parents=True)
    found = pipeline.inside_checkout(checkout, relative, "Dockerfile location")
    assert found == checkout.resolve() or checkout.resolve() in found.parents


# Cloning from a real git server.


def git(*args, cwd):
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def git_server(tmp_path):
    """``git daemon`` on 127.0.0.1 serving widget.git: two commits on main, v1 on the first."""
    if shutil.which("git") is None:
        pytest.fail("git is not installed")
    root = tmp_path / "served"
    work = tmp_path / "work"
    root.mkdir()
    git("init", "--quiet", "--bare", str(root / "widget.git"), cwd=tmp_path)
    git("init", "--quiet", "--initial-branch=main", str(work), cwd=tmp_path)
    for name, value in (("user.name", "Ada"), ("user.email", "ada@example.com")):
        git("config", name, value, cwd=work)
    (work / "Dockerfile").write_text("FROM busybox\n")
    git("add", ".", cwd=work)
    git("commit", "--quiet", "-m", "First\n\nWith a body.", cwd=work)
    git("tag", "v1", cwd=work)
    first = git("rev-parse", "HEAD", cwd=work)
    (work / "Dockerfile").write_text("FROM busybox\nRUN true\n")
    git("commit", "--quiet", "-am", "Second", cwd=work)
    second = git("rev-parse", "HEAD", cwd=work)
    git("push", "--quiet", str(root / "widget.git"), "main", "v1", cwd=work)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    daemon = subprocess.Popen(
        ["git", "daemon", "--export-all", f"--base-path={root}", "--listen=127.0.0.1",
         f"--port={port}", "--reuseaddr", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield {"url": f"git://127.0.0.1:{port}/widget.git", "first": first, "second": second}
    daemon.terminate()
    daemon.wait(timeout=10)


def clone(build_settings, running_build, url, **build_fields):
    build_settings.source = url
    build_settings.save()
    Build.objects.filter(pk=running_build.pk).update(**build_fields)
    running_build.refresh_from_db()
    job = pipeline.Pipeline(running_build)
    try:
        with runner_for(running_build) as runner:
            job._clone(runner)
        checkout = job.checkout
        return (
            running_build,
            git("rev-parse", "HEAD", cwd=checkout),
            (checkout / "Dockerfile").read_text(),
            (checkout / ".git" / "FETCH_HEAD").exists(),
        )
    finally:
        job._clean_up()


def test_a_branch_is_cloned_at_its_tip_with_the_commit_message(
    build_settings, running_build, git_server
):
    build, head, dockerfile, fetch_head = clone(build_settings, running_build, git_server["url"])
    assert head == build.commit_sha == git_server["second"]
    assert build.commit_message == "Second"
    assert "RUN true" in dockerfile
    assert not fetch_head


def test_the_exact_commit_is_cloned_when_the_push_named_it(
    build_settings, running_build, git_server
):
    build, head, dockerfile, _ = clone(
        build_settings, running_build, git_server["url"], commit_sha=git_server["first"]
    )
    assert head == git_server["first"]
    assert dockerfile == "FROM busybox\n"
    assert build.commit_message == "First\n\nWith a body."


def test_a_tag_is_cloned(build_settings, running_build, git_server):
    build, head, _, _ = clone(
        build_settings, running_build, git_server["url"], source_type="tag", source_ref="v1"
    )
    assert head == git_server["first"]


def test_a_missing_branch_fails_with_gits_reason(build_settings, running_build, git_server):
    with pytest.raises(pipeline.StepFailed, match="couldn't find remote ref") as failed:
        clone(build_settings, running_build, git_server["url"], source_ref="nope")
    assert failed.value.step == "Fetching branch nope from " + git_server["url"]


def test_a_private_address_is_refused_unless_allowed(
    build_settings, running_build, git_server, settings
):
    settings.HUB_BUILDS_ALLOWED_HOSTS = []
    with pytest.raises(pipeline.StepFailed, match="not a public address"):
        clone(build_settings, running_build, git_server["url"])
    assert "Fetching" not in running_build.log_text()


def test_unknown_builder_or_network_settings_are_reported_at_start(settings):
    from builds.checks import build_settings_check

    assert build_settings_check(None) == []
    settings.HUB_BUILDER = "kaniko"
    settings.HUB_BUILD_NETWORK = "private"
    assert [error.id for error in build_settings_check(None)] == ["builds.E001", "builds.E002"]


def test_workspaces_of_finished_builds_are_swept_running_ones_stay(
    running_build, settings, tmp_path
):
    settings.HUB_BUILD_DIR = tmp_path
    work = tmp_path / "work"
    running = work / f"build-{running_build.pk}-abc"
    finished = work / f"build-{running_build.pk + 1000}-def"  # gone, or long finished
    for path in (running, finished):
        (path / "run").mkdir(parents=True)
    pipeline.workspaces_sweep()
    assert running.exists()
    assert not finished.exists()
