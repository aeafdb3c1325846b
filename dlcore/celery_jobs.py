"""The Celery backend of ``dlcore.jobs``: trainings go to workers over Redis.

Selected by ``DLCORE_BROKER_URL=redis://...``; ``dlcore.jobs.submit``/``get`` call this
module, and the pages cannot tell the difference. The app process never trains: it checks
the shared cache (``DLCORE_CACHE_DIR``, a volume every replica and worker mounts), records
the owner in the Redis registry (``dlcore.job_board``: one job per key across replicas,
the queue, owners, progress and stop flags), and sends a new job's task to the workers
(``python -m dlcore worker``, ``dlcore.worker``), which write the result to the cache.

A handle here reads the registry on every snapshot; a cache hit is a finished handle of
this process, as in the embedded backend.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import uuid
from collections.abc import Hashable
from functools import cache as once
from typing import Any

from celery import Celery

from dlcore import cache, job_board, settings
from dlcore.configs import MnistConfig, RegressionConfig
from dlcore.errors import CacheError, TrainingFailed, TrainingServiceUnavailable
from dlcore.history import epoch_rows
from dlcore.i18n import Message
from dlcore.job_common import JobSnapshot, text
from dlcore.settings import broker_url
from dlcore.states import JobState

logger = logging.getLogger(__name__)

TASK_NAME = "dlcore.train"
QUEUE = "dlcore-training"
WAIT_POLL_SECONDS = 0.2
# A delivered but unacknowledged task goes back to the queue after this long, in case its
# whole worker machine vanished (a killed training process is requeued at once instead).
# It must exceed the longest training, or a second worker would wait on the lease.
VISIBILITY_TIMEOUT = int(os.environ.get("DLCORE_VISIBILITY_TIMEOUT", "3600"))


def celery_app() -> Celery:
    """The Celery application for DLCORE_BROKER_URL, configured for TensorFlow workers."""
    return _celery_app_for(broker_url())


@once
def _celery_app_for(url: str) -> Celery:
    app = Celery("dlcore", broker=url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,  # results go to the shared cache, progress to the registry
        task_acks_late=True,  # acknowledged once trained: a lost worker's job is redelivered
        task_reject_on_worker_lost=True,  # ...at once when its training process dies
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,  # a busy worker reserves nothing: the next idle one gets it
        worker_concurrency=1,  # one training per worker process (one worker per GPU)
        worker_proc_alive_timeout=120,  # the pool process imports TensorFlow (seconds)
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for Redis to come back
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2},
    )
    return app


class RemoteJobHandle:
    """One owner's view of a job in the registry; the same interface as jobs.JobHandle."""

    def __init__(self, key: str, config: Any, owner: str | None = None):
        self._key, self._config, self._owner = key, config, owner
        self._stopped = None  # a stopped run's result, once unpacked

    @property
    def key(self) -> str:
        """The cache key the job trains."""
        return self._key

    @property
    def config(self) -> Any:
        """The config being trained (read from the registry for a handle from ``get``)."""
        if self._config is None:
            text = job_board.config_json(self._key)
            self._config = config_from_json(text) if text else None
        return self._config

    def snapshot(self) -> JobSnapshot:
        """The job's progress as the registry has it now (one Redis round trip)."""
        found = job_board.snapshot(self._key)
        if found is None:  # expired from the registry: the cache has the result, if any
            forgotten = text(Message("This training is forgotten"))
            return JobSnapshot(state=JobState.CANCELLED, message=forgotten)
        return found

    def result(self):
        """The training result once done (from the shared cache) or stopped (from Redis,
        where its worker packed it), else None.

        A diverged run stays on its worker: nobody can use it. While Redis is down the cache
        still answers (a job that is not done has no entry there).
        """
        try:
            snapshot = self.snapshot()
        except TrainingServiceUnavailable:
            return cache.load(self._key)
        if snapshot.state == JobState.STOPPED:
            return self._stopped_result()
        if snapshot.state != JobState.DONE:
            return None
        stored = cache.load(self._key)
        # Read back from the shared cache, but trained for this job unless it was a hit.
        return None if stored is None else dataclasses.replace(stored, cached=snapshot.cached)

    def _stopped_result(self):
        """The stopped run's result, unpacked once per handle (Keras loads a model)."""
        if self._stopped is None:
            packed = job_board.stopped_run(self._key)
            if packed is None:  # its worker could not pack it, or it expired
                return None
            try:
                self._stopped = cache.unpack_run(self._key, packed)
            except CacheError as exc:
                logger.warning("Stopped run of %s unusable: %s", self._key[:12], exc)
                return None
        return self._stopped

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished; returns False if timeout ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.snapshot().finished:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(WAIT_POLL_SECONDS)
        return True

    def cancel(self) -> None:
        """Withdraw this handle's owner; the job stops when no owner still wants it.

        Raises:
            RuntimeError: the handle has no owner (it came from ``get`` without one).
        """
        if self._owner is None:
            raise RuntimeError("A job handle without an owner cannot cancel the job.")
        job_board.withdraw(self._key, self._owner)

    def __repr__(self) -> str:
        return f"RemoteJobHandle(key={self._key[:12]}…)"


