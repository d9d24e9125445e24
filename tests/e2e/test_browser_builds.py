"""Automated builds in a real browser: Playwright driving Debian's Chromium
against Hub started as the README starts it (the session `registry`
fixture), as test_browser.py does, with its helpers.

A user configures builds from a git URL, meets the error for a rule whose
tag the registry would refuse, and watches a build's log grow on its page
without reloading. The build's worker is played by this test: it writes the
build's phases and log through builds.services in a `manage.py shell`
against that Hub's own database, as a worker would.

Each test drives a browser of its own in a thread of its own: Playwright's
sync API runs one Playwright per thread, and test_browser.py keeps one
running in the main thread for the whole session.

Run: HUB_TEST_DATABASE_URL=postgres://... .venv/bin/python -m pytest tests/e2e -k browser_builds
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from .browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    create_repository,
    expect_signed_in,
    require_page,
    screenshot,
    sign_up,
    unique_name,
)

pytestmark = pytest.mark.e2e
expect.set_options(timeout=TIMEOUT_MS)

# An address literal: nothing resolves host names here, and this Hub runs with
# the default outgoing-address guard, which refuses private addresses. The
# test clones nothing from it.
GIT_URL = "git@140.82.112.3:acme/widget.git"


@pytest.fixture
def hub(registry):
    """The Hub under test, with its portal and its manage.py."""
    if registry.target != "hub":
        pytest.skip(f"needs Hub's build pages (the registry under test is {registry.target})")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/setup-debian test installs it)")
    require_page("/r/someone/something/builds/configure/", "build configuration")
    return registry


def in_a_thread_of_its_own(function, *args):
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


@contextmanager
def signed_up_page(base_url: str):
    """A page of a browser of its own where a user who has just signed up is
    logged in: (page, username)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(
                base_url=base_url, viewport={"width": 1280, "height": 900}
            )
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            username, password = unique_name("builder"), unique_name("pw-") + "-Secret!"
            sign_up(page, base_url, username, password)
            expect_signed_in(page, username)
            yield page, username
        finally:
            browser.close()


def hub_shell(registry, code: str) -> str:
    """Run Python in `manage.py shell` against the Hub under test; its last output line."""
    output = registry.manage("shell", "-c", code)
    return output.splitlines()[-1] if output else ""


def worker_starts_build(registry, full_name: str) -> int:
    """A build of the repository's default rule, taken by a stand-in worker and
    moved to building, as the pipeline does; nothing dispatches it to a real
    worker, so only this test writes its log."""
    namespace, name = full_name.split("/", 1)
    return int(
        hub_shell(
            registry,
            f"""
from django.utils import timezone
from builds import services
from builds.models import Build, BuildSettings
settings = BuildSettings.objects.get(
    repository__namespace__name={namespace!r}, repository__name={name!r}
)
rule = settings.rules.get(source="main")
build = Build.objects.create(
    repository=settings.repository, settings=settings, rule=rule, trigger="manual",
    source_type="branch", source_ref=rule.source, tags=["latest"], dispatched_at=timezone.now(),
)
build = services.build_claim(build_id=build.pk, worker="browser-test")
services.build_log_append(build=build, text="Cloning acme/widget at main\\n")
services.build_phase_set(build=build, phase="building")
services.build_log_append(build=build, text="STEP 1/2: FROM busybox\\n")
print(build.pk)
""",
        )
    )


def worker_writes(registry, build_id: int, text: str, *, finish: str = "") -> None:
    code = f"""
from builds import services
from builds.models import Build
build = Build.objects.get(pk={build_id})
services.build_heartbeat(build=build)
services.build_log_append(build=build, text={text!r})
"""
    if finish:
        code += f"services.build_finish(build=build, phase={finish!r})\n"
    hub_shell(registry, code)


def configure_from_git_url(page: Page, full_name: str) -> None:
    page.goto(f"/r/{full_name}/")
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Builds").click()
    expect(page).to_have_url(re.compile(rf"/r/{full_name}/builds/$"))
    page.get_by_role("link", name="Configure automated builds").click()
    source = page.get_by_role("form", name="Git URL")
    source.get_by_label("Git URL").fill(GIT_URL)
    source.get_by_role("button", name="Build from this URL").click()


def test_browser_configure_builds_from_a_git_url(hub):
    in_a_thread_of_its_own(configure_builds_in_the_browser, hub)


def configure_builds_in_the_browser(registry):
    with signed_up_page(registry.url) as (page, username):
        name = unique_name("built")
        create_repository(page, registry.url, name)
        configure_and_add_rules(page, registry, f"{username}/{name}")


