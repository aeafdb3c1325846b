"""Background training jobs with progress snapshots, what the pages poll.

``submit(config, owner=...)`` returns a JobHandle at once. A result already in the cache
comes back finished; otherwise a daemon thread trains it, or the caller joins the job
already queued or running for the same cache key, so two sessions asking for the same
training train it once. At most ``settings.max_concurrent_jobs()`` jobs train at a time in
this process; the others wait in first-come order and know their place in the queue. A page
reads ``handle.snapshot()``: a frozen copy of the state, cheap enough to take on every rerun.

A job belongs to the owners that want it (a page passes its session). ``cancel()``
withdraws one owner; the job stops only when no owner still wants it, so a learner who
joined keeps training to the end. Each owner wants at most one live job: submitting another
withdraws it from the previous one. At most ``settings.max_queued_jobs()`` jobs wait at once;
past that ``submit`` raises QueueFull, so one visitor cannot fill the queue.

TensorFlow is imported only when a job actually trains (through dlcore.training).

This is the embedded backend. ``DLCORE_BROKER_URL=redis://...`` selects the Celery backend
instead (``dlcore.celery_jobs``: workers started by ``python -m dlcore worker`` train, the
app process never does); ``submit`` and ``get`` keep the same semantics in both.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import filelock

from dlcore import cache, settings
from dlcore.errors import (
    CacheError,
    DlcoreError,
    QueueFull,
    TrainingFailed,
)
from dlcore.history import epoch_rows
from dlcore.i18n import Message
from dlcore.job_common import (
    BatchLog,
    JobSnapshot,
    eta,
    progress_fraction,
    queue_full,
    state_message,
    text,
    throughput,
    unknown_status,
)
from dlcore.settings import broker_url
from dlcore.states import (
    CACHEABLE_STATUSES,
    STATE_OF_STATUS,
    JobState,
    TrainingStatus,
)

if TYPE_CHECKING:
    from dlcore.configs import MnistConfig, RegressionConfig
    from dlcore.training import TrainResult

logger = logging.getLogger(__name__)

FINISHED_KEPT = 20  # finished jobs kept in the registry so a page rerun finds them
LOCK_POLL_SECONDS = 0.5  # how often a job waiting for another process's lock checks cancel

Trainer = Callable[..., "TrainResult"]


class _Job:
    """The mutable state of one training job; every field is guarded by self.lock."""

    def __init__(self, key: str, config: Any, data: Any, fingerprint: str, trainer: Trainer):
        self.key = key
        self.config = config
        self.data = data
        self.fingerprint = fingerprint
        self.trainer = trainer
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.done_event = threading.Event()
        self.state = JobState.QUEUED
        self.epochs = int(getattr(config, "epochs", 0))
        self.epoch = self.batch = self.batches_per_epoch = self.batches_seen = 0
        self.history: list[dict[str, float]] = []
        self.batch_log = BatchLog()
        self.extras: dict = {}
        self.started: float | None = None
        self.train_started: float | None = None
        self.first_batch_at: float | None = None  # the rate for the ETA is timed from here
        self.finished_at: float | None = None
        self.error: Message | str | None = None
        self.cached = False
        self.message: Message | str = ""  # read in each reader's language by snapshot()
        self.warning: Message | None = None
        self.result: TrainResult | None = None
        self.owners: set[Hashable] = set()  # guarded by the registry's _cond, not self.lock

    def note(self, message: Message) -> None:
        """Set the one-line message shown with the snapshot."""
        with self.lock:
            self.message = message

    def start(self) -> None:
        with self.lock:
            self.state = JobState.RUNNING
            self.started = time.monotonic()
            self.message = Message("Preparing the data and the model")

    def finish(
        self, state: JobState, *, message: Message | str, error: Message | str | None = None
    ) -> None:
        """Move to a finished state; the done event is set by whoever owns the job."""
        with self.lock:
            self.state = state
            self.message = message
            self.error = error
            self.finished_at = time.monotonic()
            self.data = None  # the job no longer needs it; keep the registry light

    def finish_with(self, result: TrainResult, state: JobState, message: Message) -> None:
        """Finish with a result; the per-epoch history comes from the result itself."""
        epochs_run = int(result.epochs_run)
        with self.lock:
            self.result = result
            self.cached = bool(result.cached)
            self.history = epoch_rows(result.history)
            self.epoch = epochs_run
            if state == JobState.DONE:
                self.batch = self.batches_per_epoch
        self.finish(state, message=message)

    def snapshot(self, queue_position: int) -> JobSnapshot:
        """A frozen, consistent copy of the state (called with the registry lock held); its
        messages read in the language of whoever takes it."""
        owners = len(self.owners)
        with self.lock:
            now = self.finished_at or time.monotonic()
            fraction = 1.0 if self.state == JobState.DONE else self._fraction()
            train_seconds = now - self.train_started if self.train_started else 0.0
            running = self.state == JobState.RUNNING
            return JobSnapshot(
                state=self.state,
                epoch=self.epoch,
                epochs=self.epochs,
                batch=self.batch,
                batches_per_epoch=self.batches_per_epoch,
                fraction=fraction,
                history=[dict(row) for row in self.history],
                batch_losses=list(self.batch_log.rows),
                extras=dict(self.extras),
                queue_position=queue_position,
                elapsed=now - self.started if self.started else 0.0,
                eta=self._eta(now, fraction) if running else None,
                samples_per_second=self._throughput(train_seconds),
                error=text(self.error),
                cached=self.cached,
                message=text(self._message(queue_position)),
                warning=text(self.warning),
                owners=owners,
            )

    def _fraction(self) -> float:
        return progress_fraction(self.epoch, self.epochs, self.batch, self.batches_per_epoch)

    def _eta(self, now: float, fraction: float) -> float | None:
        if self.first_batch_at is None:
            return None
        total = self.epochs * self.batches_per_epoch
        return eta(now - self.first_batch_at, self.batches_seen - 1, fraction, total)

    def _throughput(self, train_seconds: float) -> float | None:
        return throughput(self.batches_seen, getattr(self.config, "batch_size", 0), train_seconds)

    def _message(self, queue_position: int) -> Message | str:
        if self.stop_event.is_set():
            return self.message
        return state_message(self.state, queue_position, self.epoch, self.epochs) or self.message


class _ProgressSink:
    """Receives the trainer's callbacks (ProgressSink protocol) and updates the job."""

    def __init__(self, job: _Job):
        self._job = job

    def on_train_begin(self, epochs: int, batches_per_epoch: int) -> None:
        job = self._job
        with job.lock:
            job.epochs = int(epochs)
            job.batches_per_epoch = int(batches_per_epoch or 0)
            job.train_started = time.monotonic()
            job.message = Message("Training")

    def on_batch_end(self, epoch: int, batch: int, logs: dict[str, float]) -> None:
        job = self._job
        row = {"epoch": epoch + 1, "batch": batch + 1, **_floats(logs)}
        with job.lock:
            job.epoch = epoch + 1  # Keras counts epochs and batches from 0
            job.batch = batch + 1
            job.batches_seen += 1
            if job.batches_seen == 1:
                job.first_batch_at = time.monotonic()
            job.batch_log.add(row)

    def on_epoch_end(self, epoch: int, logs: dict[str, float], extras: dict) -> None:
        job = self._job
        row = _floats(logs)
        with job.lock:
            job.epoch = epoch + 1
            job.batch = job.batches_per_epoch
            job.history.append(row)
            job.extras = dict(extras or {})


