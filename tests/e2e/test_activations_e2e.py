"""The Activations page in a real browser: open it, move the probe with the keyboard, no error."""

import re
from pathlib import Path

from tests.support.browser import assert_no_app_error, wait_idle

SCREENSHOT = "/tmp/e2e_activations.png"
SHOTS = Path("/tmp/shots/activations-probe")
# Per subplot of the curves chart: the horizontal extent of its drawn curves, and the centre of
# every probe dot drawn on it.
DOTS_AND_CURVES = """chart => [...chart.querySelectorAll('g.subplot')].map(subplot => {
    const lines = [...subplot.querySelectorAll('path.js-line')].map(l => l.getBoundingClientRect());
    const dots = [...subplot.querySelectorAll('path.point')].map(d => d.getBoundingClientRect());
    return {
        left: Math.min(...lines.map(r => r.left)),
        right: Math.max(...lines.map(r => r.right)),
        dots: dots.map(r => (r.left + r.right) / 2),
    };
})"""


def check_activations_page(page, url: str) -> None:
    """Open the page at `url`, press keys on the probe slider and check the page follows."""
    page.goto(url)
    wait_idle(page, timeout=180_000)
    # The first visit imports TensorFlow and the page fills in panel by panel: wait for the
    # last chart itself, not only for the app to look idle.
    page.locator('[data-testid="stPlotlyChart"]').nth(2).wait_for(timeout=180_000)
    wait_idle(page)
    assert page.locator("h1").first.inner_text().endswith("Activation functions")
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Probe x")
    thumb = slider.get_by_role("slider")
    for _ in range(300):  # step by 0.05 to x = 1.25; a keypress lost to a rerun is repeated
        value = float(slider.locator('[data-testid="stSliderThumbValue"]').inner_text())
        if abs(value - 1.25) < 1e-9:
            break
        thumb.focus()
        thumb.press("ArrowRight" if value < 1.25 else "ArrowLeft")
        page.wait_for_timeout(200)
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


def test_probe_dots_stay_on_their_curves_at_the_ends_of_the_range(app_url, browser_page):
    """Before issue 12 the probe could go to −10 while the curves stopped at −6: its dots
    floated beside the plot. Now the probe slider ends where the plotted range ends."""
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 900})
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(app_url + "/activations")
    wait_idle(page, timeout=180_000)
    page.locator('[data-testid="stPlotlyChart"]').nth(2).wait_for(timeout=180_000)
    wait_idle(page)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Probe x")
    thumb = slider.get_by_role("slider")
    curves = page.locator('[data-testid="stPlotlyChart"]').first
    for key, end, shown in (("Home", "left", "−6"), ("End", "right", "6")):
        thumb.focus()
        thumb.press(key)
        wait_idle(page, timeout=60_000)
        page.get_by_text(re.compile(rf"At x = {shown}\b")).first.wait_for(timeout=60_000)
        page.wait_for_timeout(500)  # Plotly redraws after the rerun
        subplots = curves.evaluate(DOTS_AND_CURVES)
        assert len(subplots) == 2  # f(x) and f'(x)
        for subplot in subplots:
            assert len(subplot["dots"]) == 3  # one per activation
            for dot in subplot["dots"]:
                assert subplot["left"] - 1 <= dot <= subplot["right"] + 1, (key, subplot)
                assert abs(dot - subplot[end]) <= 1, (key, subplot)  # at the curve's end
        curves.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"probe_{end}_end.png"))
    assert_no_app_error(page)
