"""A real browser against the real app: Debian's Chromium driven by Playwright, the app
served on loopback by a thread in the test process (so tests still own its clock)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app import create_app
from web.demo import DEMO_PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CHROMIUM = os.environ.get("PROPFLOW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError(f"CI needs Chromium for the browser tests; not found at {CHROMIUM}")
    skip = pytest.mark.skip(reason="Chromium not installed (scripts/browser.sh installs it)")
    for item in items:
        if "e2e" in item.nodeid:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def playwright_browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_app(sqlite_url, clock, tmp_path):
    app = create_app({"TESTING": False, "DATABASE_URL": sqlite_url, "CLOCK": clock,
                      "UPLOAD_FOLDER": str(tmp_path / "uploads"), "SECRET_KEY": "e2e"})
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["BASE_URL"] = f"http://127.0.0.1:{server.server_port}"
    yield app
    server.shutdown()
    thread.join(timeout=10)
    from web.extensions import db

    with app.app_context():
        db.engine.dispose()


class Person:
    """One signed-in person in their own browser context."""

    def __init__(self, browser, base_url: str, username: str, shots: Path):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.base_url, self.username, self.shots = base_url, username, shots
        self.page.goto(f"{base_url}/login")
        self.page.fill("[name=username]", username)
        self.page.fill("[name=password]", DEMO_PASSWORD)
        self.page.click("button.primary")

    def go(self, path: str):
        self.page.goto(f"{self.base_url}{path}")
        return self.page

    def shot(self, name: str) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        # A full-page screenshot leaves a scrolled page at another scroll position than the
        # one Chromium's compositor restores at the next mouse event: a click right after it
        # would press the button at one place and release it at another (no click). Put the
        # page back where it was.
        where = self.page.evaluate("[window.scrollX, window.scrollY]")
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)
        self.page.evaluate("([x, y]) => window.scrollTo(x, y)", where)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def person(playwright_browser, live_app, request):
    opened: list[Person] = []
    shots = ARTIFACTS / request.node.name.replace("[", "-").replace("]", "")

    def open_as(username: str) -> Person:
        someone = Person(playwright_browser, live_app.config["BASE_URL"], username, shots)
        opened.append(someone)
        return someone

    yield open_as
    for someone in opened:
        someone.close()