def _floats(logs: dict[str, Any] | None) -> dict[str, float]:
    return {str(name): float(value) for name, value in (logs or {}).items()}


# ---------------------------------------------------------------------------------------
# The process-wide registry and the queue
# ---------------------------------------------------------------------------------------

_cond = threading.Condition()  # guards everything below; notified when a slot frees up
_registry: dict[str, _Job] = {}
_waiting: list[_Job] = []  # queued jobs, first come first served
_running = 0
_finished: deque[_Job] = deque()
_owned: dict[Hashable, _Job] = {}  # each owner's one live job


class JobHandle:
    """One owner's view of a job; several handles may share a job (joined sessions).

    A handle from ``get(key)`` without an owner only reads the job; it cannot cancel it.
    """

    def __init__(self, job: _Job, owner: Hashable | None = None):
        self._job = job
        self._owner = owner

    @property
    def key(self) -> str:
        """The cache key the job trains."""
        return self._job.key

    @property
    def config(self) -> Any:
        """The config being trained."""
        return self._job.config

    def snapshot(self) -> JobSnapshot:
        """A consistent copy of the job's progress; cheap and thread-safe."""
        with _cond:
            position = _waiting.index(self._job) + 1 if self._job in _waiting else 0
            return self._job.snapshot(position)

    def result(self) -> TrainResult | None:
        """The training result once done (or stopped/diverged), else None."""
        with self._job.lock:
            return self._job.result

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished; returns False if timeout ran out first."""
        return self._job.done_event.wait(timeout)

    def cancel(self) -> None:
        """Withdraw this handle's owner; the job stops when no owner still wants it.

        A queued job nobody wants leaves the queue at once ("cancelled"). A running one is
        asked to stop after the current batch; training keeps its best epoch and the job
        ends "stopped" (or "cancelled" if training had not started yet). Others who joined
        the job keep it: it trains on for them.

        Raises:
            RuntimeError: the handle has no owner (it came from ``get`` without one).
        """
        if self._owner is None:
            raise RuntimeError("A job handle without an owner cannot cancel the job.")
        with _cond:
            _withdraw(self._job, self._owner)

    def __repr__(self) -> str:
        return f"JobHandle(key={self.key[:12]}…, state={self.snapshot().state!r})"


def get(key: str, *, owner: Hashable | None = None) -> JobHandle | None:
    """The job registered under key (live, or recently finished), or None.

    With DLCORE_BROKER_URL set, the job is looked up in the Redis registry every replica
    and worker shares (``dlcore.celery_jobs``), else in this process.

    With an owner, the handle can withdraw that owner (``cancel``); the owner is not added
    to the job: only ``submit`` makes an owner want a job.
    """
    if broker_url():
        return _celery_backend().get(key, owner=owner)
    with _cond:
        job = _registry.get(key)
    return JobHandle(job, owner) if job is not None else None


def _celery_backend():
    """dlcore.celery_jobs, imported only when DLCORE_BROKER_URL selects it (it imports
    Celery and the Redis client, which the embedded backend never needs)."""
    from dlcore import celery_jobs

    return celery_jobs


def _live_job(key: str) -> _Job | None:
    """The queued or running job for key that can still be joined; call with _cond held.

    A job that is stopping (nobody wanted it any more) cannot: a new submit starts afresh.
    """
    job = _registry.get(key)
    if job is None or job.done_event.is_set() or job.stop_event.is_set():
        return None
    return job


def _adopt(job: _Job, owner: Hashable) -> JobHandle:
    """Make owner want job, withdrawing it from its previous live job; _cond held."""
    previous = _owned.get(owner)
    if previous is not None and previous is not job:
        _withdraw(previous, owner)
    job.owners.add(owner)
    _owned[owner] = job
    return JobHandle(job, owner)


def _withdraw(job: _Job, owner: Hashable) -> None:
    """Owner no longer wants job; stop the job if nobody does any more; _cond held."""
    job.owners.discard(owner)
    if _owned.get(owner) is job:
        del _owned[owner]
    if job.owners or job.done_event.is_set():
        return
    if job in _waiting:
        _waiting.remove(job)
        job.finish(JobState.CANCELLED, message=Message("Cancelled while waiting in the queue"))
        _retire(job)
        job.done_event.set()
        _cond.notify_all()
    else:
        job.stop_event.set()
        job.note("Stopping after the current batch")


def _release_owners(job: _Job) -> None:
    """A finished job is nobody's live job any more; _cond held."""
    for owner in job.owners:
        if _owned.get(owner) is job:
            del _owned[owner]


