"""Open Home in a real browser and visit every page the navigation lists."""

from playwright.sync_api import expect

from tests.support.browser import assert_no_app_error, wait_idle
from tests.support.servers import running_app
from ui.catalog import listed_lessons


def test_home_then_every_listed_page(app_url, browser_page):
    browser_page.goto(app_url)
    wait_idle(browser_page)
    expect(browser_page.get_by_text("Deep Learning Playground").first).to_be_visible()
    assert_no_app_error(browser_page)
    browser_page.screenshot(path="/tmp/e2e_home.png", full_page=True)

    nav = browser_page.locator('[data-testid="stSidebarNav"]')
    for lesson in listed_lessons():
        nav.get_by_text(lesson.title, exact=True).click()
        wait_idle(browser_page, timeout=120_000)
        assert_no_app_error(browser_page)
        expect(browser_page.locator("h1").first, lesson.title).to_be_visible()
    assert not browser_page.errors


def test_home_loop_step_links_to_its_lesson(app_url, browser_page):
    browser_page.goto(app_url)
    wait_idle(browser_page)
    group = browser_page.locator('.st-key-home_step [data-testid="stButtonGroup"]')
    group.get_by_text("Loss", exact=True).click()
    wait_idle(browser_page)
    expect(browser_page.get_by_text("A single number that says how wrong")).to_be_visible()
    assert_no_app_error(browser_page)


def test_a_deep_link_as_a_fresh_servers_first_request_keeps_the_apps_navigation(
    tmp_path, browser_page
):
    """Streamlit's legacy pages/ mode must not take over when the first visitor follows a link."""
    with running_app(tmp_path / "cache", tmp_path / "server.log") as url:
        browser_page.goto(url + "/losses")
        wait_idle(browser_page, timeout=120_000)
        nav = browser_page.locator('[data-testid="stSidebarNav"]')
        expect(nav.get_by_text("Home", exact=True)).to_be_visible(timeout=90_000)
        expect(browser_page.locator("h1").first).to_contain_text("Loss", timeout=90_000)
        assert "_catalog" not in nav.inner_text()
        assert_no_app_error(browser_page)
        # A second visitor also gets the app's navigation.
        browser_page.goto(url + "/")
        wait_idle(browser_page)
        assert "runtime" not in nav.inner_text()
        expect(nav.get_by_text("Losses", exact=True)).to_be_visible()
