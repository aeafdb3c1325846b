"""The Celery backend against real services: jobs shared across processes, progress, stops,
a killed worker, and Redis going away and coming back.

Trainings are tiny regressions on a few hundred synthetic houses (seeded); each test uses
its own seed, so the tests share one topology in any order.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dlcore import cache, i18n, job_board, jobs
from dlcore.configs import RegressionConfig
from dlcore.data import make_house_prices
from dlcore.errors import TrainingServiceUnavailable
from dlcore.job_common import BATCH_LOG_LIMIT
from tests.app.conftest import page_test
from tests.scaleout.conftest import REPO

WAIT = 120  # seconds; two workers and two replicas share two cores here
HOUSES = make_house_prices(n_samples=300, seed=4)


def _long(seed: int) -> RegressionConfig:
    """About 5,700 batches: several seconds of training, long enough to act while it runs."""
    return RegressionConfig(epochs=150, batch_size=8, seed=seed)


def _wait_for(predicate, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
    return found


def _training_pid(key: str) -> int:
    return int(job_board.client().hget(f"{job_board.PREFIX}job:{key}", "pid"))


# Another process asking for the same training as the command line, without importing
# TensorFlow (it reads the registry, not the model): what a second replica does.
FOLLOWER = """
import json
from dlcore import jobs
from dlcore.configs import RegressionConfig
from dlcore.data import make_house_prices
handle = jobs.submit(RegressionConfig(epochs=40, seed=11), make_house_prices(n_samples=300))
handle.wait()
snapshot = handle.snapshot()
print(json.dumps({"key": handle.key, "state": snapshot.state, "worker": snapshot.worker,
                  "message": snapshot.message, "cached": snapshot.cached}))
