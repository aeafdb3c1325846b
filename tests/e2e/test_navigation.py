"""Open Home in a real browser and visit every page the navigation lists."""

from playwright.sync_api import expect

from pages._catalog import listed_lessons
from tests.e2e.conftest import assert_no_app_error, wait_idle


def test_home_then_every_listed_page(app_url, browser_page):
    browser_page.goto(app_url)
    wait_idle(browser_page)
    assert browser_page.get_by_text("Deep Learning Playground").first.is_visible()
    assert_no_app_error(browser_page)
    browser_page.screenshot(path="/tmp/e2e_home.png", full_page=True)

    nav = browser_page.locator('[data-testid="stSidebarNav"]')
    for lesson in listed_lessons():
        nav.get_by_text(lesson.title, exact=True).click()
        wait_idle(browser_page, timeout=120_000)
        assert_no_app_error(browser_page)
        assert browser_page.locator("h1").first.is_visible(), lesson.title
    assert not browser_page.errors


def test_home_loop_step_links_to_its_lesson(app_url, browser_page):
    browser_page.goto(app_url)
    wait_idle(browser_page)
    group = browser_page.locator('[data-testid="stButtonGroup"]')
    group.get_by_text("Loss", exact=True).click()
    wait_idle(browser_page)
    expect(browser_page.get_by_text("A single number that says how wrong")).to_be_visible()
    assert_no_app_error(browser_page)
