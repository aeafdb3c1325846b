"""Through HAProxy, in Chromium: a learner trains the quick MNIST preset on a Celery worker
(live progress and curves on the page), then uploads a photo of a digit and reads it on
the replica that holds the session (cookie stickiness)."""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError

from dlcore import job_board
from tests.support.browser import CHROMIUM, assert_no_app_error, wait_idle

FIXTURES = Path(__file__).parents[1] / "e2e" / "fixtures"
PROGRESS = '[data-testid="stProgress"] [role="progressbar"]'
SHOTS = Path("/tmp/shots/scaleout")
STICKY_COOKIE = "DLCORE_REPLICA"


@pytest.fixture
def page(topology, request):
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    context = request.getfixturevalue("_browser").new_context(
        viewport={"width": 1400, "height": 900}
    )
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    context.close()


def _follow_training(page) -> tuple[list[float], bool]:
    """Progress values seen until 100 %, and whether a live chart showed meanwhile (a
    screenshot of it past 30 %)."""
    seen, charted = [], False
    for _ in range(1200):  # up to ~4 minutes on a busy machine
        bar = page.locator(PROGRESS)
        if bar.count():
            value = bar.first.get_attribute("aria-valuenow")
            if value is not None and (not seen or float(value) != seen[-1]):
                seen.append(float(value))
            chart = page.locator('[data-testid="stPlotlyChart"]')
            if not charted and chart.count() and seen and seen[-1] >= 30:
                charted = True
                # Each poll redraws the chart: one detached while scrolling is no failure.
                with contextlib.suppress(PlaywrightError):
                    chart.first.scroll_into_view_if_needed(timeout=5_000)
                page.screenshot(path=str(SHOTS / "training_on_worker.png"))
        if page.get_by_text("and saved in the cache").count():  # the outcome, once trained
            break
        page.wait_for_timeout(200)
    return seen, charted


def _trained_jobs(monkeypatch, topology) -> list[dict]:
    monkeypatch.setenv("DLCORE_BROKER_URL", topology.broker_url)
    redis = job_board.client()
    names = redis.scan_iter(f"{job_board.PREFIX}job:*", _type="HASH")
    found = [redis.hgetall(name) for name in names]
    return [job for job in found if json.loads(job["config"])["kind"] == "mnist"]


def test_train_quick_mnist_on_a_worker_then_read_a_digit_through_the_proxy(
    page, topology, monkeypatch
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(topology.url)
    wait_idle(page, timeout=180_000)
    page.goto(topology.url + "/mnist")
    wait_idle(page, timeout=180_000)
    page.get_by_role("tab", name="Train", exact=True).click()
    wait_idle(page)
    page.locator(".st-key-mnist_preset_quick button").first.click()
    wait_idle(page)
    page.get_by_role("button", name="▶ Train").click()
    page.locator(PROGRESS).first.wait_for(timeout=120_000)
    seen, charted = _follow_training(page)
    assert seen and charted, f"no live progress with curves: {seen}"
    page.get_by_text("Test accuracy").first.wait_for(timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(SHOTS / "trained_on_worker.png"), full_page=True)
    assert_no_app_error(page)
    mnist = _trained_jobs(monkeypatch, topology)
    assert [job["state"] for job in mnist] == ["done"]
    assert mnist[0]["worker"] in ("w1@127.0.0.1", "w2@127.0.0.1")  # not a replica

    page.get_by_role("tab", name="Read my digit", exact=True).click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        str(FIXTURES / "seven_photo.jpg")
    )
    wait_idle(page, timeout=120_000)
    reading = page.locator('[data-testid="stMetric"]').filter(has_text="I read")
    reading.wait_for(timeout=60_000)
    assert re.search(r"I read\s*[0-9]", reading.inner_text())
    page.screenshot(path=str(SHOTS / "digit_through_proxy.png"), full_page=True)
    assert_no_app_error(page)
    replica = {c["name"]: c["value"] for c in page.context.cookies()}.get(STICKY_COOKIE)
    assert replica in ("app1", "app2")  # the upload went to the replica holding the session
    assert not page.errors
