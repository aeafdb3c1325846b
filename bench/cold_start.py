"""Cold start: `streamlit run app.py` until Home is on screen in a real browser.

Each run starts a fresh server on a free port (with an empty model cache), then Chromium
opens "/" and waits for Home's title. Reported per run: the time until the server answers
its health check, and until Home's title is rendered (the figure a visitor feels), plus
whether the server process imported TensorFlow to serve Home (it must not).

Usage:
    python bench/cold_start.py [--runs 5]
Target (issue 2): Home served in <= 3 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
]
TARGET_S = 3.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def tensorflow_loaded(pid: int) -> bool:
    """Whether the server process has TensorFlow's shared library mapped."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "libtensorflow" in maps


def one_run(browser) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "DLCORE_CACHE_DIR": cache}
        cmd = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless=true",
            f"--server.port={port}",
            "--server.address=127.0.0.1",
        ]
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            while not healthy(url):
                time.sleep(0.02)
            health_s = time.perf_counter() - started
            page = browser.new_page()
            page.goto(url)
            page.get_by_text("Deep Learning Playground").first.wait_for(timeout=30_000)
            home_s = time.perf_counter() - started
            page.close()
            return {"health": health_s, "home": home_s, "tf": tensorflow_loaded(proc.pid)}
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        one_run(browser)  # warm-up: file-system caches
        runs = [one_run(browser) for _ in range(args.runs)]
        browser.close()
    health = statistics.median(r["health"] for r in runs)
    home = statistics.median(r["home"] for r in runs)
    print(f"runs: {len(runs)} (after one warm-up)")
    print(f"server healthy:   median {health:.2f} s  (min {min(r['health'] for r in runs):.2f})")
    print(
        f"Home on screen:   median {home:.2f} s  (min {min(r['home'] for r in runs):.2f}, "
        f"max {max(r['home'] for r in runs):.2f})  target <= {TARGET_S:.0f} s  "
        f"ratio {home / TARGET_S:.2f}"
    )
    print(f"TensorFlow loaded by serving Home: {any(r['tf'] for r in runs)}")
    return 0 if home <= TARGET_S and not any(r["tf"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
