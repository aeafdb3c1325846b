"""Hosting check: the server's peak memory after every page and the default MNIST model,
and cached results surviving a server restart on the same disk.

1. Start `streamlit run app.py` with an empty cache directory (DLCORE_CACHE_DIR).
2. One client session (bench/load/stclient.py, Streamlit's websocket protocol) visits every
   page the app lists, every tab of the MNIST page, trains the regression demo with its
   defaults, then trains the default MNIST model (--quick: the quick preset) from the MNIST
   page and watches it to the end, as a learner would.
3. The server's RSS (psutil, resident set of the server process) is sampled every 0.2 s
   throughout; peak and final are reported (target: peak < 1.5 GB, the Streamlit
   Community Cloud limit being about 2.7 GB shared by everything).
4. Stop the server, start a new one on the same cache directory, ask for the same model:
   it must come back from the cache without training ("Loaded from the cache", no live
   training panel) and read an uploaded digit.

Run from the repository root: ``python bench/memory.py [--quick] [--app-dir DIR]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench" / "load"), str(REPO)]

from run import Server  # noqa: E402
from scenarios import digit_photos  # noqa: E402
from stclient import Session  # noqa: E402

TARGET_MB = 1536
MNIST_TABS = ("Explore", "Train", "Evaluate", "Look inside", "Read my digit")


class PeakRss:
    """Samples a server's RSS in a thread until stopped; keeps the peak and a timeline."""

    def __init__(self, server: Server, every: float = 0.2):
        self.server, self.every = server, every
        self.peak_mb, self.samples = 0.0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._start = time.monotonic()

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                mb = self.server.rss_mb()
            except Exception:  # the process ended
                return
            self.peak_mb = max(self.peak_mb, mb)
            self.samples.append((round(time.monotonic() - self._start, 1), round(mb, 1)))
            self._stop.wait(self.every)

    def mark(self, label: str) -> None:
        mb = self.server.rss_mb()
        print(f"  {time.monotonic() - self._start:6.1f} s  RSS {mb:6.0f} MB  after {label}")


async def visit_everything(url: str, rss: PeakRss, quick: bool) -> dict:
    """Every listed page and MNIST tab, a regression training, then the MNIST training."""
    session = Session(url, timeout=600)
    await session.connect()
    try:
        home = await session.open_page("")
        rss.mark("Home")
        pages = [p for p in _listed_pages(session) if p]
        for page in pages:
            run = await session.open_page(page)
            _check(run, page)
            rss.mark(page)
        await session.open_page("regression")
        _check(await session.click("reg_train"), "regression train")
        await session.follow(limit=600)
        rss.mark("regression training")
        await session.open_page("mnist")
        for tab in MNIST_TABS:
            _check(await session.set("mnist_tab", tab), f"MNIST tab {tab}")
            rss.mark(f"MNIST tab {tab}")
        started = time.monotonic()
        await session.set("mnist_tab", "Train")
        button = "mnist_preset_quick" if quick else "mnist_preset_default"
        await session.click(button)
        run = await session.click("mnist_train")
        final = await session.follow(limit=1800) or run
        _check(final, "MNIST training")
        seconds = time.monotonic() - started
        rss.mark("MNIST training")
        prediction = await _predict(session)
        rss.mark("a digit prediction")
        return {
            "pages": ["", *pages],
            "home_elements": home.elements,
            "mnist_training_seconds": round(seconds, 1),
            "mnist_outcome": [t for t in final.texts if t.startswith(("Trained in", "Test acc"))],
            "prediction": prediction,
        }
    finally:
        await session.close()


def _listed_pages(session: Session) -> list[str]:
    return list(session.pages)


def _check(run, what: str) -> None:
    if run.exceptions or not run.ok:
        raise SystemExit(f"{what} failed: {run.status} {run.exceptions}")


async def _predict(session: Session) -> list[str]:
    """Open Read-my-digit, upload a digit photo, return the lines that show the reading."""
    await session.set("mnist_tab", "Read my digit")
    run = await session.upload("mnist_upload", "digit.png", digit_photos(1)[0], "image/png")
    _check(run, "prediction")
    return [t for t in run.texts if t.startswith("I read") or "no trained model" in t]


async def after_restart(url: str, quick: bool) -> dict:
    """On a fresh server: the same model comes back from the cache, without training."""
    session = Session(url, timeout=600)
    await session.connect()
    try:
        await session.open_page("mnist")
        await session.set("mnist_tab", "Train")
        button = "mnist_preset_quick" if quick else "mnist_preset_default"
        await session.click(button)
        started = time.monotonic()
        run = await session.click("mnist_train")
        seconds = time.monotonic() - started
        trained_live = bool(session.auto_reruns)
        await session.follow(limit=1800)
        prediction = await _predict(session)
        return {
            "seconds_to_result": round(seconds, 2),
            "trained_again": trained_live,
            "shown": [t for t in run.texts if "cache" in t or "Trained" in t][:3],
            "prediction": prediction,
        }
    finally:
        await session.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app-dir", type=Path, default=REPO)
    parser.add_argument("--quick", action="store_true", help="train the quick preset instead")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="dlcore-memory-"))
    cache_dir = workdir / "cache"
    print(f"cache {cache_dir}; server log {workdir / 'server.log'}")

    server = Server.start(args.app_dir, cache_dir, workdir / "server.log")
    try:
        with PeakRss(server) as rss:
            rss.mark("server start")
            visit = asyncio.run(visit_everything(server.url, rss, args.quick))
        peak, final = rss.peak_mb, server.rss_mb()
    finally:
        server.stop()
    print(f"peak RSS {peak:.0f} MB, final {final:.0f} MB (target < {TARGET_MB} MB)")
    print(
        f"MNIST training from the page: {visit['mnist_training_seconds']} s; "
        f"{visit['mnist_outcome']}"
    )
    print(f"prediction: {visit['prediction']}")

    restarted = Server.start(args.app_dir, cache_dir, workdir / "server-2.log")
    try:
        again = asyncio.run(after_restart(restarted.url, args.quick))
    finally:
        restarted.stop()
    survived = not again["trained_again"] and bool(again["prediction"])
    print(f"after a restart: {again}")
    print(f"cached result survived the restart: {survived}")

    figures = {"peak_rss_mb": round(peak, 1), "final_rss_mb": round(final, 1), **visit}
    figures.update({"restart": again, "survived_restart": survived, "rss": rss.samples})
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0 if peak < TARGET_MB and survived else 1


if __name__ == "__main__":
    sys.exit(main())