"""


def test_two_processes_asking_for_the_same_training_get_one(client):
    command = [sys.executable, "-m", "dlcore", "train", "regression", "--epochs", "40"]
    command += ["--limit", "300", "--seed", "11", "--json"]
    runs = [
        subprocess.Popen(args, cwd=REPO, env=client.env(), stdout=subprocess.PIPE, text=True)
        for args in (command, [sys.executable, "-c", FOLLOWER])
    ]
    cli, follower = (json.loads(run.communicate(timeout=WAIT)[0]) for run in runs)

    assert [run.returncode for run in runs] == [0, 0]
    assert cli["key"] == follower["key"] and cli["backend"] == "celery"
    assert cli["state"] == follower["state"] == "done"
    # One training: both saw the same run end ("Trained in 2.4 s ...") on the same worker.
    assert cli["message"] == follower["message"] and cli["message"].startswith("Trained in")
    assert cli["worker"] == follower["worker"] and cli["worker"].startswith("w")
    assert not cli["cached"] and not follower["cached"]
    assert [entry.key for entry in cache.list_entries()].count(cli["key"]) == 1
    again = jobs.submit(RegressionConfig(epochs=40, seed=11), make_house_prices(n_samples=300))
    snapshot = again.snapshot()
    assert snapshot.cached and snapshot.state == "done"


def test_progress_advances_and_the_only_owner_stops_it_after_the_current_batch(client):
    handle = jobs.submit(_long(seed=21), HOUSES, owner="alice")
    seen = []
    while len(seen) < 4:
        snapshot = handle.snapshot()
        assert not snapshot.finished, snapshot.message
        if snapshot.batch_losses and (not seen or snapshot.fraction > seen[-1].fraction):
            seen.append(snapshot)
        time.sleep(0.1)
    fractions = [s.fraction for s in seen]
    assert fractions == sorted(fractions) and 0 < fractions[0] < fractions[-1] < 1
    last = seen[-1]
    assert last.state == "running" and last.worker is not None and last.owners == 1
    assert last.batch_losses[-1]["epoch"] == last.epoch  # per-batch logs for the live chart
    assert last.samples_per_second
    _wait_for(lambda: handle.snapshot().eta is not None)  # once the rate has been timed 2 s
    _wait_for(lambda: handle.snapshot().epoch * last.batches_per_epoch > 2 * BATCH_LOG_LIMIT)
    rows = handle.snapshot().batch_losses  # the whole run so far, evenly thinned
    assert len(rows) <= BATCH_LOG_LIMIT and (rows[0]["epoch"], rows[0]["batch"]) == (1, 1)

    asked = time.monotonic()
    handle.cancel()
    assert handle.wait(WAIT)
    stopped = handle.snapshot()
    assert stopped.state == "stopped" and "kept the best epoch" in stopped.message
    with i18n.using("zh"):  # the worker stored the message's id: each reader reads their own
        assert "保留了最好的一轮" in handle.snapshot().message
    assert stopped.epoch < 150 and time.monotonic() - asked < 10
    assert cache.load(handle.key) is None  # a stopped run is never cached, but it is usable:
    kept = handle.result()  # packed by its worker, carried through Redis, verified here
    assert kept.status == "stopped" and kept.epochs_run == stopped.epoch
    assert kept.model.predict(np.array([[0.5]], dtype=np.float32), verbose=0).shape == (1, 1)


def test_an_owner_leaving_a_shared_job_does_not_stop_it(client):
    config = RegressionConfig(epochs=60, batch_size=16, seed=31)
    alice = jobs.submit(config, HOUSES, owner="alice")
    bob = jobs.submit(config, HOUSES, owner="bob")
    assert alice.key == bob.key and bob.snapshot().owners == 2
    _wait_for(lambda: alice.snapshot().epoch >= 1)

    alice.cancel()
    assert bob.snapshot().owners == 1 and bob.snapshot().state == "running"
    assert bob.wait(WAIT)
    assert bob.snapshot().state == "done" and cache.load(bob.key) is not None
    with i18n.using("zh"):
        assert bob.snapshot().message.startswith("训练用时 ")
    assert not bob.result().cached  # trained for bob (read back from the shared cache)


def test_a_killed_worker_s_job_is_redelivered_and_finishes(client):
    handle = jobs.submit(_long(seed=41), HOUSES, owner="carol")
    _wait_for(lambda: handle.snapshot().epoch >= 2)
    killed = _training_pid(handle.key)
    os.kill(killed, signal.SIGKILL)

    _wait_for(lambda: _training_pid(handle.key) != killed)  # started again elsewhere
    assert handle.wait(WAIT)
    done = handle.snapshot()
    assert done.state == "done" and done.epoch == 150, done.message
    assert cache.load(handle.key).epochs_run == 150
    leftovers = [p.name for p in cache.cache_location().iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []  # the killed training wrote no half entry


def test_redis_down_then_back(client):
    trained = jobs.submit(RegressionConfig(epochs=5, seed=51), HOUSES)
    assert trained.wait(WAIT) and trained.snapshot().state == "done"
    entries = {entry.key for entry in cache.list_entries()}
    client.stop_service("redis")
    try:
        cache._forget()
        again = jobs.submit(RegressionConfig(epochs=5, seed=51), HOUSES)  # cached: still loads
        assert again.snapshot().cached and again.result() is not None
        with pytest.raises(TrainingServiceUnavailable, match="training service is unavailable"):
            jobs.submit(RegressionConfig(epochs=5, seed=52), HOUSES)
        page = _regression_page_pressing_train(seed=52)
        assert any("training service is unavailable" in w.value for w in page.warning)
    finally:
        client.start_redis()
    assert {entry.key for entry in cache.list_entries()} >= entries
    recovered = jobs.submit(RegressionConfig(epochs=5, seed=52), HOUSES)
    assert recovered.wait(WAIT) and recovered.snapshot().state == "done"
    page = _regression_page_pressing_train(seed=53)
    assert not any("unavailable" in w.value for w in page.warning)
    assert page.session_state["reg_job"]["key"]


def _regression_page_pressing_train(seed: int):
    page = page_test("pages/regression.py")
    page.run()
    for key, value in {"reg_n": 100, "reg_epochs": 3, "reg_seed": seed}.items():
        page.session_state[key] = value
    page.button(key="reg_train").click()
    page.run()
    assert not page.exception, [e.value for e in page.exception]
    return page
