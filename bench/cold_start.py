"""Cold start: `streamlit run app.py` until Home is on screen in a real browser.

Each run starts a fresh server on a free port (with an empty model cache), then
- server side: a websocket client speaking the browser's protocol (bench/load/stclient.py)
  asks for Home; "Home served" is the time from launching `streamlit run` until Home's first
  script run has finished and its elements were sent;
- in a browser (another fresh server): Chromium opens "/" and waits for Home's title. On
  this 2-core machine about 1 s of that is Chromium parsing Streamlit's JavaScript bundle,
  which a visitor's own computer does.
Also reported: whether the server process imported TensorFlow to serve Home (it must not).

Usage:
    python bench/cold_start.py [--runs 5]
Target (issue 2): Home served in <= 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench" / "load"), str(REPO)]
from stclient import Session  # noqa: E402

from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.servers import start_streamlit, stop_process, wait_healthy  # noqa: E402

TARGET_S = 3.0


def tensorflow_loaded(pid: int) -> bool:
    """Whether the server process has TensorFlow's shared library mapped."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "libtensorflow" in maps


async def _open_home(url: str) -> None:
    session = Session(url)
    await session.connect()
    try:
        run = await session.open_page("")
        if not run.ok:
            raise RuntimeError(f"Home did not render: {run.status} {run.exceptions}")
    finally:
        await session.close()


def one_run(browser) -> dict:
    """One fresh server served to the protocol client, one to Chromium; times in seconds."""
    # Playwright's sync API owns this thread's event loop: the client runs in another thread.
    with ThreadPoolExecutor(1) as pool:
        served = _launch_and(lambda url: pool.submit(asyncio.run, _open_home(url)).result())
    shown = _launch_and(lambda url: _show_home(browser, url))
    return {
        "health": shown["health"],
        "served": served["done"],
        "home": shown["done"],
        "tf": served["tf"] or shown["tf"],
    }


def _show_home(browser, url: str) -> None:
    page = browser.new_page()
    page.goto(url)
    page.get_by_text("Deep Learning Playground").first.wait_for(timeout=30_000)
    page.close()


def _launch_and(visit) -> dict:
    """Start a fresh server, wait until healthy, run `visit(url)`; timings from the launch."""
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        proc, url = start_streamlit("app.py", env={"DLCORE_CACHE_DIR": cache})
        try:
            wait_healthy(url, proc, timeout=300, poll=0.02)
            health_s = time.perf_counter() - started
            visit(url)
            done_s = time.perf_counter() - started
            return {"health": health_s, "done": done_s, "tf": tensorflow_loaded(proc.pid)}
        finally:
            stop_process(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        one_run(browser)  # warm-up: file-system caches
        runs = [one_run(browser) for _ in range(args.runs)]
        browser.close()
    print(f"runs: {len(runs)} (after one warm-up)")
    _report(runs, "server healthy", "health")
    served = _report(runs, "Home served (server side)", "served", target=True)
    _report(runs, "Home on screen in Chromium", "home")
    print(f"TensorFlow loaded by serving Home: {any(r['tf'] for r in runs)}")
    return 0 if served <= TARGET_S and not any(r["tf"] for r in runs) else 1


def _report(runs: list[dict], label: str, key: str, target: bool = False) -> float:
    """Print one figure's median, min and max (and its ratio to the target); return the median."""
    values = [r[key] for r in runs]
    median = statistics.median(values)
    verdict = f"  target <= {TARGET_S:.0f} s  ratio {median / TARGET_S:.2f}" if target else ""
    print(
        f"{label:<28}median {median:.2f} s  (min {min(values):.2f}, max {max(values):.2f}){verdict}"
    )
    return median


if __name__ == "__main__":
    raise SystemExit(main())
