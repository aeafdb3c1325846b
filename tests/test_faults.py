"""Crashes and failures a classroom server meets, at the process level.

- A server process SIGKILLed in the middle of training, or in the middle of writing its
  result to the cache: after a restart nothing loads half-written, ``cache list`` is
  consistent, and training the same model again works (tests/test_cache.py covers a
  writer that kills itself inside ``cache.save``; here the kill comes from outside, to a
  process running the whole command-line path jobs -> training -> cache).
- A full disk during the cache write: the learner still gets the trained model with a
  clear message, and earlier entries stay intact. No room even for the key's lock file
  (no free inodes, a read-only cache): the job still trains and hands the model back.
- A FIFO planted in the cache: ``cache list`` answers instead of hanging (the other
  tampering is in tests/test_cache_tampering.py).
- A job that diverges (NaN) or runs out of memory half-way ends in a visible state, frees
  its slot, and the next job runs (failures at the start are covered in tests/test_jobs.py).
"""

from __future__ import annotations

import errno
import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from dlcore import cache, jobs
from dlcore.configs import RegressionConfig
from dlcore.data import make_house_prices

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["train", "regression", "--epochs", "60", "--limit", "300", "--json"]
WAIT = 180  # seconds; TensorFlow's import alone takes 5-10 s on a busy 2-core machine

# Runs the command line with cache writes paused after the model file is on disk, so that
# the process can be killed from outside in the middle of the write.
PAUSED_WRITER = textwrap.dedent(
    """
    import sys, time
    from dlcore import cache
    from dlcore.__main__ import main

    original = cache._write_file
    def paused(path, payload):
        if path.name == "metrics.json":
            print("WRITING-CACHE-ENTRY", file=sys.stderr, flush=True)
            time.sleep(600)
        original(path, payload)
    cache._write_file = paused
    sys.exit(main(sys.argv[1:]))
    """
)


def _env(cache_dir: Path) -> dict[str, str]:
    return {**os.environ, "DLCORE_CACHE_DIR": str(cache_dir), "PYTHONPATH": str(REPO)}


