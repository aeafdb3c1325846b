"""The Losses page in a real browser: move the outlier, visit every view, no error."""

import numpy as np

from dlcore import losses
from tests.support.browser import assert_no_app_error, wait_idle

SCREENSHOT = "/tmp/e2e_losses.png"


def check_losses_page(page, url: str) -> None:
    """Open the page at `url`, move the outlier slider by keyboard and open each view."""
    page.goto(url)
    wait_idle(page, timeout=180_000)
    # The first visit imports TensorFlow and the page fills in view by view: wait for the
    # outlier summary itself, not only for the app to look idle.
    page.get_by_text("The constant that minimizes", exact=False).first.wait_for(timeout=180_000)
    wait_idle(page)
    assert page.locator("h1").first.inner_text().endswith("Loss functions")
    page.set_viewport_size({"width": 1400, "height": 2600})  # the whole tab in the screenshots
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="seventh point")
    thumb = slider.get_by_role("slider")
    thumb.focus()
    for _ in range(10):
        thumb.press("ArrowRight")  # 10 steps of 0.5: from 15 to 20
    wait_idle(page, timeout=60_000)
    mean = np.mean([*losses.OUTLIER_DATA, 20.0])
    page.get_by_text(f"(mean {mean:.3f}", exact=False).first.wait_for(timeout=60_000)
    page.screenshot(path=SCREENSHOT)

    page.get_by_role("tab", name="Classification").click()
    page.get_by_text("its slope dL/dz").first.wait_for(timeout=30_000)
    page.screenshot(path=SCREENSHOT.replace(".png", "_classification.png"))
    page.get_by_role("tab", name="Worked example").click()
    page.get_by_text("the same number", exact=False).first.wait_for(timeout=30_000)
    assert_no_app_error(page)
    assert not page.errors, page.errors
    page.screenshot(path=SCREENSHOT.replace(".png", "_worked.png"))


def test_losses_page_follows_the_outlier_and_shows_every_view(app_url, browser_page):
    check_losses_page(browser_page, app_url + "/losses")
