"""The Forward & backward page in a real browser: step through mazur, apply one update.

Screenshots at 1400×900 go to /tmp/shots/backprop/ (look at them after a change).
"""

from pathlib import Path

from tests.support.browser import assert_no_app_error, wait_idle

SHOTS = Path("/tmp/shots/backprop")
GRAPH = '[data-testid="stGraphVizChart"]'


def next_step(page) -> None:
    page.get_by_role("button", name="Next ▶").click()
    wait_idle(page, timeout=60_000)


def assert_fits_the_main_column(page, locator) -> None:
    """The element's box lies within the page's main block (nothing cut off on the right)."""
    column = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
    box = locator.bounding_box()
    assert box["width"] > 0 and box["height"] > 0
    assert box["x"] >= column["x"] - 1, (box, column)
    assert box["x"] + box["width"] <= column["x"] + column["width"] + 1, (box, column)


def test_stepping_through_the_worked_example(app_url, browser_page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(app_url + "/backprop")
    wait_idle(page, timeout=180_000)
    page.get_by_text("Loss L over the six points").first.wait_for(timeout=180_000)
    assert page.locator("h1").first.inner_text().endswith("Forward & backward")
    page.locator('[data-testid="stPlotlyChart"] .main-svg').first.wait_for(timeout=60_000)
    loss = page.locator(".katex-display", has_text="0.430811").first
    assert_fits_the_main_column(page, loss.locator(".katex-html"))
    page.screenshot(path=str(SHOTS / "1_neuron.png"))

    page.get_by_role("tab", name="2 · A network, step by step").click()
    page.locator(GRAPH).first.wait_for(timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "2_start.png"))
    for _ in range(6):  # net_h1, out_h1, net_h2, out_h2, net_o1, out_o1
        next_step(page)
    page.get_by_text("Step 6 of 27").wait_for(timeout=30_000)
    page.locator(".katex", has_text="0.75136507").first.wait_for(timeout=30_000)
    for _ in range(8):  # net_o2, out_o2, E, then back: out_o1, net_o1, out_o2, net_o2, w5
        next_step(page)
    page.get_by_text("Step 14 of 27").wait_for(timeout=30_000)
    product = page.locator(".katex-display", has_text="0.082167041").first
    product.wait_for(timeout=30_000)
    assert_fits_the_main_column(page, product.locator(".katex-html"))
    graph = page.locator(GRAPH).first
    assert graph.locator("svg").get_by_text("grad 0.082167").count() >= 1
    assert_fits_the_main_column(page, graph.locator("svg"))
    page.get_by_text("Step 14 of 27").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "3_w5.png"))
    page.get_by_role("button", name="◀ Back").click()
    page.get_by_text("Step 13 of 27").wait_for(timeout=30_000)

    page.get_by_role("tab", name="3 · Learn").click()
    page.get_by_role("button", name="Apply one update", exact=False).click()
    page.get_by_text("0.298371109 → 0.291027774", exact=False).wait_for(timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "4_update.png"))
    page.get_by_role("tab", name="4 · Back to the tutorial").click()
    page.get_by_text("GradientTape", exact=False).first.wait_for(timeout=30_000)
    page.screenshot(path=str(SHOTS / "5_tutorial.png"))
    assert_no_app_error(page)
    assert not page.errors, page.errors
