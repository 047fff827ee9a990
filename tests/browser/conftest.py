"""Browser tests: Playwright driving Debian's Chromium against a live server.

Never a browser download: Chromium comes from Debian (`apt-get install chromium`, which
.ci/run does). Where it is missing these tests are skipped, and the run says so. On a
failure, a screenshot of the page lands in test-artifacts/screenshots/<test name>.png.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the live server's ORM calls in
# the test body are synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
try:
    import playwright.sync_api  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:  # pragma: no cover
    HAVE_PLAYWRIGHT = False

SKIP_REASON = (
    f"browser tests skipped: Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if not HAVE_CHROMIUM
    else "browser tests skipped: the playwright package is not installed"
)


def pytest_collection_modifyitems(config, items):
    if HAVE_CHROMIUM and HAVE_PLAYWRIGHT:
        return
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not (HAVE_CHROMIUM and HAVE_PLAYWRIGHT):
        terminalreporter.write_sep("-", SKIP_REASON, yellow=True)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# `browser` (one Chromium for the whole run) lives in tests/conftest.py: tests/e2e drives it
# too, and Playwright's sync API allows one instance per thread.


def _page(browser, request, viewport):
    context = browser.new_context(viewport=viewport, base_url=None)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    context.close()


@pytest.fixture
def page(browser, request):
    """A 1280 px wide page."""
    yield from _page(browser, request, {"width": 1280, "height": 900})


@pytest.fixture
def phone_page(browser, request):
    """A 390 px wide page, a phone's width."""
    yield from _page(browser, request, {"width": 390, "height": 844})


@pytest.fixture
def admin_login(live_server):
    """Log `page` in to the admin as `username` (password pw-Secret-123 by default)."""

    def login(page, username: str, password: str = "pw-Secret-123"):
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        return page

    return login