def _retire(job: _Job) -> None:
    """Remember a finished job, forgetting the oldest beyond FINISHED_KEPT; _cond held."""
    _release_owners(job)
    _finished.append(job)
    while len(_finished) > FINISHED_KEPT:
        old = _finished.popleft()
        if _registry.get(old.key) is old:
            del _registry[old.key]


# ---------------------------------------------------------------------------------------
# Submitting
# ---------------------------------------------------------------------------------------


def submit(
    config: MnistConfig | RegressionConfig,
    data: Any = None,
    *,
    owner: Hashable | None = None,
    trainer: Trainer | None = None,
) -> JobHandle:
    """Get the result of training config: from the cache, a running job, or a new job.

    Returns at once (a cache hit loads the stored model first, a fraction of a second).
    With DLCORE_BROKER_URL set, a new job goes to a Celery worker (``dlcore.celery_jobs``)
    with the same owners, one job per key across replicas, and the same snapshots.

    Args:
        config: The frozen training config.
        data: The training data, or None for the demo's default dataset (MNIST, or the
            default synthetic house prices).
        owner: Who wants the result (a page passes its session). The owner is withdrawn
            from the job it wanted before, if any. None: an owner of its own for this call.
        trainer: The training function, ``trainer(config, data, progress=, stop_event=)``;
            None uses dlcore.training.train (tests inject a fake one).

    Returns:
        A handle whose snapshot is "done" (cache hit) or "queued"/"running".

    Raises:
        TrainingTooLarge: a regression run with too many optimizer steps on this data
            (an MNIST config checks its own work when it is created).
        InvalidDataset: regression data that cannot train (regression.preprocess says why).
        QueueFull: a new job would wait behind settings.max_queued_jobs() others.
        TrainingServiceUnavailable: the broker is set but does not answer, and the result
            is not in the cache.
    """
    data, fingerprint = resolve_data(config, data)
    _check_steps(config, data)
    key = cache.key_for(config, fingerprint)
    if broker_url():
        return _celery_backend().submit(key, config, data, owner=owner, trainer=trainer)
    owner = object() if owner is None else owner
    with _cond:
        live = _live_job(key)
        if live is not None:
            return _adopt(live, owner)
    stored = cache.load(key)
    with _cond:
        if stored is not None:
            previous = _owned.get(owner)
            if previous is not None:
                _withdraw(previous, owner)
            return JobHandle(_finished_from_cache(key, config, stored), owner)
        live = _live_job(key)
        if live is None:  # else another thread submitted it while we looked in the cache
            live = _enqueue(key, config, data, fingerprint, trainer, owner)
        return _adopt(live, owner)


