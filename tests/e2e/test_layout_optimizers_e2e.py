"""The Optimizers page's tables at 1400×900: every column inside its container, no number cut.

Before issue 12 the "Inside Adam" table showed fourteen number columns in half the page: the
numbers were cut from the left (``000148`` for 0.0000148) and columns hid off the right edge.
"""

from pathlib import Path

from tests.support.browser import assert_no_app_error, wait_idle

SHOTS = Path("/tmp/shots/optimizers-layout")
CHARTS = '[data-testid="stPlotlyChart"]'

# For the element matched by the selector: its box, the page's main column, the scrolling
# region inside it, and every header and body cell with its box and whether its text overflows.
GEOMETRY = """table => {
    const box = e => {
        const r = e.getBoundingClientRect();
        return {left: r.left, right: r.right};
    };
    const region = table.querySelector('[role="region"]') || table;
    return {
        container: box(document.querySelector('[data-testid="stMainBlockContainer"]')),
        table: box(table),
        region: {...box(region), scrollWidth: region.scrollWidth, clientWidth: region.clientWidth},
        cells: [...table.querySelectorAll('th, td')].map(cell => ({
            text: cell.innerText.trim(), ...box(cell),
            overflows: cell.scrollWidth > cell.clientWidth,
        })),
    };
}"""


def open_saddle(page, app_url: str) -> None:
    """The Optimizers page at 1400×900 with the Saddle surface raced."""
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(app_url + "/optimizers")
    wait_idle(page, timeout=180_000)
    page.locator(CHARTS).nth(2).wait_for(timeout=180_000)
    wait_idle(page)
    page.locator('[data-testid="stSelectbox"]').first.click()
    page.get_by_role("option", name="Saddle").click()
    wait_idle(page, timeout=120_000)
    page.locator('[data-testid="stTable"]').wait_for(timeout=60_000)


def assert_fits(geometry: dict) -> None:
    """The table lies inside the main column, scrolls only down, and no cell cuts its text."""
    container, table, region = geometry["container"], geometry["table"], geometry["region"]
    assert container["left"] <= table["left"] and table["right"] <= container["right"] + 0.5
    assert region["scrollWidth"] <= region["clientWidth"], region  # no column off the edge
    assert geometry["cells"]
    for cell in geometry["cells"]:
        assert region["left"] - 0.5 <= cell["left"] and cell["right"] <= region["right"] + 0.5
        assert not cell["overflows"], cell


def test_inside_adam_table_fits_its_container_for_both_coordinates(app_url, browser_page):
    page = browser_page
    SHOTS.mkdir(parents=True, exist_ok=True)
    open_saddle(page, app_url)
    table = page.locator('[data-testid="stTable"]')
    for axis in ("x", "y"):
        page.locator('[data-testid="stRadio"]').get_by_text(axis, exact=True).click()
        wait_idle(page, timeout=60_000)
        table.scroll_into_view_if_needed()
        geometry = table.evaluate(GEOMETRY)
        assert_fits(geometry)
        headers = [cell["text"] for cell in geometry["cells"][:8]]
        assert headers == ["t", "g", "m", "v", "m̂", "v̂", "α/(√v̂+ε̂)", "step"]
        page.screenshot(path=str(SHOTS / f"inside_adam_{axis}.png"))
    # The number that was shown cut as "000148": v of y at step 2, whole and readable.
    second_row = table.locator("tbody tr").nth(1).locator("th, td").all_inner_texts()
    assert second_row[0] == "2" and second_row[3] == "1.48×10⁻⁵", second_row
    assert_no_app_error(page)


def test_end_point_table_and_charts_fit_the_page(app_url, browser_page):
    page = browser_page
    SHOTS.mkdir(parents=True, exist_ok=True)
    open_saddle(page, app_url)
    main = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()
    elements = [page.locator('[data-testid="stDataFrame"]').first]
    elements += [page.locator(CHARTS).nth(i) for i in range(3)]
    for element in elements:
        element.scroll_into_view_if_needed()
        box = element.bounding_box()
        assert main["x"] <= box["x"] and box["x"] + box["width"] <= main["x"] + main["width"] + 0.5
    page.locator(CHARTS).nth(1).scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "loss_and_end_points.png"))
