"""The portal in a real browser: Playwright driving Debian's Chromium, headless,
against Hub started as the README starts it (the session `registry` fixture).

Each test gets a fresh browser context (its own cookies); a user who signed up
once for the module is reused through its saved session. Elements are found by
role, label and visible text, as a user finds them. Screenshots of the pages
go to tests/e2e/screenshots/ (ignored by git).

Run: HUB_TEST_DATABASE_URL=postgres://... .venv/bin/python -m pytest tests/e2e -k browser
"""

from __future__ import annotations

import os
import re

import pytest
from django.template.defaultfilters import filesizeformat
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .browser_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    Member,
    account_menu,
    create_repository,
    expect_signed_in,
    log_in,
    require_page,
    screenshot,
    sign_up,
    star_button,
    unique_name,
)
from .helpers import skopeo_push

pytestmark = pytest.mark.e2e
expect.set_options(timeout=TIMEOUT_MS)


# --------------------------------------------------------------------------
# The browser, a context per test, and users who signed up in it


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/setup-debian test installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def base_url(registry) -> str:
    if registry.target == "reference":
        pytest.skip("the reference registry has no web portal")
    return registry.url


def _new_context(browser: Browser, base_url: str, member: Member | None = None, **options):
    context = browser.new_context(
        base_url=base_url,
        storage_state=member.storage_state if member else None,
        viewport={"width": 1280, "height": 900},
        **options,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def context(browser, base_url):
    """A fresh context: nobody is logged in."""
    context = _new_context(browser, base_url)
    yield context
    context.close()


@pytest.fixture
def page(context) -> Page:
    return context.new_page()


def _sign_up_member(browser: Browser, base_url: str, prefix: str) -> Member:
    context = _new_context(browser, base_url)
    try:
        page = context.new_page()
        username, password = unique_name(prefix), unique_name("pw-") + "-Secret!"
        sign_up(page, base_url, username, password)
        expect_signed_in(page, username)
        return Member(username, password, context.storage_state())
    finally:
        context.close()


@pytest.fixture(scope="module")
def member(browser, registry) -> Member:
    """A user who signed up in the browser; the registry knows the password too."""
    if registry.target == "reference":
        pytest.skip("the reference registry has no web portal")
    member = _sign_up_member(browser, registry.url, "web")
    registry.users[member.username] = member.password
    return member


@pytest.fixture(scope="module")
def other_member(browser, registry) -> Member:
    if registry.target == "reference":
        pytest.skip("the reference registry has no web portal")
    return _sign_up_member(browser, registry.url, "other")


@pytest.fixture
def member_page(browser, base_url, member) -> Page:
    """A page in a fresh context where `member` is logged in."""
    context = _new_context(browser, base_url, member)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def pushed_repository(browser, registry, member, base_images, tmp_path_factory):
    """member/<name>, created through /new/ and pushed to with skopeo as member:
    (full name, Pushed)."""
    require_page("/new/", "create repository")
    context = _new_context(browser, registry.url, member)
    try:
        name = unique_name("pushed")
        create_repository(context.new_page(), registry.url, name, description="Pushed by skopeo")
    finally:
        context.close()
    full_name = f"{member.username}/{name}"
    tmp = tmp_path_factory.mktemp("browser-push")
    pushed = skopeo_push(
        registry, base_images.oci("base"), full_name, "v1", tmp, user=member.username
    )
    return full_name, pushed


# --------------------------------------------------------------------------
# The flows


def test_browser_sign_up_logs_in(page, base_url):
    username, password = unique_name("signup"), unique_name("pw-") + "-Secret!"
    page.goto("/")
    account_menu(page).get_by_role("link", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("sign up", re.I))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password (again)").fill(password)
    page.get_by_role("button", name="Sign up").click()

    expect_signed_in(page, username)
    # Logged in for real: a page only members see opens.
    require_page("/new/", "create repository")
    page.goto("/new/")
    expect(page).to_have_url(re.compile(r"/new/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("New repository")


def test_browser_log_in(page, base_url, member):
    log_in(page, base_url, member.username, member.password)
    expect(page).to_have_url(re.compile(r"/$"))


def test_browser_create_repository(member_page, member):
    require_page("/new/", "create repository")
    page = member_page
    name = unique_name("created")
    page.goto("/")
    page.get_by_role("link", name="New repository").click()
    expect(page).to_have_url(re.compile(r"/new/$"))
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Public", exact=True).check()
    page.get_by_label("Description").fill("Made in a browser")
    page.get_by_role("button", name="Create").click()

    expect(page).to_have_url(re.compile(rf"/r/{member.username}/{name}/$"))
    created = f"Created the repository {member.username}/{name}"
    expect(page.get_by_role("status").filter(has_text=created)).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{member.username}/{name}")
    expect(page.get_by_text("Made in a browser")).to_be_visible()
    tabs = page.get_by_role("navigation", name="Repository")
    for tab in ("Overview", "Tags", "Settings"):
        expect(tabs.get_by_role("link", name=tab)).to_be_visible()
    expect(tabs.get_by_role("link", name="Overview")).to_have_attribute("aria-current", "page")


def test_browser_pushed_tag_on_tags_tab(member_page, pushed_repository, base_images):
    full_name, pushed = pushed_repository
    require_page(f"/r/{full_name}/tags/", "Tags tab")
    page = member_page
    page.goto(f"/r/{full_name}/")
    page.get_by_role("navigation", name="Repository").get_by_role("link", name="Tags").click()
    expect(page).to_have_url(re.compile(rf"/r/{full_name}/tags/$"))

    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="v1", exact=True))
    expect(row).to_have_count(1)
    size = sum(layer["size"] for layer in base_images.amd64.manifest["layers"])
    shown_size = str(filesizeformat(size)).replace("\xa0", " ")
    expect(row).to_contain_text(shown_size)
    expect(row).to_contain_text(pushed.digest[:19])
    expect(row).to_contain_text("linux/amd64")


def test_browser_star_updates_count_without_reload(member_page, pushed_repository):
    full_name, _ = pushed_repository
    page = member_page
    page.goto(f"/r/{full_name}/")
    button = star_button(page)
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(button).to_contain_text(re.compile(r"\bStar\s+0\b"))
    # A full page load would drop this; htmx's swap keeps it.
    page.evaluate("window.__beforeStar = 'still here'")
    loads = []
    page.on("load", lambda _: loads.append(page.url))

    button.click()

    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button).to_contain_text(re.compile(r"\bStarred\s+1\b"))
    assert page.evaluate("window.__beforeStar") == "still here"
    assert loads == [], f"starring loaded a page: {loads}"

    # The star was stored: a fresh load shows it; unstarring brings the count back.
    page.reload()
    expect(star_button(page)).to_contain_text(re.compile(r"\bStarred\s+1\b"))
    star_button(page).click()
    expect(star_button(page)).to_contain_text(re.compile(r"\bStar\s+0\b"))
    expect(star_button(page)).to_have_attribute("aria-pressed", "false")