def _enqueue(key, config, data, fingerprint, trainer, owner) -> _Job:
    """Register a new job and start its thread, if the queue has room; _cond held."""
    previous = _owned.get(owner)
    if previous is not None:  # withdraw first: its place in the queue may be the one we need
        _withdraw(previous, owner)
    limit = settings.max_queued_jobs()
    if len(_waiting) >= limit:
        raise QueueFull(queue_full(len(_waiting)))
    job = _Job(key, config, data, fingerprint, trainer or _default_trainer)
    _registry[key] = job
    _waiting.append(job)
    worker = threading.Thread(target=_run, args=(job,), name=f"dlcore-job-{key[:8]}", daemon=True)
    worker.start()
    return job


def _default_trainer(config, data, *, progress, stop_event):
    """dlcore.training.train, imported only when a job trains (it imports TensorFlow)."""
    from dlcore.training import train

    return train(config, data, progress=progress, stop_event=stop_event)


def resolve_data(config: Any, data: Any) -> tuple[Any, str]:
    """The data a job trains on and its fingerprint (part of the cache key); a worker of
    the Celery backend calls it too, to check that a task's key is its data's."""
    from dlcore import data as datasets

    if data is None and config.kind == "mnist":
        return None, datasets.MNIST_SHA256
    if data is None and config.kind == "regression":
        data = datasets.make_house_prices()
    fingerprint = getattr(data, "fingerprint", None)
    if isinstance(fingerprint, str):
        return data, fingerprint
    return data, _fingerprint_arrays(data)


def _check_steps(config: Any, data: Any) -> None:
    """Refuse before queueing, not after a wait: regression data that cannot train, or a
    run with too many steps (they depend on the data)."""
    from dlcore.data import HouseDataset
    from dlcore.regression import preprocess

    if config.kind == "regression" and isinstance(data, HouseDataset):
        config.check_steps(preprocess(data, config).train_idx.size)


def _fingerprint_arrays(data: Any) -> str:
    """Sha256 over the arrays of plain (nested tuple/list/dict) data without a fingerprint."""
    import numpy as np

    digest = hashlib.sha256()
    pending = [data]
    while pending:
        item = pending.pop(0)
        if isinstance(item, dict):
            pending[:0] = [item[name] for name in sorted(item)]
        elif isinstance(item, (list, tuple)):
            pending[:0] = list(item)
        else:
            array = np.ascontiguousarray(item)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def _finished_from_cache(key: str, config: Any, result: TrainResult) -> _Job:
    """Register an already finished job holding a cached result; _cond held."""
    job = _Job(key, config, None, "", _default_trainer)
    job.started = time.monotonic()
    job.finish_with(result, JobState.DONE, "Loaded from the cache")
    job.done_event.set()
    if _live_job(key) is None:
        _registry[key] = job
        _retire(job)
    return job


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------


def _run(job: _Job) -> None:
    """Body of a job's thread: wait for a slot, train, store, and always free the slot."""
    global _running
    if not _acquire_slot(job):
        return
    try:
        _execute(job)
    except BaseException as exc:  # a job must never die silently, whatever went wrong
        _fail(job, exc)
    finally:
        with _cond:
            _running -= 1
            _retire(job)
            _cond.notify_all()
        job.done_event.set()