def _kill_when(command: list[str], cache_dir: Path, pattern: str) -> subprocess.Popen:
    """Start command, SIGKILL it as soon as a stderr line matches pattern; returns it."""
    proc = subprocess.Popen(
        command, cwd=REPO, env=_env(cache_dir), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for raw in proc.stderr:
            lines.put(raw.decode(errors="replace"))
        lines.put("")  # end of stream

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    seen, deadline = [], time.monotonic() + WAIT
    try:
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            seen.append(line)
            if re.search(pattern, line):
                proc.send_signal(signal.SIGKILL)
                break
            assert line, f"exited before {pattern!r}: {''.join(seen)[-2000:]}"
    finally:
        if proc.poll() is None:
            proc.kill()  # never leave it running, whatever happened above
        proc.wait(WAIT)
        reader.join(WAIT)  # the pipe ends with the process
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return proc


def _cli(cache_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlcore", *args],
        cwd=REPO,
        env=_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


def _listing(cache_dir: Path) -> list[dict]:
    listed = _cli(cache_dir, "cache", "list", "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    return json.loads(listed.stdout)


def _retrain_and_check(cache_dir: Path) -> None:
    """Training the same model after the crash works, and the entry is whole on disk."""
    rerun = _cli(cache_dir, *TRAIN)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    report = json.loads(rerun.stdout)
    assert (report["state"], report["cached"]) == ("done", False)
    assert [entry["key"] for entry in _listing(cache_dir)] == [report["key"]]
    assert list(cache_dir.glob(".tmp-*")) == []  # the dead writer's debris is gone
    cache._forget()
    loaded = cache.load(report["key"])  # verified checksums, safe_mode
    assert loaded is not None and loaded.metrics["test_r2"] == report["test_r2"]


def test_server_killed_while_training_then_while_writing_the_cache(cache_dir):
    """Two crashes in a row on the same model, then a restart that trains it once."""
    _kill_when([sys.executable, "-m", "dlcore", *TRAIN], cache_dir, r"epoch \d+/60")
    assert _listing(cache_dir) == []
    assert cache.count_entries() == 0

    _kill_when([sys.executable, "-c", PAUSED_WRITER, *TRAIN], cache_dir, "WRITING-CACHE-ENTRY")
    debris = list(cache_dir.glob(".tmp-*"))
    assert debris and (debris[0] / "model.keras").exists()  # it died half-way
    assert _listing(cache_dir) == []
    cache._forget()
    assert cache.load(debris[0].name[len(".tmp-") :][:64]) is None

    _retrain_and_check(cache_dir)


def test_full_disk_still_gives_the_trained_model_with_a_clear_message(
    cache_dir, monkeypatch, capsys
):
    from dlcore.__main__ import main
    from tests.support.results import FINGERPRINT, make_result

    earlier = make_result(seed=1)
    earlier_key = cache.key_for(earlier.config, FINGERPRINT)
    cache.save(earlier_key, earlier, data_fingerprint=FINGERPRINT)

    def disk_full(path, payload):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with monkeypatch.context() as patch:
        patch.setattr(cache, "_write_file", disk_full)
        status = main(["train", "regression", "--epochs", "2", "--limit", "60", "--seed", "3"])
    shown = capsys.readouterr().out

    assert status == 0
    assert "House prices: test MSE" in shown  # the learner gets the result of training
    assert "could not be cached" in shown and "No space left on device" in shown
    assert "Free some disk space" in shown
    assert [info.key for info in cache.list_entries()] == [earlier_key]
    assert list(cache_dir.glob(".tmp-*")) == []
    cache._forget()
    assert cache.load(earlier_key) is not None


def test_no_room_for_a_lock_file_still_gives_the_trained_model(cache_dir, monkeypatch):
    """Reported: with no free inodes, training failed before it started."""
    from tests.support.results import make_result

    def no_free_inodes(key):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"{key}.lock")

    def healthy(config, data, *, progress, stop_event):
        return make_result(config.seed)

    monkeypatch.setattr(cache, "_open_lock_file", no_free_inodes)
    handle = jobs.submit(RegressionConfig(epochs=2, seed=13), trainer=healthy)
    assert handle.wait(WAIT)

    snapshot = handle.snapshot()
    assert (snapshot.state, snapshot.cached) == ("done", False)
    assert "could not be cached" in snapshot.warning
    assert "No space left on device" in snapshot.warning
    assert handle.result().model is not None and handle.result().metrics["test_r2"] == 0.875
    assert cache.count_entries() == 0


def test_cache_list_answers_with_a_fifo_planted_in_an_entry(cache_dir):
    from tests.support.results import FINGERPRINT, make_result

    result = make_result()
    key = cache.key_for(result.config, FINGERPRINT)
    cache.save(key, result, data_fingerprint=FINGERPRINT)
    meta = cache.entry_path(key) / "meta.json"
    meta.unlink()
    os.mkfifo(meta)
    assert [(entry["key"], entry["kind"]) for entry in _listing(cache_dir)] == [(key, "corrupt")]


def test_a_diverging_job_is_shown_not_cached_and_the_next_job_runs(cache_dir, monkeypatch):
    monkeypatch.setenv("DLCORE_MAX_JOBS", "1")
    houses = make_house_prices(n_samples=60, seed=2)
    exploding = RegressionConfig(optimizer="sgd", learning_rate=5.0, epochs=50, batch_size=16)
    following = RegressionConfig(epochs=2, batch_size=16)

    diverged = jobs.submit(exploding, houses)
    after = jobs.submit(following, houses)
    assert diverged.wait(WAIT) and after.wait(WAIT)

    snapshot = diverged.snapshot()
    assert snapshot.state == "diverged" and snapshot.finished
    assert "learning rate" in snapshot.message  # tells the learner what to change
    assert all(math.isnan(v) for v in diverged.result().metrics.values())
    assert after.snapshot().state == "done"
    assert [info.key for info in cache.list_entries()] == [after.key]  # NaN model not kept


def test_out_of_memory_half_way_frees_the_slot(cache_dir, monkeypatch):
    from tests.support.results import make_result

    monkeypatch.setenv("DLCORE_MAX_JOBS", "1")

    def runs_out_of_memory(config, data, *, progress, stop_event):
        progress.on_train_begin(config.epochs, 4)
        progress.on_batch_end(0, 0, {"loss": 1.0})
        progress.on_epoch_end(0, {"loss": 0.5}, {})
        raise MemoryError

    def healthy(config, data, *, progress, stop_event):
        return make_result(config.seed)

    broken = jobs.submit(RegressionConfig(epochs=2, seed=11), trainer=runs_out_of_memory)
    queued = jobs.submit(RegressionConfig(epochs=2, seed=12), trainer=healthy)
    assert broken.wait(WAIT) and queued.wait(WAIT)

    snapshot = broken.snapshot()
    assert snapshot.state == "failed" and "out of memory" in snapshot.error
    assert snapshot.epoch == 1 and len(snapshot.history) == 1  # progress so far stays visible
    assert queued.snapshot().state == "done"
    with jobs._cond:
        assert jobs._running == 0 and jobs._waiting == []