class CachedHandle:
    """A result found in the shared cache on submit: finished at once, trained by nobody."""

    def __init__(self, key: str, config: Any, result):
        self._key, self._config, self._result = key, config, result
        self._snapshot = JobSnapshot(
            state=JobState.DONE,
            epoch=int(result.epochs_run),
            epochs=int(getattr(config, "epochs", 0)),
            fraction=1.0,
            history=epoch_rows(result.history),
            cached=True,
        )

    key = property(lambda self: self._key, doc="The cache key.")
    config = property(lambda self: self._config, doc="The config.")

    def snapshot(self) -> JobSnapshot:
        """The finished snapshot of a cache hit (its message in the reader's language)."""
        return dataclasses.replace(self._snapshot, message=text(Message("Loaded from the cache")))

    def result(self):
        """The cached result."""
        return self._result

    def wait(self, timeout: float | None = None) -> bool:
        """Already finished."""
        return True

    def cancel(self) -> None:
        """Nothing to stop: the result is already there."""


def _owner_id(owner: Hashable | None) -> str:
    """Owners are strings in Redis; one of its own for a caller that gave none."""
    return owner if isinstance(owner, str) else f"anonymous:{uuid.uuid4().hex}"


def submit(key: str, config: Any, data: Any, *, owner=None, trainer=None):
    """jobs.submit with the Celery backend (key and data already resolved by jobs).

    Raises:
        ValueError: a trainer was given (a function cannot travel to a worker).
        QueueFull: a new job would wait behind settings.max_queued_jobs() others.
        TrainingServiceUnavailable: Redis does not answer and the cache has no result.
    """
    if trainer is not None:
        raise ValueError("A custom trainer runs only in the embedded backend.")
    owner = _owner_id(owner)
    try:
        if job_board.enter(key, owner, "join") == "joined":
            return RemoteJobHandle(key, config, owner)
    except TrainingServiceUnavailable:
        stored = cache.load(key)  # the cache still serves what is already trained
        if stored is None:
            raise
        return CachedHandle(key, config, stored)
    stored = cache.load(key)
    if stored is not None:
        job_board.enter(key, owner, "leave")
        return CachedHandle(key, config, stored)
    run = uuid.uuid4().hex
    outcome = job_board.enter(key, owner, "create", config, settings.max_queued_jobs(), run)
    if outcome == "created":
        _send(key, run, config, data)
    return RemoteJobHandle(key, config, owner)


def _send(key: str, run: str, config: Any, data: Any) -> None:
    """Hand the new job to the workers; a job that cannot be sent is marked failed."""
    try:
        celery_app().send_task(TASK_NAME, args=(key, run, config.to_json(), payload_of(data)))
    except Exception as exc:  # the broker refused or vanished: nobody will train it
        job_board.finish(key, run, {"state": JobState.FAILED, "message": str(exc) or repr(exc)})
        raise TrainingServiceUnavailable(job_board.SERVICE_UNAVAILABLE) from exc


def get(key: str, *, owner: Hashable | None = None):
    """jobs.get with the Celery backend: the registered job, or None.

    While Redis is down it cannot tell, and returns a handle anyway: its ``result`` still
    comes from the cache, its ``snapshot`` raises TrainingServiceUnavailable until Redis
    is back (the live panel says so and waits).
    """
    handle = RemoteJobHandle(key, None, owner if isinstance(owner, str) else None)
    try:
        return handle if job_board.exists(key) else None
    except TrainingServiceUnavailable:
        return handle


def config_from_json(text: str) -> MnistConfig | RegressionConfig:
    """Rebuild (and so re-validate) a config from its JSON form (``config.to_json()``)."""
    fields = json.loads(text)
    kind = fields.pop("kind", None)
    types = {config.kind: config for config in (MnistConfig, RegressionConfig)}
    if kind not in types:
        valid = ", ".join(types)
        raise TrainingFailed(
            Message("Unknown config kind {kind}; valid: {valid}.", kind=repr(kind), valid=valid)
        )
    return types[kind](**fields)


def payload_of(data: Any) -> dict | None:
    """The JSON a task carries for its data: None (the default MNIST) or house prices."""
    from dlcore.data import HouseDataset

    if data is None:
        return None
    if isinstance(data, HouseDataset):
        return {
            "area": data.area.tolist(),
            "price": data.price.tolist(),
            "source": (  # read in each reader's language, like the notes
                data.source.to_json() if isinstance(data.source, Message) else str(data.source)
            ),
            "area_name": data.area_name,
            "price_name": data.price_name,
            "notes": [  # each note travels as its id and parameters (Message.to_json)
                note.to_json() if isinstance(note, Message) else str(note) for note in data.notes
            ],
        }
    raise TrainingFailed(Message("This kind of training data cannot be sent to a training worker."))


def data_of(payload: dict | None):
    """The data a task's payload describes (the inverse of payload_of)."""
    from dlcore.data import HouseDataset

    if payload is None:
        return None
    notes = tuple(
        Message.from_json(note) if isinstance(note, dict) else note
        for note in payload.get("notes", ())
    )
    source = payload.get("source", "")
    source = Message.from_json(source) if isinstance(source, dict) else source
    return HouseDataset(**{**payload, "source": source, "notes": notes})


def workers(timeout: float = 1.0) -> list[str]:
    """The names of the workers that answer a ping within timeout seconds."""
    replies = celery_app().control.ping(timeout=timeout) or []
    return sorted(name for reply in replies for name in reply)