def _acquire_slot(job: _Job) -> bool:
    """Wait, in queue order, until fewer than max_concurrent_jobs() jobs run."""
    global _running
    with _cond:
        while True:
            if job not in _waiting:
                return False  # cancelled while queued
            if _waiting[0] is job and _running < settings.max_concurrent_jobs():
                _waiting.pop(0)
                _running += 1
                job.start()
                _cond.notify_all()  # the next in line may fit too when several may run
                return True
            _cond.wait()


def _execute(job: _Job) -> None:
    """Under the key's lock: check the cache again, train, and store the result."""
    with contextlib.ExitStack() as stack:
        if not _enter_key_lock(job, stack):
            job.finish(JobState.CANCELLED, message=Message("Cancelled before training started"))
            return
        stored = cache.load(job.key)  # another process may have trained it meanwhile
        if stored is not None:
            job.finish_with(stored, JobState.DONE, Message("Loaded from the cache"))
            return
        if job.stop_event.is_set():
            job.finish(JobState.CANCELLED, message=Message("Cancelled before training started"))
            return
        job.note(Message("Preparing the data and the model"))
        result = job.trainer(
            job.config, job.data, progress=_ProgressSink(job), stop_event=job.stop_event
        )
        state = STATE_OF_STATUS.get(result.status)
        if state is None:
            raise TrainingFailed(unknown_status(result.status))
        job.finish_with(result, state, _store(job, result))


def _enter_key_lock(job: _Job, stack: contextlib.ExitStack) -> bool:
    """Take the key's cross-process lock, giving up if the job is cancelled meanwhile."""
    while not job.stop_event.is_set():
        try:
            stack.enter_context(cache.lock(job.key, timeout=LOCK_POLL_SECONDS))
            return True
        except filelock.Timeout:
            job.note(Message("Waiting for another process that is training the same model"))
    return False


def _store(job: _Job, result: TrainResult) -> Message:
    """Save a finished result in the cache; returns the message to show."""
    message, warning = store_result(job.key, result, job.fingerprint)
    if warning is not None:
        with job.lock:
            job.warning = warning
    return message


def store_result(key: str, result: TrainResult, fingerprint: str) -> tuple[Message, Message | None]:
    """Save a finished result in the cache, if it is worth keeping (both backends).

    Returns:
        The message to show, and a warning when a usable result could not be cached.
    """
    seconds, epochs = f"{result.train_seconds:.1f}", int(result.epochs_run)
    if result.status == TrainingStatus.STOPPED:
        message = Message(
            "Stopped after {epochs} epoch(s) in {seconds} s; kept the best epoch",
            epochs=epochs,
            seconds=seconds,
        )
        return message, None
    if result.status not in CACHEABLE_STATUSES:  # diverged
        message = Message(
            "Training diverged after {epochs} epoch(s); try a smaller learning rate",
            epochs=epochs,
        )
        return message, None
    try:
        cache.save(key, result, data_fingerprint=fingerprint)
    except CacheError as exc:
        logger.warning("Trained %s but could not cache it: %s", key[:12], exc)
        message = Message(
            "Trained in {seconds} s, but the result could not be cached: {error}",
            seconds=seconds,
            error=exc.message or str(exc),
        )
        return message, message
    return Message("Trained in {seconds} s and saved in the cache", seconds=seconds), None


def _fail(job: _Job, exc: BaseException) -> None:
    """Record a failure as a plain-language error state, with the traceback in the log."""
    message = failure_message(exc)
    logger.error("Job %s failed: %s", job.key[:12], message, exc_info=exc)
    job.finish(JobState.FAILED, message=message, error=message)


def failure_message(exc: BaseException) -> Message | str:
    """What a learner reads about a training that raised exc (both backends): a dlcore
    error's own message (a Message is read in each reader's language), else the error's
    kind and text, which stay as Python wrote them."""
    if isinstance(exc, DlcoreError):
        return exc.message
    kind, detail = type(exc).__name__, str(exc)
    if isinstance(exc, MemoryError):
        if detail:
            return Message(
                "Training failed: {kind}: {detail} (out of memory: try a smaller batch size "
                "or training set)",
                kind=kind,
                detail=detail,
            )
        return Message(
            "Training failed: {kind} (out of memory: try a smaller batch size or training set)",
            kind=kind,
        )
    if detail:
        return Message("Training failed: {kind}: {detail}", kind=kind, detail=detail)
    return Message("Training failed: {kind}", kind=kind)
