"""Benchmark: live training of the house-price network, as the regression page runs it.

Two figures, each measured in fresh Python processes:
  1. Latency: from ``jobs.submit`` (the Train button) to the first live update a poller can
     draw: the first batch's progress, and the first epoch's snapshot with the fitted curve.
     Measured for the first job of a process (TensorFlow imported, as the page has done) and
     for the next job (the learner's second click). Target: curve <= 1 s.
  2. Slowdown: the default run (1-10-1, 200 epochs, 1,000 houses) through ``jobs`` with no
     poller, then with a poller doing what the page's fragment does every 0.5 s (snapshot,
     build the two Plotly figures, serialize them). Target: <= 20 % slower. ``--cleanup``
     adds a third case: the same poller plus what Streamlit does after every script run by
     default (``keras.backend.clear_session()`` and a full ``gc.collect``), which
     the app switches off (``ui/runtime.py``); it shows why.
With ``--browser``, the same two figures through a real ``streamlit run`` of the page in
headless Chromium: click Train, time until the chart shows epoch 1, and the training time
the page reports. The browser renders on the same 2 cores here, so this is pessimistic.

Usage (from the repository root):
    python bench/regression_live.py                 # latency + slowdown, 2 rounds
    python bench/regression_live.py --cleanup       # also Streamlit's default cleanup
    python bench/regression_live.py --browser       # also through a real browser
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
POLL_SECONDS = 0.5
LATENCY_TARGET_S = 1.0
SLOWDOWN_TARGET = 1.20


def _fresh_cache() -> None:
    os.environ["DLCORE_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench-reg-")


def _first_update(seed: int) -> dict:
    """Submit one job and time the first batch and the first curve seen by a 5 ms poller."""
    from dlcore import jobs
    from dlcore.configs import RegressionConfig
    from dlcore.data import make_house_prices

    data = make_house_prices(1000, seed=seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    handle = jobs.submit(RegressionConfig(seed=seed), data)
    first_batch = first_curve = None
    while first_curve is None and not handle.wait(0.005):
        snap = handle.snapshot()
        if first_batch is None and snap.batch:
            first_batch = time.perf_counter() - started
        if "curve_price" in snap.extras:
            first_curve = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # all threads: ~ the wall time on an idle machine
    handle.cancel()
    handle.wait(60)
    return {"first_batch_s": first_batch, "first_curve_s": first_curve, "cpu_s": cpu}


def child_latency(seed: int, warm: bool) -> dict:
    """First job of a process (TensorFlow imported, as by the page), then the next one.

    With warm, the page's background warm-up has finished before the click (it starts when
    the page loads, a few seconds before a learner reaches the Train button).
    """
    _fresh_cache()
    from dlcore import models, regression  # noqa: F401  (the page imports them: Keras loaded)

    if warm:
        regression.warm_up()
    return {"first_job": _first_update(seed), "next_job": _first_update(seed + 1)}


def _render_like_the_page(snap, data) -> int:
    """Build and serialize the fragment's two figures; returns the JSON size."""
    import plotly.graph_objects as go
    import plotly.io as pio

    fit = go.Figure(layout={"title": f"epoch {snap.epoch}", "height": 380})
    half = len(data) * 4 // 5
    fit.add_scatter(x=data.area[:half], y=data.price[:half], mode="markers")
    fit.add_scatter(x=data.area[half:], y=data.price[half:], mode="markers")
    if "curve_area" in snap.extras:
        fit.add_scatter(x=snap.extras["curve_area"], y=snap.extras["curve_price"])
    loss = go.Figure(layout={"title": "loss", "height": 380})
    for name in ("loss", "val_loss"):
        loss.add_scatter(y=[row.get(name) for row in snap.history], mode="lines+markers")
    return sum(len(pio.to_json(fig, validate=False)) for fig in (fit, loss))


def child_train(poll: float, cleanup: bool, seed: int) -> dict:
    """Train the default config through jobs while this thread polls like the page does."""
    _fresh_cache()
    import gc

    import keras

    from dlcore import jobs
    from dlcore.configs import RegressionConfig
    from dlcore.data import make_house_prices

    data = make_house_prices(1000)
    cpu_started = time.process_time()
    handle = jobs.submit(RegressionConfig(seed=seed), data)
    polls = 0
    while not handle.wait(poll or None):
        _render_like_the_page(handle.snapshot(), data)
        if cleanup:  # Streamlit's defaults after every script run (fragment runs included)
            keras.backend.clear_session()
            gc.collect(2)
        polls += 1
    result = handle.result()
    assert result is not None and result.status == "completed", handle.snapshot().message
    return {
        "fit_s": result.train_seconds,
        "cpu_s": time.process_time() - cpu_started,
        "polls": polls,
    }


