"""The main flows in Chinese, in Chromium: Home → Activations → train a small MNIST model →
read an uploaded photo of a digit, every page reading in 简体中文 (?lang=zh)."""

import re
from pathlib import Path

from tests.support.browser import assert_no_app_error, wait_idle
from tests.support.i18n import chinese_share

FIXTURES = Path(__file__).parent / "fixtures"
PROGRESS = '[data-testid="stProgress"] [role="progressbar"]'
SHOTS = Path("/tmp/shots/zh")


def _main_text(page) -> str:
    """The main column's words, without code shown for copying and formulas (they stay as
    they are in both languages)."""
    return page.evaluate(
        """() => {
            const main = document.querySelector('[data-testid="stMain"]').cloneNode(true);
            main.querySelectorAll('[data-testid="stCode"], .katex').forEach(n => n.remove());
            return main.innerText;
        }"""
    )


def _assert_reads_in_chinese(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    share = chinese_share(_main_text(page))
    assert share > 0.8, f"{name}: only {share:.0%} of the words are Chinese"
    assert_no_app_error(page)


def _set_number(page, key: str, value: int) -> None:
    """A number input found by its widget key (Streamlit marks its box .st-key-<key>)."""
    box = page.locator(f".st-key-{key} input")
    box.fill(str(value))
    box.press("Enter")
    wait_idle(page)


def test_home_activations_train_and_read_a_digit_in_chinese(app_url, browser_page):
    page = browser_page
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(app_url + "/?lang=zh")
    wait_idle(page, timeout=180_000)
    page.get_by_text("训练循环").first.wait_for(timeout=60_000)
    _assert_reads_in_chinese(page, "home")

    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.get_by_text("激活函数", exact=True).click()  # the choice survives page changes
    wait_idle(page, timeout=180_000)
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for(timeout=120_000)
    _assert_reads_in_chinese(page, "activations")

    nav.get_by_text("MNIST 卷积神经网络", exact=True).click()
    wait_idle(page, timeout=180_000)
    page.get_by_role("tab", name="训练", exact=True).click()
    wait_idle(page, timeout=180_000)
    _set_number(page, "mnist_w_train_size", 1000)
    _set_number(page, "mnist_w_validation_size", 500)
    _set_number(page, "mnist_w_epochs", 1)
    page.locator(".st-key-mnist_train button").click()
    for _ in range(900):  # up to ~3 minutes on a busy machine
        bar = page.locator(PROGRESS)
        if bar.count() and (bar.first.get_attribute("aria-valuenow") or "0") == "100":
            break
        page.wait_for_timeout(200)
    wait_idle(page, timeout=180_000)
    _assert_reads_in_chinese(page, "mnist_trained")

    page.get_by_role("tab", name="识别我的数字", exact=True).click()
    wait_idle(page, timeout=180_000)
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.set_input_files(str(FIXTURES / "seven_photo.jpg"))
    wait_idle(page, timeout=120_000)
    reading = page.locator('[data-testid="stMetric"]').filter(has_text="我认出的是")
    reading.wait_for(timeout=120_000)
    assert re.search(r"我认出的是\s*\d", reading.inner_text())
    page.get_by_text("原图").first.wait_for(timeout=30_000)  # the stages, in Chinese
    _assert_reads_in_chinese(page, "read_my_digit")
    assert not page.errors
