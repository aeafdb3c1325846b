"""The Losses page in a real browser: move the outlier, visit every view, no error; the
one-hot walkthrough's table and code fit the page; the server log has no CUDA error."""

import numpy as np

from dlcore import device, losses, readable
from tests.support.browser import assert_no_app_error, wait_idle
from tests.support.servers import running_app

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
    page.get_by_text(f"(mean {readable.number(mean, 4)}", exact=False).first.wait_for(
        timeout=60_000
    )
    page.screenshot(path=SCREENSHOT)

    page.get_by_role("tab", name="Classification").click()
    page.get_by_text("its slope dL/dz").first.wait_for(timeout=30_000)
    page.screenshot(path=SCREENSHOT.replace(".png", "_classification.png"))
    check_label_walkthrough(page)
    page.get_by_role("tab", name="Worked example").click()
    page.locator("p:visible", has_text="the same number)").first.wait_for(timeout=30_000)
    assert_no_app_error(page)
    assert not page.errors, page.errors
    page.screenshot(path=SCREENSHOT.replace(".png", "_worked.png"))


def check_label_walkthrough(page) -> None:
    """The one-hot tab shows both losses equal, and its table and code are not cut off."""
    page.get_by_role("tab", name="One-hot or class number?").click()
    page.get_by_text("Why the same number", exact=False).first.wait_for(timeout=30_000)
    values = page.locator('[data-testid="stMetricValue"]:visible').all_inner_texts()
    assert len(values) == 2 and values[0] == values[1], values
    panel = page.locator('[role="tabpanel"]:visible').first.bounding_box()
    for selector in ('[data-testid="stDataFrame"]', '[data-testid="stCode"] pre'):
        for element in page.locator(f"{selector}:visible").all():
            box = element.bounding_box()
            assert box["x"] >= panel["x"] - 1, selector
            assert box["x"] + box["width"] <= panel["x"] + panel["width"] + 1, selector
    for code in page.locator('[data-testid="stCode"] pre:visible').all():
        width = code.evaluate("e => [e.scrollWidth, e.clientWidth]")
        assert width[0] <= width[1], f"code cut off on the right: {width}"
    page.screenshot(path=SCREENSHOT.replace(".png", "_one_hot.png"))


def test_losses_page_follows_the_outlier_and_shows_every_view(app_url, browser_page):
    check_losses_page(browser_page, app_url + "/losses")


def test_server_log_has_no_cuda_error_on_a_machine_without_gpu_driver(
    tmp_path, monkeypatch, _browser
):
    """The server quiets TensorFlow's CUDA probe itself, as a fresh shell starts it."""
    for name in device.CPU_ONLY_ENVIRONMENT:  # set in this process by `import dlcore`
        monkeypatch.delenv(name, raising=False)
    log_path = tmp_path / "streamlit.log"
    with running_app(tmp_path / "cache", log_path) as url:
        page = _browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url + "/losses")  # a page that imports TensorFlow and computes with it
        page.get_by_text("The constant that minimizes", exact=False).first.wait_for(timeout=180_000)
        page.close()
    log = log_path.read_text()
    assert "cuInit" not in log, log[-3000:]
    assert "Traceback" not in log
