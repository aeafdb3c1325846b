"""The MNIST page in Chromium: train a tiny model and watch it reach 100 %, then upload a
photo of a digit through the real file uploader and see the reading; a bad file is refused."""

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.support.browser import assert_no_app_error, wait_idle

FIXTURES = Path(__file__).parent / "fixtures"
PROGRESS = '[data-testid="stProgress"] [role="progressbar"]'


def _goto_mnist(page, app_url: str, query: str = "") -> None:
    """Open the page through the app's navigation, with its sidebar entry checked.

    The root is visited first: while no script has called st.navigation yet, Streamlit
    serves a deep link from the legacy pages/ folder instead (the whole server then stays
    in that mode), so a fresh server must see "/" before "/mnist".
    """
    page.goto(app_url)
    wait_idle(page, timeout=180_000)
    page.goto(app_url + "/mnist" + query)
    wait_idle(page, timeout=180_000)
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_text("MNIST CNN", exact=True).wait_for(timeout=30_000)


def _open_tab(page, tab: str) -> None:
    page.get_by_role("tab", name=tab, exact=True).click()
    wait_idle(page, timeout=180_000)


def _set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def _upload(page, path: Path) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    wait_idle(page, timeout=120_000)


def _train_tiny_and_watch(page) -> list[float]:
    """Train 1,000 images for 1 epoch; return the progress values seen, in order."""
    _set_number(page, "Training images", 1000)
    _set_number(page, "Validation images", 500)
    _set_number(page, "Epochs", 1)
    page.get_by_role("button", name="▶ Train").click()
    seen: list[float] = []
    for _ in range(900):  # up to ~3 minutes on a busy machine
        bar = page.locator(PROGRESS)
        if bar.count():
            value = bar.first.get_attribute("aria-valuenow")
            if value is not None and (not seen or float(value) != seen[-1]):
                seen.append(float(value))
            if seen and seen[-1] >= 100:
                break
        page.wait_for_timeout(200)
    return seen


def test_train_tiny_model_then_read_an_uploaded_photo(app_url, browser_page):
    page = browser_page
    _goto_mnist(page, app_url)
    page.get_by_text("Label: 5").first.wait_for(timeout=60_000)  # the tutorial's first figure
    _open_tab(page, "Train")
    seen = _train_tiny_and_watch(page)
    assert seen and seen[-1] == 100, f"progress never reached 100 %: {seen}"
    page.get_by_text("Test accuracy").first.wait_for(timeout=60_000)
    wait_idle(page)
    page.screenshot(path="/tmp/e2e_mnist_trained.png", full_page=True)
    assert_no_app_error(page)

    _open_tab(page, "Read my digit")
    _upload(page, FIXTURES / "seven_photo.jpg")
    reading = page.locator('[data-testid="stMetric"]').filter(has_text="I read")
    reading.wait_for(timeout=60_000)
    assert re.search(r"I read\s*[0-9]", reading.inner_text())
    # The stage strip; its images lay out a moment after the reading arrives, so retry.
    expect(page.get_by_text("centered by mass").first).to_be_visible(timeout=30_000)
    page.screenshot(path="/tmp/e2e_mnist_digit.png", full_page=True)
    assert_no_app_error(page)

    _open_tab(page, "Evaluate")
    page.get_by_text("Confusion matrix").first.wait_for(timeout=120_000)
    expect(page.get_by_text("Predicted:").first).to_be_visible(timeout=30_000)  # 5x5 grid
    page.screenshot(path="/tmp/e2e_mnist_evaluate.png", full_page=True)
    assert_no_app_error(page)
    assert not page.errors


def test_a_garbage_png_is_refused_with_a_clear_message(app_url, browser_page):
    page = browser_page
    _goto_mnist(page, app_url, "?mnist_tab=Read+my+digit")
    _upload(page, FIXTURES / "garbage.png")
    error = page.locator('[data-testid="stAlertContentError"]')
    error.first.wait_for(timeout=30_000)
    assert "cannot be read" in error.first.inner_text()
    page.screenshot(path="/tmp/e2e_mnist_garbage.png", full_page=True)
    assert_no_app_error(page)
    assert not page.errors


def test_a_drawing_on_the_canvas_goes_through_the_same_preprocessing(app_url, browser_page):
    page = browser_page
    _goto_mnist(page, app_url, "?mnist_tab=Read+my+digit")
    page.get_by_text("Draw it", exact=True).click()
    wait_idle(page)
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 80, box["y"] + 60)
    page.mouse.down()
    for dx, dy in ((200, 60), (160, 140), (130, 220), (110, 250)):  # a 7
        page.mouse.move(box["x"] + dx, box["y"] + dy, steps=10)
    page.mouse.up()
    page.get_by_text("centered by mass").first.wait_for(timeout=60_000)
    wait_idle(page)
    page.screenshot(path="/tmp/e2e_mnist_canvas.png", full_page=True)
    assert_no_app_error(page)
    assert not page.errors
