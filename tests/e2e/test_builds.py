"""Automated builds end to end: a GitHub push webhook reaches Hub, a Celery
worker clones the repository from a git server on 127.0.0.1, builds it with
buildah and pushes the image into Hub, where skopeo finds it. Everything is
real but github.com, whose API and git hosting a fake stands in for
(build_fixtures.py, git_server.py)."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from .build_fixtures import HEARTBEAT_TIMEOUT, REAP_SECONDS, describe_build
from .helpers import layout_json, layout_ref, read_layout_index, require_bins, run, tar_members

pytestmark = pytest.mark.e2e

RUNNING_PHASES = ("cloning", "building", "pushing")


def dockerfile(base: str, *steps: str) -> str:
    return "\n".join([f"FROM {base}", *steps]) + "\n"


def image_files(registry_addr: str, reference: str, tmp: Path) -> dict[str, bytes | None]:
    """The files of an image in Hub, as skopeo pulls it: its layers applied in order."""
    skopeo = require_bins("skopeo")["skopeo"]
    layout = tmp / f"pulled-{reference.replace('/', '_').replace(':', '_')}"
    run(
        [
            skopeo,
            "copy",
            "--retry-times",
            "0",
            "--src-tls-verify=false",
            f"docker://{registry_addr}/{reference}",
            f"oci:{layout}:pulled",
        ]
    )
    manifest = layout_json(layout, layout_ref(layout, "pulled")["digest"])
    files: dict[str, bytes | None] = {}
    for layer in manifest["layers"]:
        algorithm, digest = layer["digest"].split(":", 1)
        files.update(tar_members((layout / "blobs" / algorithm / digest).read_bytes()))
    assert read_layout_index(layout)["manifests"], "skopeo wrote an empty layout"
    return files


def queued_build(response: requests.Response) -> dict:
    assert response.status_code == 202, f"{response.status_code}: {response.text}"
    builds = response.json()["builds"]
    assert len(builds) == 1, builds
    return builds[0]


# --------------------------------------------------------------------------
# Happy path


@pytest.fixture(scope="module")
def happy_build(build_hub):
    """A private GitHub repository with a Dockerfile FROM Hub's base image,
    pushed to main; its webhook answered and its build finished."""
    hub = build_hub.hub
    source = hub.github.create_repository("octo/hello", private=True)
    message = "Write built.txt\n\nThe image says who built it."
    sha = source.commit(
        {"Dockerfile": dockerfile(build_hub.base, "RUN echo built-by-hub > /built.txt")}, message
    )
    config = hub.configure_builds(user=build_hub.user, name="hello", source=source)
    webhook_answer = hub.push_branch(config, sha, message)
    queued = queued_build(webhook_answer)
    row = hub.wait_build(queued["id"])
    return {"config": config, "sha": sha, "queued": queued, "row": row}


def test_a_push_to_github_builds_the_image_into_hub(build_hub, happy_build, tmp_path):
    hub = build_hub.hub
    config, row = happy_build["config"], happy_build["row"]
    log = hub.build_log(row["id"])
    assert happy_build["queued"]["tags"] == ["latest"]
    assert row["phase"] == "success", describe_build(row, log)
    assert (row["source_type"], row["source_ref"], row["commit_sha"]) == (
        "branch",
        "main",
        happy_build["sha"],
    )
    assert row["trigger"] == "webhook"
    # Every phase was stamped, in order.
    stamps = [row[f"{phase}_at"] for phase in ("queued", "cloning", "building", "pushing")]
    assert None not in stamps, describe_build(row, log)
    assert stamps == sorted(stamps) and stamps[-1] <= row["finished_at"]

    # The tag is in Hub with the digest the build recorded, and its layer
    # holds what RUN wrote.
    assert hub.manifest_digest(config.repository, "latest") == row["image_digest"]
    assert row["image_size"] and row["image_size"] > 0
    files = image_files(hub.addr, f"{config.repository}:latest", tmp_path)
    assert files.get("built.txt") == b"built-by-hub\n"
    assert "bin/busybox" in files  # the base image's layer is there too

    # The private repository was cloned with the linked account's token, and
    # the token appears nowhere in the log.
    clones = [
        r for r in hub.github.git_requests if r.path.endswith("/octo/hello.git/git-upload-pack")
    ]
    assert clones and all(r.user == "octo" for r in clones), hub.github.git_requests
    assert config.github_token not in log
    assert "built-by-hub" in log


def build_page(hub, config, build_id) -> tuple[str, str]:
    """The build page's text (HTML unescaped) and the log as the page shows it:
    on the page, or at the address the page follows the log from."""
    page = requests.get(f"{hub.url}/r/{config.repository}/builds/{build_id}/", timeout=30)
    assert page.status_code == 200, page.text[:2000]
    text = html.unescape(page.text)
    first_line = hub.build_log(build_id).splitlines()[0]
    if first_line in text:
        return text, text
    log_urls = sorted(set(re.findall(rf"[^\s\"'<>]*/builds/{build_id}/log[^\s\"'<>]*", text)))
    assert log_urls, f"neither the log nor a link to it is on the page:\n{text[:5000]}"
    log_page = requests.get(urljoin(page.url, log_urls[0]), timeout=30)
    assert log_page.status_code == 200, log_page.text[:2000]
    return text, html.unescape(log_page.text)


def test_the_build_page_shows_success_and_the_log(build_hub, happy_build):
    hub = build_hub.hub
    config, row = happy_build["config"], happy_build["row"]

    text, log = build_page(hub, config, row["id"])

    assert re.search(r">\s*Success\s*<", text), text[:3000]
    assert happy_build["sha"][:7] in text
    assert "RUN echo built-by-hub > /built.txt" in log
    assert config.github_token not in text + log


# --------------------------------------------------------------------------
# Failure


def test_a_broken_dockerfile_fails_and_names_the_failing_step(build_hub):
    hub = build_hub.hub
    source = hub.github.create_repository("octo/broken")
    message = "Try something that cannot work"
    sha = source.commit(
        {"Dockerfile": dockerfile(build_hub.base, "RUN echo step one", "RUN false", "RUN true")},
        message,
    )
    config = hub.configure_builds(user=build_hub.user, name="broken", source=source)

    row = hub.wait_build(queued_build(hub.push_branch(config, sha, message))["id"])

    log = hub.build_log(row["id"])
    assert row["phase"] == "failed", describe_build(row, log)
    assert "RUN false" in row["failed_step"], describe_build(row, log)
    assert "RUN false" in log
    assert row["failure_reason"], describe_build(row, log)
    assert row["finished_at"] is not None
    # Nothing half-done reached the registry.
    assert not row["image_digest"]
    assert hub.manifest_digest(config.repository, "latest") is None
    # The build page shows the failing step first, ahead of the log.
    text, _log = build_page(hub, config, row["id"])
    assert re.search(r">\s*Failed\s*<", text), text[:3000]
    assert text.index(row["failed_step"]) < text.index("STEP 1/4"), text[:5000]


# --------------------------------------------------------------------------
# Tag rule


def test_a_git_tag_matched_by_a_regex_rule_becomes_the_captured_docker_tag(build_hub):
    hub = build_hub.hub
    source = hub.github.create_repository("octo/release")
    message = "Release 1.2.3"
    sha = source.commit(
        {"Dockerfile": dockerfile(build_hub.base, "RUN echo 1.2.3 > /version")}, message
    )
    source.tag("v1.2.3")
    rule = {"source_type": "tag", "source": r"/^v([0-9.]+)$/", "docker_tag": r"{\1}"}
    config = hub.configure_builds(user=build_hub.user, name="release", source=source, rules=[rule])

    queued = queued_build(hub.push_tag(config, "v1.2.3", sha, message))
    assert queued["tags"] == ["1.2.3"]
    row = hub.wait_build(queued["id"])

    log = hub.build_log(row["id"])
    assert row["phase"] == "success", describe_build(row, log)
    assert (row["source_type"], row["source_ref"], row["commit_sha"]) == ("tag", "v1.2.3", sha)
    assert hub.manifest_digest(config.repository, "1.2.3") == row["image_digest"]
    tags = requests.get(f"{hub.url}/v2/{config.repository}/tags/list", timeout=10).json()
    assert tags["tags"] == ["1.2.3"]


# --------------------------------------------------------------------------
# Private base images


def test_a_build_from_a_private_image_of_the_same_owner_succeeds(build_hub, base_images, tmp_path):
    """The build's token may pull what the person who configured the builds
    may read, so FROM their private image works; the base stays private."""
    hub = build_hub.hub
    hub.push_base_image(base_images.oci("base"), "builder/private-base", build_hub.user, tmp_path)
    hub.shell(
        "from repositories import services\n"
        "from repositories.models import Repository\n"
        "repository = Repository.objects.by_full_name('builder/private-base').get()\n"
        "services.repository_update(repository=repository, visibility='private')\n"
    )
    anonymous = requests.get(f"{hub.url}/v2/builder/private-base/manifests/latest", timeout=10)
    assert anonymous.status_code == 401, anonymous.text

    source = hub.github.create_repository("octo/on-private")
    message = "Build on the private base"
    sha = source.commit(
        {
            "Dockerfile": dockerfile(
                f"{hub.addr}/builder/private-base", "RUN echo on-private > /on-private.txt"
            )
        },
        message,
    )
    config = hub.configure_builds(user=build_hub.user, name="on-private", source=source)
    row = hub.wait_build(queued_build(hub.push_branch(config, sha, message))["id"])

    log = hub.build_log(row["id"])
    assert row["phase"] == "success", describe_build(row, log)
    files = image_files(hub.addr, f"{config.repository}:latest", tmp_path)
    assert files.get("on-private.txt") == b"on-private\n"
    assert "bin/busybox" in files


# --------------------------------------------------------------------------
# Forged webhooks


def test_a_forged_or_unsigned_webhook_is_refused_and_builds_nothing(build_hub):
    hub = build_hub.hub
    source = hub.github.create_repository("octo/guarded")
    sha = source.commit({"Dockerfile": dockerfile(build_hub.base, "RUN true")}, "Guard")
    config = hub.configure_builds(user=build_hub.user, name="guarded", source=source)

    forged = hub.push_branch(
        config, sha, "Guard", signature="sha256=" + "0" * 64, delivery="forged-delivery"
    )
    wrong_secret = hub.push_branch(config, sha, "Guard", signature="sha256=deadbeef")
    assert forged.status_code == 403, forged.text
    assert wrong_secret.status_code == 403, wrong_secret.text

    time.sleep(1)  # anything queued would be on its way by now
    assert hub.builds_of(config) == []
    deliveries = hub.query(
        "SELECT * FROM builds_webhookdelivery WHERE settings_id = %s", (config.settings_id,)
    )
    assert deliveries == []


# --------------------------------------------------------------------------
# Worker crash


@pytest.fixture
def builds_worker_restarted(build_hub):
    """Whatever the test does to the builds worker, a live one afterwards."""
    yield
    hub = build_hub.hub
    if hub.processes["builds-worker"].poll() is not None:
        hub.start_builds_worker()


def test_a_worker_killed_mid_build_leaves_a_failed_build_not_a_stuck_one(
    build_hub, builds_worker_restarted
):
    hub = build_hub.hub
    source = hub.github.create_repository("octo/sleepy")
    message = "Take a long time"
    sha = source.commit({"Dockerfile": dockerfile(build_hub.base, "RUN sleep 60")}, message)
    config = hub.configure_builds(user=build_hub.user, name="sleepy", source=source)
    build_id = queued_build(hub.push_branch(config, sha, message))["id"]

    # Kill the worker while RUN sleep 60 runs.
    hub.wait_build(build_id, phases=("building",) + ("success", "failed", "canceled"), timeout=180)
    deadline = time.monotonic() + 60
    while "sleep 60" not in hub.build_log(build_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    row = hub.build(build_id)
    assert row["phase"] == "building", describe_build(row, hub.build_log(build_id))
    killed = hub.kill_builds_worker()
    killed_at = time.monotonic()
    assert killed.returncode == -9

    # The reaper notices the silence: heartbeat timeout, plus one reap interval, plus slack.
    bound = HEARTBEAT_TIMEOUT + 2 * REAP_SECONDS + 15
    row = hub.wait_build(build_id, phases=("failed", "success", "canceled"), timeout=bound)
    noticed_after = time.monotonic() - killed_at
    log = hub.build_log(build_id)
    assert row["phase"] == "failed", describe_build(row, log)
    assert row["failure_reason"] and "worker" in row["failure_reason"], describe_build(row, log)
    assert row["failure_reason"].strip() in log
    assert noticed_after <= bound

    # A new worker builds the repository again: the dead build holds nothing up.
    hub.start_builds_worker()
    message = "Be quick"
    fixed = source.commit(
        {"Dockerfile": dockerfile(build_hub.base, "RUN echo quick > /q")}, message
    )
    row = hub.wait_build(queued_build(hub.push_branch(config, fixed, message))["id"])
    assert row["phase"] == "success", describe_build(row, hub.build_log(row["id"]))
    assert hub.manifest_digest(config.repository, "latest") == row["image_digest"]


def test_no_build_is_left_running(build_hub):
    """After all of the above, every build of this Hub has finished."""
    hub = build_hub.hub
    running = hub.query(
        "SELECT id, phase, worker FROM builds_build WHERE phase NOT IN "
        "('success', 'failed', 'canceled')"
    )
    assert running == []
    # And no buildah the workers started is still at work.
    assert buildah_processes_under(hub.data_dir) == []


def buildah_processes_under(root: Path) -> list[str]:
    """Command lines of running buildah processes whose storage is under root."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if Path(argv[0]).name == "buildah" and any(str(root) in arg for arg in argv):
            found.append(f"{entry.name}: {' '.join(argv)}")
    return found
