"""Browser-test harness: `streamlit run app.py` on a free port, driven by Debian's Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.servers import running_streamlit

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    """Mark every test here e2e and skip them all, with the reason, when Chromium is missing."""
    skip = None
    if not Path(CHROMIUM).exists():
        skip = pytest.mark.skip(reason="Chromium is not installed (apt-get install -y chromium)")
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            if skip:
                item.add_marker(skip)


def running_app(cache_dir: Path, log_path: Path):
    """`streamlit run app.py` on a free port with its own model cache; yields its URL."""
    env = {"DLCORE_CACHE_DIR": str(cache_dir), "PYTHONUNBUFFERED": "1"}
    options = ["--browser.gatherUsageStats=false", "--server.fileWatcherType=none"]
    return running_streamlit("app.py", log_path=log_path, env=env, options=options)


@pytest.fixture(scope="session")
def streamlit_server(tmp_path_factory):
    """A real `streamlit run app.py` with its own empty model cache; yields (url, cache_dir)."""
    cache_dir = tmp_path_factory.mktemp("e2e-cache")
    log_path = tmp_path_factory.mktemp("e2e-log") / "streamlit.log"
    with running_app(cache_dir, log_path) as url:
        yield url, cache_dir


@pytest.fixture(scope="session")
def app_url(streamlit_server) -> str:
    return streamlit_server[0]


@pytest.fixture(scope="session")
def _browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def browser_page(_browser):
    """A fresh page (its own session) at a desktop size; console errors collected on .errors."""
    context = _browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the app has rendered and finished running its script."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.getAttribute('data-test-script-state') !== 'running'
                && !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
        }""",
        timeout=timeout,
    )
    page.wait_for_timeout(300)


def assert_no_app_error(page) -> None:
    """No Streamlit exception box or error alert is visible on the page."""
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert "Traceback" not in page.content()
