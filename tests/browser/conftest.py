"""Browser tier: Playwright drives Debian's Chromium against the real WSGI server (waitress).

Skips with a reason when Chromium or Playwright is missing, unless MTM_REQUIRE_BROWSER=1 (CI),
where a missing browser fails the run instead. Each test's last screen is saved under
test-artifacts/ so CI keeps what the pages looked like.

After a click that loads a new page, check its text with
`page.locator("body", has_text=...).wait_for()`, which waits for that page; `page.content()`
may read a page that is still loading (an empty string).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from waitress import create_server

CHROMIUM = os.environ.get("MTM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # No lookups outside this machine, whatever a page asks for.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str):
    if os.environ.get("MTM_REQUIRE_BROWSER") == "1":
        pytest.fail(f"MTM_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(f"browser tier: {reason}")


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app):
    """The test app served by waitress on a free 127.0.0.1 port; yields its base URL."""
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    # Closed from the server's own thread: closed from this one, its sockets could go while it
    # waits on them in select() ("Bad file descriptor" in that thread). With nothing left to
    # watch, its loop ends.
    server.trigger.pull_trigger(server.close)
    thread.join(timeout=5)
    assert not thread.is_alive()


@pytest.fixture
def new_page(browser, live_server, request):
    """A factory of fresh browser tabs (`new_page(viewport=..., java_script_enabled=...)`); the
    test fails on a console error (a CSP violation is one), an uncaught script error or a broken
    stylesheet, script or image in any of them. Pages themselves may answer 4xx when the test
    expects it. Each tab's last view is saved in test-artifacts/."""
    opened: list = []
    errors: list[str] = []

    def on_console(message):
        # 4xx/5xx answers are checked below by resource type, not by their console echo.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response):
        if response.status >= 400 and response.request.resource_type != "document":
            errors.append(f"{response.status} for {response.url}")

    def factory(**context_options):
        context = browser.new_context(base_url=live_server, **{"viewport": {"width": 1280, "height": 900}, **context_options})
        context.set_default_timeout(10_000)
        tab = context.new_page()
        tab.on("console", on_console)
        tab.on("response", on_response)
        tab.on("pageerror", lambda error: errors.append(str(error)))
        opened.append((context, tab))
        return tab

    yield factory
    ARTIFACTS.mkdir(exist_ok=True)
    for n, (context, tab) in enumerate(opened):
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", request.node.name) + (f"-{n}" if n else "")
        tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()
    assert errors == [], f"the page logged errors: {errors}"


@pytest.fixture
def page(new_page):
    """A fresh browser tab at desktop size (see `new_page`)."""
    return new_page()