def test_browser_search_corrects_a_typo(page, base_url, pushed_repository):
    require_page("/search/", "search")
    full_name, _ = pushed_repository
    name = full_name.split("/", 1)[1]
    typo = "pusshed" + name.removeprefix("pushed")  # one letter too many
    page.goto("/")
    page.get_by_role("search").get_by_role("searchbox", name="Search repositories").fill(typo)
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(rf"/search/\?q={typo}"))
    expect(page.get_by_role("status").filter(has_text=typo)).to_contain_text(name)
    result = page.get_by_role("main").get_by_role("link", name=full_name, exact=True)
    expect(result).to_be_visible()
    screenshot(page, "search-typo")
    result.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(full_name)


def test_browser_private_repository_hidden_from_others(
    browser, base_url, member, member_page, other_member
):
    require_page("/new/", "create repository")
    require_page("/search/", "search")
    name = unique_name("secret")
    full_name = f"{member.username}/{name}"
    create_repository(member_page, base_url, name, private=True)
    expect(member_page.get_by_text("Private", exact=True).first).to_be_visible()
    # Its owner finds it, so the search below would find it if it leaked.
    member_page.goto(f"/search/?q={name}")
    expect(member_page.get_by_role("link", name=full_name, exact=True)).to_be_visible()
    member_page.goto("/")
    expect(member_page.get_by_role("link", name=full_name, exact=True)).to_be_visible()

    context = _new_context(browser, base_url, other_member)
    try:
        page = context.new_page()
        page.goto("/")
        expect_signed_in(page, other_member.username)
        # The owner's "Recently updated" list shows it; nobody else's does.
        expect(page.get_by_role("heading", name="Recently updated")).to_be_visible()
        expect(page.get_by_role("link", name=full_name)).to_have_count(0)
        for path in (f"/r/{full_name}/", f"/r/{full_name}/tags/", f"/r/{full_name}/settings/"):
            response = page.goto(path)
            assert response.status == 404, f"{path}: {response.status}"
            expect(page.get_by_text(name)).to_have_count(0)
        page.goto(f"/search/?q={name}")
        expect(page.get_by_role("heading", level=1)).to_contain_text(name)
        expect(page.get_by_role("link", name=full_name)).to_have_count(0)
        expect(page.get_by_text(re.compile(r"No repositories match"))).to_be_visible()
    finally:
        context.close()


def test_browser_copy_button_copies_pull_command(browser, base_url, registry, pushed_repository):
    full_name, _ = pushed_repository
    context = _new_context(browser, base_url)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base_url)
    try:
        page = context.new_page()
        page.goto(f"/r/{full_name}/")
        command = page.get_by_role("textbox", name="Pull command")
        expect(command).to_have_value(f"docker pull {registry.addr}/{full_name}")
        page.get_by_role("button", name="Copy").click()
        expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == command.input_value()
    finally:
        context.close()


def test_browser_screenshots(member_page, pushed_repository):
    """The main pages render for their owner; their screenshots are kept."""
    full_name, _ = pushed_repository
    name = full_name.split("/", 1)[1]
    page = member_page
    pages = [
        ("home", "/", "Explore"),
        ("search", f"/search/?q={name}", name),
        ("repository", f"/r/{full_name}/", full_name),
        ("tags", f"/r/{full_name}/tags/", full_name),
        ("settings", f"/r/{full_name}/settings/", full_name),
    ]
    for shot, path, heading in pages:
        require_page(path, shot)
        response = page.goto(path)
        assert response.status == 200, f"{path}: {response.status}"
        expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        screenshot(page, shot)
