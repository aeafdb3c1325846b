"""Headless Chromium against the app: where it is, how it is started, when a page is ready.

Shared by the browser tests (tests/e2e) and the benchmarks that drive a real browser.
"""

from __future__ import annotations

import shutil

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
