"""What the browser tests (test_browser.py) do in Hub's pages, as a user would:
by role, label and visible text, never by CSS class."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

# Debian's Chromium; Playwright never downloads a browser here.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# Git ignores this folder (.gitignore).
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# Milliseconds Playwright waits for an element or a navigation.
TIMEOUT_MS = 15_000


@dataclass
class Member:
    """A user who signed up in the browser; storage_state holds the session."""

    username: str
    password: str
    storage_state: dict


def unique_name(prefix: str) -> str:
    """A name no other test uses: lowercase letters and digits (a valid username)."""
    return f"{prefix}{secrets.token_hex(4)}"


def require_page(path: str, what: str) -> None:
    """Skip the test when Hub has no page at path yet (the URLconf of this checkout)."""
    from django.urls import Resolver404, resolve

    try:
        resolve(path.split("?", 1)[0])
    except Resolver404:
        pytest.skip(f"the {what} page ({path}) is not built yet")


def sign_up(page: Page, base_url: str, username: str, password: str) -> None:
    """Fill in and send the sign-up form; the user is then logged in."""
    page.goto(f"{base_url}/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password (again)").fill(password)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_load_state()


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Login").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect_signed_in(page, username)


def account_menu(page: Page):
    """The header's account navigation."""
    return page.get_by_role("navigation", name="Account")


def expect_signed_in(page: Page, username: str) -> None:
    expect(account_menu(page)).to_contain_text(username)
    expect(account_menu(page).get_by_role("link", name="Log in")).to_have_count(0)


def create_repository(
    page: Page, base_url: str, name: str, *, private: bool = False, description: str = ""
) -> None:
    """Create name in the user's own namespace through /new/; ends on its page."""
    page.goto(f"{base_url}/new/")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Private" if private else "Public", exact=True).check()
    if description:
        page.get_by_label("Description").fill(description)
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)


def star_button(page: Page):
    """The repository header's Star / Starred toggle (aria-pressed)."""
    return page.get_by_role("main").get_by_role("button", name=re.compile(r"^\W*Star"))


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
