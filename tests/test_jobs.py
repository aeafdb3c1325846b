"""Background jobs: cache hits, joining, the FIFO queue, cancellation, failures."""

from __future__ import annotations

import math
import threading
import time

import pytest

from dlcore import cache, jobs, training
from dlcore.configs import RegressionConfig
from dlcore.data import make_house_prices
from dlcore.errors import CacheError, InvalidDataset, QueueFull, TrainingTooLarge
from dlcore.job_common import BATCH_LOG_LIMIT, ETA_MIN_BATCHES
from tests.support.results import make_result

BATCHES = 4
WAIT = 30  # seconds; generous for a loaded 2-core machine


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Own cache directory, one training slot, an empty memo; jobs must not outlive a test."""
    monkeypatch.setenv("DLCORE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DLCORE_MAX_JOBS", "1")
    cache._forget()
    yield
    with jobs._cond:
        live = [job for job in jobs._registry.values() if not job.done_event.is_set()]
    with jobs._cond:
        for job in live:
            for owner in list(job.owners):
                jobs._withdraw(job, owner)
    for job in live:
        job.done_event.wait(WAIT)
    cache._forget()


class FakeTrainer:
    """Stands in for training.train: reports progress and waits on a gate per batch.

    Records the seed of each config it trains, in call order. While ``gate`` is clear
    each batch waits (checking the stop event) so a test can look at a running job.
    """

    def __init__(self, *, blocked: bool = False, fail_with: BaseException | None = None):
        self.gate = threading.Event()
        if not blocked:
            self.gate.set()
        self.fail_with = fail_with
        self.calls: list[int] = []
        self.running = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, config, data, *, progress, stop_event):
        with self._lock:
            self.calls.append(config.seed)
        self.running.set()
        if self.fail_with is not None:
            raise self.fail_with
        progress.on_train_begin(config.epochs, BATCHES)
        for epoch in range(config.epochs):
            for batch in range(BATCHES):
                while not self.gate.wait(0.01):
                    if stop_event.is_set():
                        return make_result(config.seed, status="stopped")
                progress.on_batch_end(epoch, batch, {"loss": 1.0 / (batch + 1)})
            progress.on_epoch_end(epoch, {"loss": 0.5, "val_loss": 0.6}, {"epoch": epoch})
        return make_result(config.seed)


def wait_until(predicate, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def config(seed: int = 0) -> RegressionConfig:
    return RegressionConfig(epochs=2, seed=seed)


def test_hit_after_miss():
    trainer = FakeTrainer()
    first = jobs.submit(config(), trainer=trainer)
    assert first.wait(WAIT)
    done = first.snapshot()
    assert (done.state, done.cached, done.fraction) == ("done", False, 1.0)
    assert "saved in the cache" in done.message
    assert done.warning is None

    second = jobs.submit(config(), trainer=trainer)
    snapshot = second.snapshot()  # taken at once: a hit is done on submit (trained once: below)
    assert (snapshot.state, snapshot.cached) == ("done", True)
    assert second.result().metrics == first.result().metrics
    assert len(snapshot.history) == 2 and snapshot.history[0]["loss"] == 1.5
    assert trainer.calls == [0]


def test_same_key_from_two_threads_trains_once():
    trainer = FakeTrainer(blocked=True)
    barrier = threading.Barrier(2)
    handles = []

    def submit():
        barrier.wait()
        handles.append(jobs.submit(config(), trainer=trainer))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    trainer.gate.set()
    assert all(handle.wait(WAIT) for handle in handles)
    assert trainer.calls == [0]
    assert handles[0].result() is handles[1].result()
    assert jobs.get(handles[0].key).snapshot().state == "done"


def test_queue_is_first_come_first_served_with_positions():
    trainer = FakeTrainer(blocked=True)
    first, second, third = (jobs.submit(config(seed), trainer=trainer) for seed in (1, 2, 3))
    wait_until(trainer.running.is_set)

    assert first.snapshot().state == "running" and first.snapshot().queue_position == 0
    assert [h.snapshot().queue_position for h in (second, third)] == [1, 2]
    assert second.snapshot().state == "queued"
    assert "position 2" in third.snapshot().message

    trainer.gate.set()
    assert third.wait(WAIT)
    assert trainer.calls == [1, 2, 3]
    assert all(h.snapshot().state == "done" for h in (first, second, third))


def test_cancel_a_queued_job_removes_it_from_the_queue():
    trainer = FakeTrainer(blocked=True)
    running = jobs.submit(config(1), trainer=trainer)
    queued = jobs.submit(config(2), trainer=trainer)
    later = jobs.submit(config(3), trainer=trainer)
    wait_until(trainer.running.is_set)

    queued.cancel()
    assert queued.snapshot().state == "cancelled" and queued.wait(0)
    assert later.snapshot().queue_position == 1

    trainer.gate.set()
    assert later.wait(WAIT) and running.wait(WAIT)
    assert trainer.calls == [1, 3]
    assert queued.result() is None


def test_cancel_a_running_job_stops_it_without_caching():
    trainer = FakeTrainer(blocked=True)
    handle = jobs.submit(config(), trainer=trainer)
    wait_until(trainer.running.is_set)
    handle.cancel()
    assert handle.wait(WAIT)

    snapshot = handle.snapshot()
    assert snapshot.state == "stopped" and not snapshot.cached
    assert handle.result() is not None and handle.result().status == "stopped"
    assert cache.count_entries() == 0


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (MemoryError(), "Training failed: MemoryError"),
        (RuntimeError("boom"), "Training failed: RuntimeError: boom"),
        (InvalidDataset("The CSV has only 1 row."), "The CSV has only 1 row."),
    ],
)
def test_failure_is_captured_and_the_next_job_runs(error, expected, caplog):
    failing = FakeTrainer(blocked=True, fail_with=error)
    healthy = FakeTrainer()
    broken = jobs.submit(config(1), trainer=failing)
    following = jobs.submit(config(2), trainer=healthy)
    failing.gate.set()

    assert broken.wait(WAIT) and following.wait(WAIT)
    snapshot = broken.snapshot()
    assert snapshot.state == "failed"
    assert snapshot.error.startswith(expected)
    assert following.snapshot().state == "done"
    assert any(record.exc_info for record in caplog.records if record.name == "dlcore.jobs")


def test_running_snapshot_reports_progress():
    trainer = FakeTrainer(blocked=True)
    handle = jobs.submit(config(), trainer=trainer)
    wait_until(trainer.running.is_set)
    assert handle.snapshot().fraction == 0.0

    trainer.gate.set()
    assert handle.wait(WAIT)
    done = handle.snapshot()
    assert (done.epoch, done.epochs, done.batches_per_epoch) == (2, 2, BATCHES)
    assert len(done.batch_losses) == 2 * BATCHES
    assert done.batch_losses[-1] == {"epoch": 2, "batch": BATCHES, "loss": 1.0 / BATCHES}
    assert done.extras == {"epoch": 1}
    assert done.samples_per_second is not None and done.samples_per_second > 0
    assert done.elapsed > 0 and done.eta is None


def test_progress_fraction_and_eta_while_running():
    job = jobs._Job("a" * 64, config(), None, "", FakeTrainer())
    sink = jobs._ProgressSink(job)
    job.start()
    sink.on_train_begin(2, BATCHES)
    sink.on_batch_end(0, BATCHES - 1, {"loss": 1.0})
    sink.on_epoch_end(0, {"loss": 1.0}, {})
    sink.on_batch_end(1, 1, {"loss": 0.5})
    snapshot = job.snapshot(queue_position=0)
    assert snapshot.state == "running"
    assert snapshot.epoch == 2 and snapshot.batch == 2
    assert math.isclose(snapshot.fraction, (1 + 2 / BATCHES) / 2)
    assert snapshot.eta is None  # one batch timed: no rate to extrapolate yet
    assert "epoch 2 of 2" in snapshot.message


def test_the_eta_is_timed_after_the_first_batch_and_waits_for_a_steady_rate():
    """The first batch also traces the model: timing from the start of training once said
    "about 1038 s left" for a one-minute run."""
    job = jobs._Job("a" * 64, config(), None, "", FakeTrainer())
    sink = jobs._ProgressSink(job)
    job.start()
    sink.on_train_begin(1, 1000)
    for batch in range(ETA_MIN_BATCHES):  # the first batch and 9 timed ones
        sink.on_batch_end(0, batch, {"loss": 1.0})
    job.first_batch_at -= 3.0  # 3 s since the first batch ended
    assert job.snapshot(queue_position=0).eta is None  # 9 batches timed: not yet
    sink.on_batch_end(0, ETA_MIN_BATCHES, {"loss": 1.0})  # the 10th timed batch
    eta = job.snapshot(queue_position=0).eta
    # 10 batches in ~3 s, 989 left of 1000: about 297 s, whatever the first batch cost.
    assert eta == pytest.approx(3.0 / 10 * 989, rel=0.02)


def test_the_live_curve_keeps_the_whole_run_thinned():
    job = jobs._Job("a" * 64, config(), None, "", FakeTrainer())
    sink = jobs._ProgressSink(job)
    job.start()
    sink.on_train_begin(1, 2580)
    for batch in range(2580):
        sink.on_batch_end(0, batch, {"loss": 1.0})
    rows = job.snapshot(queue_position=0).batch_losses
    assert len(rows) <= BATCH_LOG_LIMIT
    assert rows[0]["batch"] == 1 and rows[-1]["batch"] > 2580 - len(rows) // 50
    steps = {b["batch"] - a["batch"] for a, b in zip(rows, rows[1:], strict=False)}
    assert len(steps) == 1  # evenly thinned


def test_corrupt_entry_is_retrained():
    trainer = FakeTrainer()
    handle = jobs.submit(config(), trainer=trainer)
    assert handle.wait(WAIT)
    model_file = cache.model_path(handle.key)
    model_file.write_bytes(model_file.read_bytes()[:100])
    cache._forget()

    with pytest.warns(RuntimeWarning, match="Discarding corrupt cache entry"):
        again = jobs.submit(config(), trainer=trainer)
    assert again.wait(WAIT)
    assert again.snapshot().state == "done" and not again.snapshot().cached
    assert trainer.calls == [0, 0]
    cache._forget()
    assert cache.load(handle.key) is not None


def test_regression_default_data_is_part_of_the_key():
    handle = jobs.submit(config(), trainer=FakeTrainer())
    assert handle.wait(WAIT)
    assert handle.key == cache.key_for(config(), make_house_prices().fingerprint)
    other = make_house_prices(n_samples=200)
    assert jobs.submit(config(), other, trainer=FakeTrainer()).key != handle.key


def test_real_training_from_two_threads_trains_once():
    """The real trainer, a tiny regression: two simultaneous requests share one run."""
    calls = []

    def counting_train(config, data, *, progress, stop_event):
        calls.append(config)
        return training.train(config, data, progress=progress, stop_event=stop_event)

    tiny = RegressionConfig(epochs=2, batch_size=32)
    houses = make_house_prices(n_samples=200, seed=1)
    barrier = threading.Barrier(2)
    handles = []

    def submit():
        barrier.wait()
        handles.append(jobs.submit(tiny, houses, trainer=counting_train))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert all(handle.wait(120) for handle in handles)
    snapshot = handles[0].snapshot()
    assert snapshot.state == "done", snapshot.error
    assert len(calls) == 1
    assert len(snapshot.history) == 2 and "val_loss" in snapshot.history[0]
    assert "curve_price" in snapshot.extras
    cached = jobs.submit(tiny, houses, trainer=counting_train)
    assert cached.snapshot().cached and len(calls) == 1
    assert cached.result().metrics["test_r2"] == handles[0].result().metrics["test_r2"]


def test_a_result_that_cannot_be_cached_is_done_with_a_warning(monkeypatch):
    def disk_full(key, result, *, data_fingerprint=None):
        raise CacheError("No space left on device")

    monkeypatch.setattr(cache, "save", disk_full)
    handle = jobs.submit(config(seed=7), trainer=FakeTrainer())
    assert handle.wait(WAIT)
    snapshot = handle.snapshot()
    assert snapshot.state == "done" and handle.result() is not None
    assert "could not be cached" in snapshot.warning
    assert "No space left on device" in snapshot.warning


def test_a_regression_run_with_too_many_steps_is_refused_before_it_queues():
    """Batch 1 over 800 training houses for 200 epochs: 160,000 steps, over the cap."""
    trainer = FakeTrainer()
    too_long = RegressionConfig(batch_size=1)
    houses = make_house_prices(n_samples=1_000)
    with pytest.raises(TrainingTooLarge, match="160,000 optimizer steps"):
        jobs.submit(too_long, houses, trainer=trainer)
    assert trainer.calls == [] and jobs.get(cache.key_for(too_long, houses.fingerprint)) is None
    # The same settings on a small dataset are fine: the cap counts steps, not settings.
    assert jobs.submit(too_long, make_house_prices(n_samples=500), trainer=trainer).wait(WAIT)
    with pytest.raises(TrainingTooLarge):  # training.train refuses too (the CLI calls it)
        training.train(too_long, houses)


# ---------------------------------------------------------------------------------------
# Owners: a job belongs to the learners who want it
# ---------------------------------------------------------------------------------------


def test_a_joined_learner_keeps_training_when_the_first_one_stops():
    trainer = FakeTrainer(blocked=True)
    alice = jobs.submit(config(), owner="alice", trainer=trainer)
    bob = jobs.submit(config(), owner="bob", trainer=trainer)
    wait_until(trainer.running.is_set)
    assert alice.key == bob.key and bob.snapshot().owners == 2

    alice.cancel()
    assert bob.snapshot().owners == 1 and bob.snapshot().state == "running"
    trainer.gate.set()
    assert bob.wait(WAIT)
    assert bob.snapshot().state == "done" and "saved in the cache" in bob.snapshot().message
    assert trainer.calls == [0]
    assert cache.load(bob.key) is not None


def test_the_job_stops_when_its_last_owner_leaves():
    trainer = FakeTrainer(blocked=True)
    alice = jobs.submit(config(), owner="alice", trainer=trainer)
    bob = jobs.submit(config(), owner="bob", trainer=trainer)
    wait_until(trainer.running.is_set)
    alice.cancel()
    bob.cancel()
    assert bob.wait(WAIT)
    assert bob.snapshot().state == "stopped" and bob.snapshot().owners == 0
    assert cache.load(bob.key) is None


def test_an_owner_has_one_live_job_submitting_another_withdraws_the_first():
    trainer = FakeTrainer(blocked=True)
    running = jobs.submit(config(1), owner="other", trainer=trainer)
    wait_until(trainer.running.is_set)
    handles = [jobs.submit(config(seed), owner="eager", trainer=trainer) for seed in range(2, 10)]
    snapshots = [handle.snapshot() for handle in handles]

    assert [s.state for s in snapshots] == ["cancelled"] * 7 + ["queued"]
    assert snapshots[-1].queue_position == 1  # the next learner waits behind one job, not 8
    trainer.gate.set()
    assert handles[-1].wait(WAIT) and running.wait(WAIT)
    assert trainer.calls == [1, 9]


def test_changing_settings_leaves_a_job_others_joined_running():
    trainer = FakeTrainer(blocked=True)
    shared = jobs.submit(config(1), owner="alice", trainer=trainer)
    jobs.submit(config(1), owner="bob", trainer=trainer)
    wait_until(trainer.running.is_set)
    jobs.submit(config(2), owner="alice", trainer=trainer)  # alice changed her mind
    assert shared.snapshot().state == "running" and shared.snapshot().owners == 1
    trainer.gate.set()
    assert shared.wait(WAIT) and shared.snapshot().state == "done"


def test_a_full_queue_refuses_a_new_job_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("DLCORE_MAX_QUEUED", "2")
    trainer = FakeTrainer(blocked=True)
    jobs.submit(config(1), owner="a", trainer=trainer)
    wait_until(trainer.running.is_set)
    jobs.submit(config(2), owner="b", trainer=trainer)
    jobs.submit(config(3), owner="c", trainer=trainer)
    with pytest.raises(QueueFull, match="queue is full.*Try again in a minute"):
        jobs.submit(config(4), owner="d", trainer=trainer)
    joined = jobs.submit(config(3), owner="d", trainer=trainer)  # joining adds no job
    assert joined.snapshot().state == "queued" and joined.snapshot().owners == 2
    trainer.gate.set()
    assert joined.wait(WAIT)


def test_a_handle_without_an_owner_cannot_cancel():
    trainer = FakeTrainer(blocked=True)
    handle = jobs.submit(config(), owner="alice", trainer=trainer)
    with pytest.raises(RuntimeError, match="without an owner"):
        jobs.get(handle.key).cancel()
    jobs.get(handle.key, owner="alice").cancel()
    assert handle.wait(WAIT) and handle.snapshot().state in ("stopped", "cancelled")


def test_a_stopping_job_is_not_joined_a_new_submit_trains_afresh():
    trainer = FakeTrainer(blocked=True)
    first = jobs.submit(config(), owner="alice", trainer=trainer)
    wait_until(trainer.running.is_set)
    first.cancel()
    second = jobs.submit(config(), owner="bob", trainer=trainer)
    assert first.wait(WAIT) and first.snapshot().state == "stopped"
    trainer.gate.set()
    assert second.wait(WAIT) and second.snapshot().state == "done"
    assert trainer.calls == [0, 0]


def test_regression_data_that_cannot_train_is_refused_before_it_queues():
    data = make_house_prices(n_samples=50)
    frozen = type(data)(data.area, data.price * 0 + 1e300, "huge prices")
    trainer, registered = FakeTrainer(), dict(jobs._registry)
    with pytest.raises(InvalidDataset, match="too large"):
        jobs.submit(config(), frozen, owner="alice", trainer=trainer)
    assert trainer.calls == [] and jobs._registry == registered and not jobs._waiting


# ---------------------------------------------------------------------------------------
# Languages: a job's messages are read in the language of whoever takes the snapshot
# ---------------------------------------------------------------------------------------


def test_a_jobs_messages_read_in_each_readers_language():
    from dlcore import i18n

    trainer = FakeTrainer(blocked=True)
    handle = jobs.submit(config(seed=21), trainer=trainer)
    waiting = jobs.submit(config(seed=22), trainer=FakeTrainer())  # one slot: it queues
    wait_until(lambda: handle.snapshot().batches_per_epoch)
    assert waiting.snapshot().message == (
        "Waiting for a free training slot (position 1 in the queue)"
    )
    with i18n.using("zh"):
        assert waiting.snapshot().message == "正在等待空闲的训练名额（排在队列第 1 位）"
        assert handle.snapshot().message == "正在训练"  # before the first batch
    trainer.gate.set()
    assert handle.wait(WAIT) and waiting.wait(WAIT)
    english = handle.snapshot().message
    assert english.startswith("Trained in ") and english.endswith(" s and saved in the cache")
    with i18n.using("zh"):
        chinese = handle.snapshot().message
        assert chinese.startswith("训练用时 ") and chinese.endswith(" 秒，已存入缓存")
        with pytest.raises(TrainingTooLarge, match="步优化；上限是 100,000 步"):
            jobs.submit(RegressionConfig(batch_size=1), make_house_prices(n_samples=1_000))


def test_a_failure_is_read_in_each_readers_language_and_python_text_stays():
    from dlcore import i18n

    broken = jobs.submit(config(seed=23), trainer=FakeTrainer(fail_with=RuntimeError("boom")))
    assert broken.wait(WAIT)
    assert broken.snapshot().error == "Training failed: RuntimeError: boom"
    with i18n.using("zh"):
        assert broken.snapshot().error == "训练失败：RuntimeError：boom"


def test_a_message_stored_for_redis_is_read_again_in_each_language():
    from dlcore import i18n
    from dlcore.i18n import Message
    from dlcore.job_common import decode_text, encode_text

    stored = encode_text(Message("Training: epoch {epoch} of {epochs}", epoch=2, epochs=5))
    assert decode_text(stored) == "Training: epoch 2 of 5"
    with i18n.using("zh"):
        assert decode_text(stored) == "正在训练：第 2 个训练轮次，共 5 个"
    assert decode_text(encode_text("plain text")) == "plain text"  # e.g. a broker's error
    assert decode_text("") == "" and encode_text(None) == ""


def test_a_config_refusal_reads_in_the_learners_language():
    from dlcore import i18n
    from dlcore.configs import MnistConfig

    with pytest.raises(ValueError) as refused:
        MnistConfig(train_size=55_000, validation_size=10_000)
    assert str(refused.value).startswith("train_size + validation_size cannot exceed the 60,000")
    with i18n.using("zh"):
        assert "不能超过 60,000 张训练图像" in str(refused.value)
        with pytest.raises(ValueError, match="epochs 必须在 1 和"):
            RegressionConfig(epochs=0)
