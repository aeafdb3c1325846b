"""What both job backends share: the snapshot pages poll, its arithmetic, the backend switch.

``dlcore.jobs`` trains in threads of the app process (the embedded default) or, when
``DLCORE_BROKER_URL`` is set, hands trainings to Celery workers over Redis
(``dlcore.celery_jobs``); both describe a job with the same JobSnapshot, computed here the
same way. This module imports nothing heavy: the sidebar and Home import it through jobs.

A job's messages (its state line, failure, warning) are ``dlcore.i18n.Message`` objects while
the job runs; a snapshot holds them as text in the language of whoever takes it (a page
takes it in its learner's session), so two learners following one job each read their own.
Through Redis they travel as JSON (``encode_text``/``decode_text``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from dlcore.i18n import Message
from dlcore.states import FINISHED_STATES, JobState

BATCH_LOG_LIMIT = 500  # per-batch log rows kept for the live chart (the whole run, thinned)
ETA_MIN_BATCHES = 10  # batches timed after the first (which also traces the model) before an ETA
ETA_MIN_SECONDS = 2.0  # and seconds timed: a steady rate, not a burst of fast batches


SERVICE_UNAVAILABLE = Message(
    "The training service is unavailable right now (its queue server does not answer); "
    "models already trained still load, and new trainings can start as soon as it is back."
)


def public_url(url: str) -> str:
    """The broker URL without its password, fit for a log or the `info` command.

    Example:
        >>> public_url("redis://:s3cret@cache.school:6379/0")
        'redis://cache.school:6379/0'
        >>> public_url("redis://worker:pw@10.0.0.5/1")
        'redis://worker@10.0.0.5/1'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}@{host}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's progress at one moment.

    Attributes:
        state: Where the job is (a JobState).
        epoch: The epoch in progress or last finished, 1-based (0 before the first batch).
        epochs: Epochs planned.
        batch: Batches finished in the current epoch.
        batches_per_epoch: Batches in one epoch (0 until training starts).
        fraction: Overall progress between 0 and 1.
        history: Per-epoch logs so far, one dict per epoch.
        batch_losses: The most recent per-batch logs (dicts with epoch and batch).
        extras: Extras reported with the latest epoch (e.g. the regression curve).
        queue_position: 1-based place in the queue; 0 once running or finished.
        elapsed: Seconds since the job started running (total run time once finished).
        eta: Estimated seconds left, or None when unknown.
        samples_per_second: Training throughput, or None before the first batch.
        error: A plain-language message when the job failed, else None.
        cached: Whether the result came from the cache.
        message: One line describing the state for the page.
        owners: How many owners (learners) still want this job; 0 once nobody does.
        warning: Set when a usable result has a problem worth showing (it could not be
            cached, so it will not survive a restart), else None.
        worker: The Celery worker that trained the job (None: the embedded backend, a
            cache hit, or not started yet).
    """

    state: JobState
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches_per_epoch: int = 0
    fraction: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    batch_losses: list[dict[str, float]] = field(default_factory=list)
    extras: dict = field(default_factory=dict)
    queue_position: int = 0
    elapsed: float = 0.0
    eta: float | None = None
    samples_per_second: float | None = None
    error: str | None = None
    cached: bool = False
    message: str = ""
    warning: str | None = None
    owners: int = 0
    worker: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the job will not change any more."""
        return self.state in FINISHED_STATES


def progress_fraction(epoch: int, epochs: int, batch: int, batches_per_epoch: int) -> float:
    """Overall progress of a running job, between 0 and 1.

    Example:
        >>> progress_fraction(epoch=2, epochs=4, batch=5, batches_per_epoch=10)
        0.375
    """
    if not epochs or not epoch:
        return 0.0
    within = batch / batches_per_epoch if batches_per_epoch else 0.0
    return min(1.0, (epoch - 1 + within) / epochs)


