"""The Optimizers page in a real browser: steps slider, click-to-start on the map, Play."""

import re

from tests.support.browser import assert_no_app_error, wait_idle

SCREENSHOT = "/tmp/e2e_optimizers.png"
RACE_CHART = '[data-testid="stPlotlyChart"]'


def thumb_value(page, label: str) -> str:
    return page.locator('[data-testid="stSlider"]').filter(has_text=label).inner_text()


def test_optimizers_page_steps_click_to_start_and_play(app_url, browser_page):
    page = browser_page
    page.goto(app_url + "/optimizers")
    wait_idle(page, timeout=180_000)
    # The first visit imports TensorFlow and traces the race: wait for the last chart.
    page.locator(RACE_CHART).nth(2).wait_for(timeout=180_000)
    wait_idle(page)
    assert page.locator("h1").first.inner_text().endswith("Optimizers")
    race = page.locator(RACE_CHART).first
    assert race.get_by_text("step 200").count() == 1  # the animation slider ends at the last step

    steps = page.locator('[data-testid="stSlider"]').filter(has_text="Steps").get_by_role("slider")
    steps.focus()
    for _ in range(5):
        steps.press("ArrowRight")  # 5 steps of 10
    wait_idle(page, timeout=60_000)
    race.get_by_text("step 250").wait_for(timeout=60_000)

    # A click on the map (its invisible grid of points) moves the start there.
    before = thumb_value(page, "Start x"), thumb_value(page, "Start y")
    box = race.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(box["x"] + 0.75 * box["width"], box["y"] + 0.25 * box["height"])
    moved = re.compile(r"1\.\d\d")  # the clicked point, (≈1.5, ≈1.5)
    for _ in range(120):  # the rerun follows the click within a few seconds
        wait_idle(page, timeout=60_000)
        after = thumb_value(page, "Start x"), thumb_value(page, "Start y")
        if moved.search(after[0]) and moved.search(after[1]):
            break  # both sliders settled (under load one may be redrawn before the other)
        page.wait_for_timeout(250)
    assert after != before
    assert moved.search(after[0]) and moved.search(after[1]), after

    # Play animates the balls; the contour picture stays behind them.
    race.locator(".updatemenu-button").first.click()
    page.wait_for_timeout(1500)
    assert race.locator("image").count() == 1
    assert page.locator(".katex").count() >= 6  # the update rules rendered
    assert_no_app_error(page)
    assert not page.errors, page.errors
    # Streamlit scrolls inside its own container: a tall viewport shows the whole page.
    page.set_viewport_size({"width": 1400, "height": 3600})
    wait_idle(page)
    page.screenshot(path=SCREENSHOT)
