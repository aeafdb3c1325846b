"""The Activations page in a real browser: open it, move the probe with the keyboard, no error."""

import re

from tests.support.browser import assert_no_app_error, wait_idle

SCREENSHOT = "/tmp/e2e_activations.png"


def check_activations_page(page, url: str) -> None:
    """Open the page at `url`, press keys on the probe slider and check the page follows."""
    page.goto(url)
    wait_idle(page, timeout=180_000)
    # The first visit imports TensorFlow and the page fills in panel by panel: wait for the
    # last chart itself, not only for the app to look idle.
    page.locator('[data-testid="stPlotlyChart"]').nth(2).wait_for(timeout=180_000)
    wait_idle(page)
    assert page.locator("h1").first.inner_text().endswith("Activation functions")
    thumb = (
        page.locator('[data-testid="stSlider"]').filter(has_text="Probe x").get_by_role("slider")
    )
    thumb.focus()
    for _ in range(5):
        thumb.press("ArrowRight")  # 5 steps of 0.05
    wait_idle(page, timeout=60_000)
    page.get_by_text(re.compile(r"At x = 1\.25")).first.wait_for(timeout=60_000)
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 3
    assert page.locator(".katex").count() >= 6  # the formulas rendered
    assert_no_app_error(page)
    assert not page.errors, page.errors
    # Streamlit scrolls inside its own container: a tall viewport shows the whole page.
    page.set_viewport_size({"width": 1400, "height": 4200})
    wait_idle(page)
    page.screenshot(path=SCREENSHOT)


def test_activations_page_follows_the_probe_slider(app_url, browser_page):
    check_activations_page(browser_page, app_url + "/activations")