def eta(
    timed_seconds: float, timed_batches: int, fraction: float, total_batches: int
) -> float | None:
    """Seconds left at the rate measured since the first batch ended; None until that rate
    rests on ETA_MIN_BATCHES batches and ETA_MIN_SECONDS seconds.

    The first batch also traces and compiles the model (seconds on a CPU): extrapolating
    from the start of training said "about 1038 s left" for a run of about a minute.

    >>> eta(2.5, 100, 101 / 2580, 2580)  # 25 ms a batch, 2479 batches left
    61.975
    >>> eta(0.2, 9, 10 / 2580, 2580) is None
    True
    """
    if timed_batches < ETA_MIN_BATCHES or timed_seconds < ETA_MIN_SECONDS or not total_batches:
        return None
    return timed_seconds / timed_batches * (1.0 - fraction) * total_batches


class BatchLog:
    """Per-batch logs of the whole run in at most ``limit`` rows, for the live chart.

    Every ``stride``-th batch is kept; when the log is full, every second row goes and the
    stride doubles, so a long run is drawn from its first batch to its last, evenly thinned.

    >>> log = BatchLog(limit=4)
    >>> for n in range(1, 11):
    ...     _ = log.add({"batch": n})
    >>> [row["batch"] for row in log.rows], log.stride
    ([1, 5, 9], 4)
    """

    def __init__(self, limit: int = BATCH_LOG_LIMIT):
        self.limit, self.rows, self.stride, self.seen = limit, [], 1, 0

    def add(self, row: dict) -> bool:
        """Log one batch; True when the kept rows were thinned (not only appended to)."""
        self.seen += 1
        if (self.seen - 1) % self.stride:
            return False
        self.rows.append(row)
        if len(self.rows) <= self.limit:
            return False
        self.rows, self.stride = self.rows[::2], 2 * self.stride
        return True


def throughput(batches_seen: int, batch_size: int, train_seconds: float) -> float | None:
    """Training samples per second, or None before the first batch."""
    if not batches_seen or train_seconds <= 0 or not batch_size:
        return None
    return batches_seen * batch_size / train_seconds


def state_message(state: JobState, queue_position: int, epoch: int, epochs: int) -> Message | None:
    """The line a queued or training job shows; None where the job's own message stands."""
    if state == JobState.QUEUED:
        return Message(
            "Waiting for a free training slot (position {position} in the queue)",
            position=queue_position,
        )
    if state == JobState.RUNNING and epoch:
        return Message("Training: epoch {epoch} of {epochs}", epoch=epoch, epochs=epochs)
    return None


def text(message: Message | str | None) -> str | None:
    """A job's message as the reader reads it now (None stays None, text stays text)."""
    return None if message is None else str(message)


def encode_text(message: Message | str | None) -> str:
    """A message as it is stored in Redis: a Message as its JSON (read again by each reader
    in their language), plain text as it is.

    >>> encode_text(Message("Training"))
    '{"id": "Training", "params": {}}'
    >>> decode_text(encode_text(Message("Training: epoch {epoch} of {epochs}", epoch=1, epochs=2)))
    'Training: epoch 1 of 2'
    """
    if message is None:
        return ""
    if isinstance(message, Message):
        return json.dumps(message.to_json(), ensure_ascii=False)
    return str(message)


def decode_text(stored: str | None) -> str | None:
    """What ``encode_text`` stored, as text in the reader's language ("" stays "")."""
    if not stored or not stored.startswith('{"id"'):
        return stored
    try:
        return str(Message.from_json(json.loads(stored)))
    except (ValueError, KeyError, TypeError):
        return stored


def queue_full(waiting: int) -> Message:
    """Why a new training is refused when the class queue is full (both backends)."""
    return Message(
        "The class queue is full: {count} trainings are already waiting. Try again in a minute.",
        count=waiting,
    )


def unknown_status(status: object) -> Message:
    """The failure of a training that ended in a status nobody knows (both backends)."""
    return Message("Training ended with an unknown status {status}.", status=repr(status))
