"""Benchmark: loading a cached MNIST result versus training it.

Trains the default MNIST config through ``dlcore.jobs`` (or reuses the cached result),
then measures:

(a) ``cache.load`` in a NEW process: the load call alone (after the interpreter and
    TensorFlow are imported) and the whole process, against the training time.
    Target: load <= 2 % of the training time.
(b) ``cache.load`` again in the SAME process (what a page rerun does). Target <= 50 ms.

Usage: ``python bench/cache_load.py [--quick] [--repeats N]``. The cache is the usual one
(set ``DLCORE_CACHE_DIR`` to an empty folder to force a fresh training), so a second run
reuses the model.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dlcore import cache, jobs  # noqa: E402
from dlcore.configs import MNIST_QUICK, MnistConfig  # noqa: E402

NEW_PROCESS_PROBE = """
import json, sys, time
started = time.perf_counter()
sys.path.insert(0, {repo!r})
import tensorflow, keras
from dlcore import cache
imported = time.perf_counter()
result = cache.load({key!r})
loaded = time.perf_counter()
assert result is not None and result.cached, "the entry did not load"
again = cache.load({key!r})
reloaded = time.perf_counter()
print(json.dumps({{"import_s": imported - started, "load_s": loaded - imported,
                  "reload_s": reloaded - loaded, "same": again is result}}))
"""


def train_or_reuse(config: MnistConfig) -> tuple[str, float, bool]:
    """Get the result through jobs; returns (key, training seconds, was it cached)."""
    handle = jobs.submit(config)
    last = -1
    while not handle.wait(1.0):
        snapshot = handle.snapshot()
        if snapshot.epoch != last:
            print(f"  training: {snapshot.message}", file=sys.stderr)
            last = snapshot.epoch
    snapshot = handle.snapshot()
    if snapshot.state != "done":
        raise SystemExit(f"training ended {snapshot.state}: {snapshot.error or snapshot.message}")
    result = handle.result()
    print(f"  test accuracy {result.metrics['test_accuracy']:.4f}, device {result.device}")
    return handle.key, result.train_seconds, snapshot.cached


def new_process_loads(key: str, repeats: int) -> list[dict]:
    """Run the probe in fresh interpreters; each reports its own timings."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", NEW_PROCESS_PROBE.format(repo=str(REPO), key=key)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        figures["process_s"] = time.perf_counter() - started
        runs.append(figures)
    return runs


def same_process_loads(key: str, repeats: int) -> tuple[float, float]:
    """(first load from disk in this warm process, median memo load), in seconds."""
    cache._forget()  # start from the disk once, as after a restart of the page's process
    started = time.perf_counter()
    first = cache.load(key)
    from_disk = time.perf_counter() - started
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        again = cache.load(key)
        timings.append(time.perf_counter() - started)
        assert again is first
    return from_disk, statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="use MNIST_QUICK (2 short epochs)")
    parser.add_argument("--repeats", type=int, default=3, help="new-process loads to time")
    args = parser.parse_args()
    config = MNIST_QUICK if args.quick else MnistConfig()
    print(f"config: {'MNIST_QUICK' if args.quick else 'MnistConfig() defaults'}: {config}")
    key, train_s, was_cached = train_or_reuse(config)
    origin = "reused from the cache" if was_cached else "trained now"
    print(f"training time (model.fit): {train_s:.2f} s ({origin}); key {key[:12]}…")
    print(f"model file: {cache.model_path(key)} ({cache.model_path(key).stat().st_size:,} B)")

    runs = new_process_loads(key, args.repeats)
    load_s = statistics.median(run["load_s"] for run in runs)
    process_s = statistics.median(run["process_s"] for run in runs)
    import_s = statistics.median(run["import_s"] for run in runs)
    print(f"(a) new process, {args.repeats} runs (medians):")
    print(f"    cache.load: {load_s * 1000:.0f} ms = {load_s / train_s:.2%} of training (<= 2%)")
    print(f"    imports (python + TensorFlow + dlcore): {import_s:.2f} s")
    print(f"    whole process: {process_s:.2f} s = {process_s / train_s:.1%} of training")
    print(f"    second load in that process: {runs[0]['reload_s'] * 1e6:.0f} µs")

    from_disk, memo_s = same_process_loads(key, repeats=200)
    print("(b) same process:")
    print(f"    load again (median of 200): {memo_s * 1e6:.1f} µs (target <= 50 ms)")
    print(f"    first load from disk in a warm process: {from_disk * 1000:.0f} ms")
    ok = load_s <= 0.02 * train_s and memo_s <= 0.05
    print("targets met" if ok else "TARGETS NOT MET")


if __name__ == "__main__":
    main()
