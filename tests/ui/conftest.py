"""A real browser (headless Chromium through Playwright) against ``label-studio start`` with the plugin.

Module-scoped: one ApertureDB test server seeded with a few images, one Label Studio server, one
browser page that walks through the UI as a user would. Screenshots go to ``artifacts/ui/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services import ROOT, label_studio

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "artifacts" / "ui"


@pytest.fixture(scope="module")
def adb_server():
    from ls_storage.testing.fixtures import running_server

    with running_server() as address:  # over TLS, with its own CA
        yield address


@pytest.fixture(scope="module")
def connector(adb_server):
    """An SDK connector to the test server, to read back what the UI did."""
    return adb_server.connector()


@pytest.fixture(scope="module")
def label_studio_server(tmp_path_factory):
    with label_studio({}, tmp_path_factory.mktemp("label-studio-ui")) as client:
        yield client


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def page(browser, label_studio_server):
    from playwright.sync_api import expect

    expect.set_options(timeout=20_000)
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.set_default_timeout(20_000)
    # Label Studio's pages load analytics from the internet; keep the test hermetic and fast.
    origin = re.escape(label_studio_server.url)
    context.route(re.compile(rf"^(?!{origin}/|blob:|data:)[a-z]+:.*"), lambda route: route.abort())
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="module")
def logged_in(page, label_studio_server):
    """The page, logged in through Label Studio's login form as the admin ``label_studio_server`` creates."""
    page.goto(f"{label_studio_server.url}/user/login/")
    page.locator("#email").fill("admin@example.com")
    page.locator("#password").fill("admin12345")
    page.get_by_role("button", name="Log In").click()
    page.wait_for_url(lambda url: "/user/login" not in url)
    return page


class Journey(dict):
    """What each step of a module's journey (its tests, run in file order on one page) leaves for the next ones."""

    def needs(self, *keys) -> list:
        """The values the steps before left under ``keys``; the step fails (never skips) when one is missing."""
        missing = [key for key in keys if key not in self]
        if missing:
            pytest.fail(f"an earlier step did not complete (missing {missing})")
        return [self[key] for key in keys]


@pytest.fixture(scope="module")
def journey() -> Journey:
    return Journey()


@pytest.fixture(scope="module")
def screenshot(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), animations="disabled")  # finish fade-ins first
        return path

    return take
