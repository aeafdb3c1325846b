"""Fixtures shared by the unit tests."""

import pytest

from dlcore import cache

# Data and the scripts that made them (tests/fixtures/digits/make_digits.py), not tests:
# --doctest-modules (pyproject.toml) would otherwise import those scripts as modules.
collect_ignore = ["fixtures"]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty cache directory of its own (DLCORE_CACHE_DIR) and an empty in-process memo."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(directory))
    cache._forget()
    yield directory
    cache._forget()


@pytest.fixture(scope="session")
def _browser():
    """One headless Chromium for every browser test of the run (tests/e2e and
    tests/scaleout): Playwright's sync API cannot be started twice in one thread."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
