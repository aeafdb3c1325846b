"""Browser-test harness: `streamlit run app.py` on a free port, driven by Debian's Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import CHROMIUM
from tests.support.servers import running_app


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


@pytest.fixture
def browser_page(_browser):
    """A fresh page (its own session) at a desktop size; console errors collected on .errors."""
    context = _browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()
