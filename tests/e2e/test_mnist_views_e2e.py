"""MNIST Explore, Read my digit and Look inside in Chromium at 1400×900: the pixel tables
show all their columns, the average digits fill their width without empty bands, every
probability bar has its digit under it and the winner its value, and the canvas's toolbar
never covers the choice above the canvas. Screenshots go to /tmp/shots/mnist-views/."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.support.browser import assert_no_app_error, wait_idle
from tests.support.servers import REPO, running_app

FIXTURES = Path(__file__).parent / "fixtures"
SHOTS = Path("/tmp/shots/mnist-views")
VIEWPORT = {"width": 1400, "height": 900}
TOLERANCE = 1  # px: sub-pixel rounding of the boxes
STRIP_ASPECT = (10 * 28 + 9 * 2) / 28  # ten 28 px digits with 2 px gaps, one row


@pytest.fixture(scope="module")
def quick_app(tmp_path_factory):
    """`streamlit run app.py` whose cache already holds the quick preset model, so the tabs
    that need a model show it at once (trained here by the command line, ~15 s)."""
    cache_dir = tmp_path_factory.mktemp("views-cache")
    env = {**os.environ, "DLCORE_CACHE_DIR": str(cache_dir)}
    command = [sys.executable, "-m", "dlcore", "train", "mnist", "--quick"]
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, timeout=600)
    log_path = tmp_path_factory.mktemp("views-log") / "streamlit.log"
    with running_app(cache_dir, log_path) as url:
        yield url


@pytest.fixture
def page(_browser):
    context = _browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def _goto_mnist(page, url: str, query: str = "") -> None:
    """Open the MNIST page through the app's navigation (the root first: see test_mnist_e2e)."""
    page.goto(url)
    wait_idle(page, timeout=180_000)
    page.goto(url + "/mnist" + query)
    wait_idle(page, timeout=180_000)


def _shoot(page, locator, name: str) -> None:
    """Scroll the element into the 1400×900 viewport and save what a learner sees."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    locator.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def _inside(inner: dict, outer: dict) -> bool:
    return (
        inner["x"] >= outer["x"] - TOLERANCE
        and inner["y"] >= outer["y"] - TOLERANCE
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + TOLERANCE
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + TOLERANCE
    )


def _intersect(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_patch_tables_show_all_columns_and_the_average_digits_have_no_empty_bands(quick_app, page):
    _goto_mnist(page, quick_app)
    tables = page.locator('[data-testid="stTable"]')
    expect(tables).to_have_count(2, timeout=60_000)
    _shoot(page, tables.first, "e2e_explore_tables")
    for i in range(2):
        table = tables.nth(i)
        column = table.locator("xpath=ancestor::*[@data-testid='stColumn'][1]").bounding_box()
        frame = table.bounding_box()
        assert _inside(frame, column), f"table {i} {frame} spills out of its column {column}"
        headers = table.locator("thead th")
        assert headers.count() == 7  # the row numbers, then six pixel columns
        cells = [*headers.all(), *table.locator("tbody th, tbody td").all()]
        assert len(cells) == 7 * 7
        for cell in cells:
            box = cell.bounding_box()
            assert _inside(box, frame), f"table {i}: '{cell.inner_text()}' {box} is cut off"

    strip = page.locator('[data-testid="stImage"]').filter(has_text="mean over all training")
    image = strip.locator("img")
    _shoot(page, strip, "e2e_explore_means")
    box, main = image.bounding_box(), page.locator('[data-testid="stMainBlockContainer"]')
    width = main.evaluate(
        "el => el.clientWidth - parseFloat(getComputedStyle(el).paddingLeft)"
        " - parseFloat(getComputedStyle(el).paddingRight)"
    )
    assert box["width"] >= width - 2 * TOLERANCE, "the strip does not fill the page's width"
    assert box["height"] == pytest.approx(box["width"] / STRIP_ASPECT, abs=2)
    assert_no_app_error(page)
    assert not page.errors


def _assert_every_bar_labelled(page, key: str, name: str) -> None:
    chart = page.locator(f".st-key-{key}")
    ticks = chart.locator("g.xtick text")
    expect(ticks).to_have_count(10, timeout=60_000)
    _shoot(page, chart, name)
    frame = chart.bounding_box()
    assert ticks.all_text_contents() == [str(d) for d in range(10)]
    boxes = [tick.bounding_box() for tick in ticks.all()]
    assert all(_inside(b, frame) for b in boxes)
    assert all(a["x"] + a["width"] < b["x"] for a, b in zip(boxes, boxes[1:], strict=False))
    values = [t for t in chart.locator("text.bartext").all_text_contents() if t]
    assert len(values) == 1 and re.fullmatch(r"\d+(\.\d+)? %", values[0]), values
    value = chart.locator("text.bartext").filter(has_text="%").bounding_box()
    title = chart.locator(".gtitle").bounding_box()
    assert _inside(value, frame) and not _intersect(value, title)


def test_every_probability_bar_is_labelled_and_the_winner_shows_its_value(quick_app, page):
    _goto_mnist(page, quick_app, "?mnist_tab=Read+my+digit")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(FIXTURES / "seven_photo.jpg")
    )
    wait_idle(page, timeout=120_000)
    _assert_every_bar_labelled(page, "mnist_digit_probs", "e2e_digit_probabilities")
    page.get_by_role("tab", name="Look inside", exact=True).click()
    wait_idle(page, timeout=120_000)
    _assert_every_bar_labelled(page, "mnist_inside_softmax", "e2e_inside_softmax")
    assert_no_app_error(page)
    assert not page.errors


def test_the_canvas_toolbar_never_covers_the_choice_above_it(quick_app, page):
    _goto_mnist(page, quick_app, "?mnist_tab=Read+my+digit")
    page.get_by_text("Draw it", exact=True).click()
    wait_idle(page)
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    toolbar = page.locator(".dc-toolbar")
    expect(toolbar).to_have_css("opacity", "1")  # shown: the pointer is over the canvas
    page.wait_for_timeout(400)  # its slide up (0.1 s after a 0.1 s delay) has ended
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "e2e_canvas_toolbar.png"))
    shown = toolbar.bounding_box()
    label = page.get_by_text("Draw it", exact=True).bounding_box()
    choice = page.locator(".st-key-mnist_digit_source").bounding_box()
    assert not _intersect(shown, label), f"the toolbar {shown} covers 'Draw it' {label}"
    assert not _intersect(shown, choice), f"the toolbar {shown} covers the choice {choice}"
    assert_no_app_error(page)
    assert not page.errors
