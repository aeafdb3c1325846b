"""The regression page in a real browser: train, watch the curve move, then predict a price;
then diverge and still see the good model, the compare chart's values and the dead units."""

import re
import time
from pathlib import Path

from playwright.sync_api import expect

from tests.support.browser import assert_no_app_error, wait_idle

PROGRESS = '[data-testid="stProgress"]'
SHOTS = Path("/tmp/shots/regression")


def _epoch_shown(page) -> int:
    """The epoch in the live progress line ("Epoch 12 / 200 · ..."), or -1 when not shown."""
    texts = page.locator(PROGRESS).all_inner_texts()
    match = re.search(r"Epoch (\d+) / \d+", " ".join(texts))
    return int(match.group(1)) if match else -1


def _curve_title(page) -> str:
    """The live chart's title (Plotly draws it as SVG text with class "gtitle")."""
    titles = page.locator(".gtitle").all_text_contents()
    return next((t for t in titles if t.startswith("The network's curve")), "")


def test_train_watch_the_curve_move_then_predict(app_url, browser_page):
    page = browser_page
    page.goto(f"{app_url}/regression")
    wait_idle(page, timeout=120_000)
    assert_no_app_error(page)
    page.get_by_role("tab", name="4 · Train").click()
    page.get_by_role("button", name="Train").click()

    seen_epochs, seen_titles = set(), set()
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not page.get_by_text("Trained in").count():
        seen_epochs.add(_epoch_shown(page))
        seen_titles.add(_curve_title(page))
        page.wait_for_timeout(400)
    page.screenshot(path="/tmp/e2e_regression_trained.png")
    assert page.get_by_text("Trained in").count(), "training did not finish in 3 minutes"
    live_epochs = sorted(e for e in seen_epochs if e > 0)
    assert len(live_epochs) >= 3, f"the epoch counter did not move live: {live_epochs}"
    assert len(seen_titles - {""}) >= 3, "the fitted curve was not redrawn epoch by epoch"
    wait_idle(page)
    assert _curve_title(page).endswith("epoch 200")
    assert_no_app_error(page)

    page.get_by_role("tab", name="6 · Predict").click()
    area = page.get_by_label(re.compile("House area"))
    area.fill("600")
    area.press("Enter")
    wait_idle(page)
    expect(page.get_by_text("Predicted price")).to_be_visible()
    expect(page.get_by_text("outside the training range")).to_be_visible()
    page.screenshot(path="/tmp/e2e_regression_predict.png")
    assert_no_app_error(page)
    assert not page.errors

    _look_inside_names_the_dead_units(page)
    _diverge_then_still_see_the_good_model(page)


def _look_inside_names_the_dead_units(page) -> None:
    page.set_viewport_size({"width": 1400, "height": 900})
    page.get_by_role("tab", name="5 · Look inside").click()
    wait_idle(page)
    expect(page.get_by_text("hidden units are dead")).to_be_visible()
    parts = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Hidden-unit")
    axis_title = parts.locator(".g-xtitle").bounding_box()
    legend = parts.locator(".legend").bounding_box()
    assert axis_title["y"] + axis_title["height"] <= legend["y"], "the legend covers the title"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "look_inside_good.png"), full_page=True)


def _diverge_then_still_see_the_good_model(page) -> None:
    """Learning rate 10: the run diverges; Look inside keeps the first model and says so."""
    page.get_by_role("tab", name="3 · Model").click()
    rate = page.locator('[data-testid="stSlider"]').filter(has_text="Learning rate")
    rate.get_by_role("slider").press("End")  # the largest rate offered, 10
    wait_idle(page)
    page.get_by_role("tab", name="4 · Train").click()
    page.get_by_role("button", name="Train").click()
    expect(page.get_by_text("Training diverged")).to_be_visible(timeout=120_000)
    wait_idle(page)
    page.get_by_role("tab", name="5 · Look inside").click()
    wait_idle(page)
    expect(
        page.get_by_text("The last run diverged (tab 4), so this is your latest good model").first
    ).to_be_visible()
    expect(page.get_by_text("RMSE", exact=True).first).to_be_visible()  # the good model's scores
    page.screenshot(path=str(SHOTS / "look_inside_after_diverged_top.png"))
    compare = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="Compare runs")
    compare.scroll_into_view_if_needed()
    ticks = [t for t in compare.locator(".ytick text").all_text_contents() if t.strip()]
    assert len(ticks) >= 2, f"the compare chart's y-axis has no values: {ticks}"
    main = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
    box = compare.bounding_box()
    assert main["x"] <= box["x"] and box["x"] + box["width"] <= main["x"] + main["width"]
    diverged = compare.get_by_text(re.compile(r"diverged at epoch \d+"))
    not_drawn = page.get_by_text(re.compile(r"^Not drawn: .* diverged at epoch \d+"))
    assert diverged.count() + not_drawn.count() == 1  # a dashed curve, or said in words
    page.screenshot(path=str(SHOTS / "look_inside_after_diverged.png"), full_page=True)
    page.get_by_role("tab", name="6 · Predict").click()
    wait_idle(page)
    expect(page.get_by_text("Predicted price")).to_be_visible()
    page.screenshot(path=str(SHOTS / "predict_after_diverged.png"), full_page=True)
    assert_no_app_error(page)
    assert not page.errors
