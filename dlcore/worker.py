"""``python -m dlcore worker``: a Celery worker that trains the jobs of dlcore.celery_jobs.

One training per worker process, and one worker per GPU (``--gpu N``). The worker's main
process only talks to Redis; TensorFlow is imported in its pool process once it has started
(``worker_process_init``), never in a parent that forks. A task is acknowledged after it
trained (acks late), and rejected back to the queue if its training process dies, so
another worker trains it.

A task trains as the embedded backend's thread does (``dlcore.jobs._execute``), with the
registry in Redis instead of memory: it takes the key's lease (a Redis lock, renewed while
it trains, so a dead worker's lock frees itself), marks the job running, checks the shared
cache again, trains with ``dlcore.training.train`` while reporting progress to the registry
and reading the stop flag after each batch, and stores the result in the shared cache.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from typing import Any

from celery.signals import worker_process_init

from dlcore import cache, celery_jobs, job_board, jobs
from dlcore.errors import CacheError, TrainingFailed, TrainingServiceUnavailable
from dlcore.history import epoch_rows
from dlcore.i18n import Message
from dlcore.job_common import BatchLog, public_url, unknown_status
from dlcore.settings import broker_url
from dlcore.states import STATE_OF_STATUS, JobState

logger = logging.getLogger(__name__)

# How long a training's lease lives without renewal: a dead worker's job waits this long
# before another worker takes it over (a killed training process is requeued at once).
LEASE_SECONDS = float(os.environ.get("DLCORE_LEASE_SECONDS", "30"))
FLUSH_SECONDS = 0.1  # progress reaches Redis at most this often (the pages poll every 0.5 s)
FINISH_RETRY_SECONDS = 300  # how long a finished job waits for Redis to record its outcome


def _initialise_tensorflow(**_: Any) -> None:
    """In the pool process, once it has started: TensorFlow, memory growth, precision."""
    from dlcore import device

    logger.info("dlcore worker process %d: %s", os.getpid(), device.configure().summary)


class _RemoteProgress:
    """The trainer's ProgressSink: per-batch logs go to the registry in small groups, and
    each group's round trip brings back the stop flag (``is_set`` reads it)."""

    def __init__(self, key: str):
        self._key = key
        self._log = BatchLog()
        self._new_rows: list[dict] = []
        self._thinned = False
        self._unreported = 0  # batches since the last flush
        self._position: dict[str, int] = {}
        self._flushed = 0.0
        self._stopping = False
        self._per_epoch = 0

    def is_set(self) -> bool:
        """The stop flag as of the latest flush (the stop_event the trainer checks)."""
        return self._stopping

    def on_train_begin(self, epochs: int, batches_per_epoch: int) -> None:
        self._per_epoch = int(batches_per_epoch or 0)
        self._quietly(
            job_board.note,
            self._key,
            epochs=int(epochs),
            batches_per_epoch=self._per_epoch,
            train_started=time.time(),
            message=Message("Training"),
        )

    def on_batch_end(self, epoch: int, batch: int, logs: dict[str, float]) -> None:
        row = {"epoch": epoch + 1, "batch": batch + 1, **_floats(logs)}
        kept = len(self._log.rows)
        self._thinned |= self._log.add(row)
        if len(self._log.rows) > kept and not self._thinned:
            self._new_rows.append(row)
        self._unreported += 1
        self._position = {"epoch": epoch + 1, "batch": batch + 1}
        if self._log.seen == 1:  # the ETA's rate is timed from the end of the first batch
            self._quietly(job_board.note, self._key, first_batch_at=time.time())
        if time.monotonic() - self._flushed >= FLUSH_SECONDS:
            self._flush()

    def on_epoch_end(self, epoch: int, logs: dict[str, float], extras: dict) -> None:
        self._flush()
        position = {"epoch": epoch + 1, "batch": self._per_epoch}
        self._quietly(job_board.report_epoch, self._key, position, _floats(logs), extras)

    def _flush(self) -> None:
        # After a thinning the whole (short) log replaces the stored one; else rows are added.
        rows = list(self._log.rows) if self._thinned else self._new_rows
        replace, batches = self._thinned, self._unreported
        self._new_rows, self._thinned, self._unreported = [], False, 0
        self._flushed = time.monotonic()
        stopping = self._quietly(
            job_board.report_batches, self._key, self._position, rows, batches, replace=replace
        )
        if stopping is not None:
            self._stopping = stopping

    @staticmethod
    def _quietly(write, *args, **fields):
        """Progress is worth less than the training: a Redis outage skips a report."""
        try:
            return write(*args, **fields)
        except TrainingServiceUnavailable:
            logger.warning("Redis does not answer; progress not reported")
            return None


def _floats(logs: dict | None) -> dict[str, float]:
    return {str(name): float(value) for name, value in (logs or {}).items()}


class _Lease:
    """Hold the key's lease while the body runs, renewing it from a thread of its own."""

    def __init__(self, key: str):
        self._lock = job_board.lease(key, LEASE_SECONDS)
        self._done = threading.Event()
        self._held = False

    def acquire(self, still_wanted) -> bool:
        """Wait for the lease while still_wanted() says the job needs training."""
        while still_wanted():
            if self._lock.acquire(blocking=True, blocking_timeout=1.0):
                self._held = True
                threading.Thread(target=self._renew, daemon=True).start()
                return True
        return False

    def _renew(self) -> None:
        while not self._done.wait(LEASE_SECONDS / 3):
            try:
                self._lock.extend(LEASE_SECONDS, replace_ttl=True)
            except Exception as exc:  # expired during an outage; training goes on
                logger.warning("Could not renew the training lease: %s", exc)

    def release(self) -> None:
        self._done.set()
        if not self._held:
            return
        try:
            self._lock.release()
        except Exception as exc:  # already expired: nothing to release
            logger.info("Training lease already gone: %s", exc)