def run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_latency(rounds: int) -> dict:
    runs = [
        {"warm-up": warm, **run_child("latency", str(10 * i), str(int(warm)))}
        for i in range(rounds)
        for warm in (False, True)
    ]
    print("\nTrain click -> first live update in the job (seconds; poller every 5 ms)")
    print(f"{'page warm-up':13} {'job':10} {'first batch':>12} {'first curve':>12} {'CPU':>6}")
    for run in runs:
        for job in ("first_job", "next_job"):
            batch, curve, cpu = (run[job][k] for k in ("first_batch_s", "first_curve_s", "cpu_s"))
            print(f"{run['warm-up']!s:13} {job:10} {batch:12.3f} {curve:12.3f} {cpu:6.3f}")
    curves = [
        run[job]["first_curve_s"]
        for run in runs
        if run["warm-up"]
        for job in ("first_job", "next_job")
    ]
    cpus = [
        run[job]["cpu_s"] for run in runs if run["warm-up"] for job in ("first_job", "next_job")
    ]
    print(f"CPU time to the first curve with the warm-up: median {statistics.median(cpus):.3f} s")
    median = statistics.median(curves)
    verdict = "meets" if median <= LATENCY_TARGET_S else "MISSES"
    print(
        f"first curve with the page's warm-up, median {median:.3f} s, worst {max(curves):.3f} s "
        f"({verdict} <= {LATENCY_TARGET_S} s)"
    )
    return {"runs": runs}


def bench_slowdown(rounds: int, cleanup: bool) -> dict:
    cases = {"no poller": (0.0, False), f"poll {POLL_SECONDS} s": (POLL_SECONDS, False)}
    if cleanup:
        cases[f"poll {POLL_SECONDS} s + Streamlit cleanup"] = (POLL_SECONDS, True)
    runs = {name: [] for name in cases}
    for i in range(rounds):  # interleaved, so drifting machine load hits every case alike
        for name, (poll, clean) in cases.items():
            runs[name].append(run_child("train", str(poll), str(int(clean)), str(i)))
    print("\nDefault run through jobs (200 epochs), median of rounds")
    print(f"{'case':34} {'fit s':>7} {'CPU s':>7} {'polls':>6} {'fit ratio':>10}")
    base = statistics.median(r["fit_s"] for r in runs["no poller"])
    for name, results in runs.items():
        fit = statistics.median(r["fit_s"] for r in results)
        cpu = statistics.median(r["cpu_s"] for r in results)
        polls = max(r["polls"] for r in results)
        print(f"{name:34} {fit:7.2f} {cpu:7.2f} {polls:6d} {fit / base:10.2f}")
    polled = statistics.median(r["fit_s"] for r in runs[f"poll {POLL_SECONDS} s"])
    verdict = "meets" if polled / base <= SLOWDOWN_TARGET else "MISSES"
    print(f"slowdown with the page polling: {polled / base:.2f}x ({verdict} <= {SLOWDOWN_TARGET}x)")
    return {"runs": runs, "ratio": polled / base}


def bench_browser() -> dict:
    """Click Train in headless Chromium; time until the chart shows an epoch; read the fit time."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, wait_idle
    from tests.support.servers import start_streamlit, stop_process, wait_healthy

    proc, url = start_streamlit(
        "pages/regression.py",
        env={"DLCORE_CACHE_DIR": tempfile.mkdtemp(prefix="bench-reg-")},
        options=["--server.fileWatcherType=none"],
    )
    try:
        wait_healthy(url, proc)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            wait_idle(page, timeout=120_000)
            page.wait_for_timeout(3000)  # a learner reads a little before pressing Train
            page.get_by_role("tab", name="4 · Train").click()
            figures = {"first_job": _browser_run(page)}
            page.get_by_role("tab", name="1 · Data").click()
            page.get_by_label("Data seed").fill("1")  # new data: a new job, not a cache hit
            page.get_by_label("Data seed").press("Enter")
            wait_idle(page)
            page.get_by_role("tab", name="4 · Train").click()
            figures["next_job"] = _browser_run(page)
            browser.close()
    finally:
        stop_process(proc, timeout=30)
    print("\nThrough the browser (Chromium on the same machine)")
    for job, fig in figures.items():
        print(
            f"{job}: first curve on screen {fig['first_curve_s']:.2f} s after the click; "
            f"fit {fig['fit_s']:.2f} s as reported by the page"
        )
    return figures


def _browser_run(page) -> dict:
    done = page.get_by_text(re.compile(r"Trained in [\d.]+ s"))
    page.get_by_role("button", name="Train").click()
    started = time.perf_counter()
    page.wait_for_selector('[data-testid="stProgress"]')  # the previous run's result is gone
    first_curve = None
    while not done.count():
        titles = page.locator(".gtitle").all_text_contents()
        if first_curve is None and any(re.search(r"after epoch [1-9]", t) for t in titles):
            first_curve = time.perf_counter() - started
        page.wait_for_timeout(20)
    message = page.get_by_text(re.compile(r"Trained in [\d.]+ s")).first.inner_text()
    return {"first_curve_s": first_curve, "fit_s": float(re.search(r"([\d.]+) s", message)[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cleanup", action="store_true")
    parser.add_argument("--browser", action="store_true")
    parser.add_argument("--skip", nargs="*", default=[], choices=("latency", "slowdown"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "latency":
            figures = child_latency(int(rest[0]), bool(int(rest[1])))
        else:
            figures = child_train(float(rest[0]), bool(int(rest[1])), int(rest[2]))
        print(json.dumps(figures))
        return
    results = {}
    if "latency" not in args.skip:
        results["latency"] = bench_latency(args.rounds)
    if "slowdown" not in args.skip:
        results["slowdown"] = bench_slowdown(args.rounds, args.cleanup)
    if args.browser:
        results["browser"] = bench_browser()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
