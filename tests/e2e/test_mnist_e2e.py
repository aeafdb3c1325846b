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


def _inside(inner: dict, outer: dict, slack: float = 1.0) -> bool:
    """Whether bounding box `inner` lies within `outer` (to `slack` pixels)."""
    return (
        inner["x"] >= outer["x"] - slack
        and inner["y"] >= outer["y"] - slack
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack
    )


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def _assert_code_blocks_show_everything(page, blocks) -> None:
    """Every line of each code block is visible: nothing hidden past its right edge, and
    each block inside the page's main column."""
    main = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
    assert blocks.count() >= 2
    for i in range(blocks.count()):
        block = blocks.nth(i)
        block.scroll_into_view_if_needed()
        pre = block.locator("pre").first
        hidden = pre.evaluate("el => el.scrollWidth - el.clientWidth")
        assert hidden <= 1, f"code block {i} hides {hidden} px on the right"
        assert _inside(pre.bounding_box(), main), f"code block {i} leaves the main column"


def _assert_legends_clear_of_axis_titles(page) -> None:
    charts = page.locator('[data-testid="stPlotlyChart"]')
    assert charts.count() >= 2
    for i in range(charts.count()):
        chart = charts.nth(i)
        legend = chart.locator("g.legend").first.bounding_box()
        title = chart.locator("text.xtitle").first.bounding_box()
        assert not _overlap(legend, title), f"chart {i}: the legend covers the axis title"
        assert _inside(legend, chart.bounding_box()), f"chart {i}: the legend is cut off"


def test_train_tab_shows_all_of_the_code_the_summary_and_the_tutorials_recipe(
    app_url, browser_page
):
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 900})
    _goto_mnist(page, app_url, "?mnist_tab=Train")
    page.get_by_text("Param #").first.wait_for(timeout=120_000)  # the summary's last column
    _assert_code_blocks_show_everything(page, page.locator('[data-testid="stCode"]'))
    page.get_by_text("model.summary()").first.scroll_into_view_if_needed()
    page.screenshot(path="/tmp/shots/mnist_train/e2e_code_summary.png")
    page.get_by_text("The tutorial's recipe, side by side").click()
    page.get_by_text("as printed").first.wait_for(timeout=30_000)
    wait_idle(page)
    expander = page.locator('[data-testid="stExpander"]').filter(has_text="as printed")
    _assert_code_blocks_show_everything(page, expander.locator('[data-testid="stCode"]'))
    expander.scroll_into_view_if_needed()
    page.screenshot(path="/tmp/shots/mnist_train/e2e_side_by_side.png", full_page=True)
    assert_no_app_error(page)
    assert not page.errors


def test_train_tiny_model_then_read_an_uploaded_photo(app_url, browser_page):
    page = browser_page
    _goto_mnist(page, app_url)
    page.get_by_text("Label: 5").first.wait_for(timeout=60_000)  # the tutorial's first figure
    _open_tab(page, "Train")
    seen = _train_tiny_and_watch(page)
    assert seen and seen[-1] == 100, f"progress never reached 100 %: {seen}"
    page.get_by_text("Test accuracy").first.wait_for(timeout=60_000)
    wait_idle(page)
    _assert_legends_clear_of_axis_titles(page)
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