def train_job(key: str, run: str, config_json: str, payload: dict | None, worker: str) -> str:
    """Train run of key's job (what a task does); returns how it ended, for the log."""
    lease = _Lease(key)
    try:
        config = celery_jobs.config_from_json(config_json)
        data, fingerprint = jobs.resolve_data(config, celery_jobs.data_of(payload))
        if not lease.acquire(lambda: job_board.waits_for_training(key, run)):
            return "not wanted"
        outcome = job_board.start(key, run, worker, Message("Preparing the data and the model"))
        if outcome not in ("started", "restarted"):
            return outcome
        return _train_started(key, run, config, data, fingerprint, worker)
    except BaseException as exc:  # a job must never die silently, whatever went wrong
        message = jobs.failure_message(exc)
        logger.error("Job %s failed: %s", key[:12], message, exc_info=exc)
        _finish(key, run, {"state": JobState.FAILED, "message": message, "error": message})
        return JobState.FAILED
    finally:
        lease.release()


def _train_started(key, run, config, data, fingerprint, worker) -> str:
    """Under the lease: check the cache again, train, store, record the outcome."""
    if cache.key_for(config, fingerprint) != key:
        raise TrainingFailed(Message("The task's key is not its config's and data's key."))
    stored = cache.load(key)  # another worker may have trained it meanwhile
    if stored is not None:
        _finish_with(key, run, stored, JobState.DONE, Message("Loaded from the cache"), worker="")
        return JobState.DONE
    if job_board.is_stopping(key):
        fields = {
            "state": JobState.CANCELLED,
            "message": Message("Cancelled before training started"),
        }
        _finish(key, run, fields)
        return JobState.CANCELLED
    from dlcore.training import train

    progress = _RemoteProgress(key)
    result = train(config, data, progress=progress, stop_event=progress)
    state = STATE_OF_STATUS.get(result.status)
    if state is None:
        raise TrainingFailed(unknown_status(result.status))
    message, warning = jobs.store_result(key, result, fingerprint)
    if state == JobState.STOPPED and not _keep_stopped(key, result, fingerprint):
        message = Message(
            "Stopped after {epochs} epoch(s) in {seconds} s; a stopped run's model stays on "
            "its training worker: train to the end to use it",
            epochs=int(result.epochs_run),
            seconds=f"{result.train_seconds:.1f}",
        )
    _finish_with(key, run, result, state, message, worker=worker, warning=warning or "")
    return state


def _keep_stopped(key: str, result, fingerprint: str) -> bool:
    """Send a stopped run's result (never cached) to the replicas through Redis."""
    try:
        job_board.keep_stopped_run(key, cache.pack_run(key, result, fingerprint))
    except (CacheError, TrainingServiceUnavailable) as exc:
        logger.warning("Stopped run of %s not kept: %s", key[:12], exc)
        return False
    return True


def _finish_with(key, run, result, state, message, *, worker, warning="") -> None:
    fields = {
        "state": state,
        "message": message,
        "cached": "1" if result.cached else "",
        "worker": worker,
        "warning": warning,
        "epoch": int(result.epochs_run),
    }
    if state == JobState.DONE:
        fields["batch"] = job_board.batches_per_epoch(key)
    _finish(key, run, fields, epoch_rows(result.history))


def _finish(key: str, run: str, fields: dict, rows: list[dict] | None = None) -> None:
    """Record the outcome, waiting (bounded) for Redis if it is down at that moment."""
    deadline = time.monotonic() + FINISH_RETRY_SECONDS
    while True:
        try:
            job_board.finish(key, run, fields, rows)
            return
        except TrainingServiceUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(2.0)


def _task(self, key: str, run: str, config_json: str, payload: dict | None) -> str:
    """The Celery task: train one job on this worker."""
    return train_job(key, run, config_json, payload, worker=self.request.hostname)


def register(app) -> None:
    """Add the training task and the TensorFlow start-up to a Celery app."""
    app.task(name=celery_jobs.TASK_NAME, bind=True)(_task)
    worker_process_init.connect(_initialise_tensorflow, weak=False)


def run(name: str | None = None, gpu: int | None = None, loglevel: str = "INFO") -> int:
    """Start the worker (blocks until it is stopped); 2 when no broker is configured.

    Args:
        name: The worker's name (default dlcore-PID@HOST): snapshots and ``train --json``
            show it.
        gpu: Train on this GPU only (CUDA_VISIBLE_DEVICES); run one worker per GPU.
        loglevel: Celery's log level.
    """
    if not broker_url():
        print("error: set DLCORE_BROKER_URL=redis://host:port/db first", file=sys.stderr)
        return 2
    if gpu is not None:  # before TensorFlow is imported in the pool process
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    name = name or f"dlcore-{os.getpid()}@{socket.gethostname()}"
    app = celery_jobs.celery_app()
    register(app)
    logger.info("dlcore worker %s on %s", name, public_url(broker_url()))
    argv = ["worker", f"--hostname={name}", "--pool=prefork", "--concurrency=1"]
    argv += [f"--loglevel={loglevel}", "--without-gossip", "--without-mingle"]
    app.worker_main([*argv, f"--queues={celery_jobs.QUEUE}"])
    return 0