def configure_and_add_rules(page: Page, registry, full_name: str) -> None:
    configure_from_git_url(page, full_name)

    # Saved: the trigger URL, once, and the deploy key to add on the git server.
    expect(page.get_by_role("heading", name="Your trigger URL")).to_be_visible()
    trigger_url = page.get_by_role("textbox", name="Trigger URL").input_value()
    assert re.fullmatch(
        rf"{re.escape(registry.url)}/builds/hooks/[0-9a-f-]+/generic/\S+", trigger_url
    )
    expect(page.get_by_text(f"curl -X POST {trigger_url}").first).to_be_visible()
    expect(page.get_by_role("textbox", name="Public key")).to_have_value(
        re.compile(r"^ssh-ed25519 \S+ hub-deploy-")
    )
    expect(page.get_by_text("read-only deploy key")).to_be_visible()
    screenshot(page, "builds-configured")
    # Shown once: a fresh load of the page has no token.
    page.reload()
    expect(page.get_by_role("heading", name="Your trigger URL")).to_have_count(0)
    expect(page.get_by_text(trigger_url)).to_have_count(0)

    # A rule whose tag the registry would refuse is reported, and not kept.
    add_rule = page.get_by_role("form", name="Add a rule")
    add_rule.get_by_label("Source type").select_option("branch")
    add_rule.get_by_label("Source", exact=True).fill("develop")
    add_rule.get_by_label("Docker tag").fill("nightly build")
    add_rule.get_by_role("button", name="Add rule").click()
    error = page.get_by_role("form", name="Add a rule").get_by_role("alert")
    expect(error).to_contain_text("'nightly build' is not a valid Docker tag")
    expect(page.get_by_role("form", name=re.compile(r"^Rule \d+: branch develop$"))).to_have_count(
        0
    )
    screenshot(page, "builds-rule-refused")

    # Corrected, it is added beside the default rule.
    add_rule = page.get_by_role("form", name="Add a rule")
    expect(add_rule.get_by_label("Source", exact=True)).to_have_value("develop")
    add_rule.get_by_label("Docker tag").fill("nightly")
    add_rule.get_by_role("button", name="Add rule").click()
    expect(
        page.get_by_role("status").filter(has_text="Added the rule develop → nightly")
    ).to_be_visible()
    expect(page.get_by_role("form", name="Rule 1: branch main")).to_be_visible()
    develop = page.get_by_role("form", name="Rule 2: branch develop")
    expect(develop.get_by_label("Docker tag")).to_have_value("nightly")
    expect(develop.get_by_role("button", name="Trigger")).to_be_enabled()


def test_browser_build_log_updates_live(hub):
    in_a_thread_of_its_own(watch_a_build_in_the_browser, hub)


def watch_a_build_in_the_browser(registry):
    with signed_up_page(registry.url) as (page, username):
        name = unique_name("live")
        create_repository(page, registry.url, name)
        follow_the_log(page, registry, f"{username}/{name}")


def follow_the_log(page: Page, registry, full_name: str) -> None:
    configure_from_git_url(page, full_name)
    expect(page.get_by_role("heading", name="Your trigger URL")).to_be_visible()

    build_id = worker_starts_build(registry, full_name)
    page.goto(f"/r/{full_name}/builds/{build_id}/")
    status = page.get_by_role("region", name=f"Build #{build_id}")
    log = page.get_by_label("Build log")
    expect(log).to_have_text("Cloning acme/widget at main\nSTEP 1/2: FROM busybox\n")
    expect(status.get_by_role("status")).to_have_text("Building")
    expect(status.get_by_role("button", name="Cancel")).to_be_visible()
    # A full page load would drop this; the polling swaps keep it.
    page.evaluate("window.__sameDocument = true")
    loads = []
    page.on("load", lambda _: loads.append(page.url))
    polls = []
    page.on("request", lambda request: "/log?after=" in request.url and polls.append(request.url))

    worker_writes(registry, build_id, "STEP 2/2: RUN make\nbuilt in 3s\n")

    expect(log).to_have_text(
        "Cloning acme/widget at main\nSTEP 1/2: FROM busybox\nSTEP 2/2: RUN make\nbuilt in 3s\n"
    )
    screenshot(page, "build-running")

    worker_writes(registry, build_id, "Pushed latest\n", finish="success")

    expect(status.get_by_role("status")).to_have_text("Success")
    expect(log).to_contain_text("built in 3s\nPushed latest\n")
    expect(status.get_by_role("button", name="Retry")).to_be_visible()
    expect(status.get_by_role("button", name="Cancel")).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    assert loads == [], f"the log page reloaded: {loads}"
    # Each chunk arrived once, in order.
    assert log.inner_text().count("STEP 2/2: RUN make") == 1
    # Polling has stopped: no request in a few seconds once the build is over.
    polled = len(polls)
    assert polled >= 2
    time.sleep(3)
    assert len(polls) == polled, polls[polled:]
    screenshot(page, "build-finished")

    # The Builds tab lists it, done.
    page.get_by_role("link", name="All builds").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"#{build_id}"))
    expect(row).to_contain_text("Success")
    expect(row).to_contain_text("latest")
    expect(
        page.get_by_role("img", name=re.compile(r"^Durations of the last 1 build"))
    ).to_be_visible()
    screenshot(page, "builds-tab")
