"""Home in a real browser: the training-loop diagram's boxes are clickable and fit the page."""

from pathlib import Path

from playwright.sync_api import expect

from tests.support.browser import assert_no_app_error, wait_idle

SHOTS = Path("/tmp/shots/home")
CHOSEN_FILL = "rgb(228, 87, 46)"  # #e4572e, the chosen step's colour


def _open_home(page, app_url: str):
    """Home at 1400×900, once its diagram's six boxes are drawn: (chart, boxes)."""
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(app_url)
    wait_idle(page)
    chart, boxes = _boxes(page)
    expect(boxes).to_have_count(6, timeout=30_000)
    return chart, boxes


def _boxes(page):
    """The diagram's boxes (Plotly bar points), in the loop's order."""
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    return chart, chart.locator(".bars .point")


def _click_box(page, boxes, index: int) -> None:
    """Click the middle of a box with the mouse, as a learner does."""
    box = boxes.nth(index).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_idle(page)


def _fills(boxes) -> list[str]:
    return [boxes.nth(i).locator("path").evaluate("p => p.style.fill") for i in range(6)]


def test_clicking_a_box_of_the_loop_shows_its_explanation(app_url, browser_page):
    page = browser_page
    chart, boxes = _open_home(page, app_url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "loop_input.png"))

    _click_box(page, boxes, 3)  # Loss
    expect(page.get_by_text("A single number that says how wrong")).to_be_visible()
    segments = page.locator('.st-key-home_step [data-testid="stButtonGroup"]')
    chosen = segments.locator('[aria-checked="true"]')
    expect(chosen).to_have_text("Loss")  # the button above follows the click
    assert _fills(boxes).index(CHOSEN_FILL) == 3
    page.screenshot(path=str(SHOTS / "loop_loss_clicked.png"))

    _click_box(page, boxes, 5)  # Weight update: a second click on another box works too
    expect(page.get_by_text("The optimizer moves every weight")).to_be_visible()
    assert _fills(boxes).index(CHOSEN_FILL) == 5
    expect(chosen).to_have_text("Weight update")
    segments.get_by_text("Output", exact=True).click()  # the buttons still work
    wait_idle(page)
    expect(page.get_by_text("The last layer gives the prediction")).to_be_visible()
    assert _fills(boxes).index(CHOSEN_FILL) == 2
    assert_no_app_error(page)
    assert not page.errors


def test_the_loop_diagram_fits_the_page_and_its_labels_fit_their_boxes(app_url, browser_page):
    page = browser_page
    chart, boxes = _open_home(page, app_url)
    main = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
    outer = chart.bounding_box()
    assert main["x"] <= outer["x"] and outer["x"] + outer["width"] <= main["x"] + main["width"]
    for i in range(6):
        box = boxes.nth(i).bounding_box()
        label = boxes.nth(i).locator("text").bounding_box()
        assert outer["x"] <= box["x"] and box["x"] + box["width"] <= outer["x"] + outer["width"]
        assert box["x"] <= label["x"] and label["x"] + label["width"] <= box["x"] + box["width"]
        assert label["height"] >= 12, f"box {i}'s label was shrunk to {label['height']} px"
