"""The states a training and a job can be in, as enums the whole code base shares.

They are StrEnums: each member equals its plain string ("done" == JobState.DONE), so the
snapshots, the cache's JSON and the command line's --json output keep their plain values.
This module imports nothing, so pages and light modules use it without TensorFlow.
"""

from __future__ import annotations

from enum import StrEnum


class TrainingStatus(StrEnum):
    """How a call to dlcore.training.train ended."""

    COMPLETED = "completed"  # every epoch ran
    EARLY_STOPPED = "early_stopped"  # no improvement for `patience` epochs; best weights kept
    STOPPED = "stopped"  # the learner stopped it; best weights kept
    DIVERGED = "diverged"  # the loss or a final metric became NaN or infinite


class JobState(StrEnum):
    """Where a background job (dlcore.jobs) is."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"
    DIVERGED = "diverged"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Results that may be cached: complete runs. A stopped or diverged run is shown, never kept.
CACHEABLE_STATUSES = frozenset({TrainingStatus.COMPLETED, TrainingStatus.EARLY_STOPPED})
# Results whose model a learner may use (a stopped run keeps its best epoch).
USABLE_STATUSES = CACHEABLE_STATUSES | {TrainingStatus.STOPPED}
LIVE_STATES = frozenset({JobState.QUEUED, JobState.RUNNING})
FINISHED_STATES = frozenset(JobState) - LIVE_STATES
# How a job ends for each way its training ended.
STATE_OF_STATUS = {
    TrainingStatus.COMPLETED: JobState.DONE,
    TrainingStatus.EARLY_STOPPED: JobState.DONE,
    TrainingStatus.STOPPED: JobState.STOPPED,
    TrainingStatus.DIVERGED: JobState.DIVERGED,
}


def kept_epoch(status: TrainingStatus, best_epoch: int | None, epochs_run: int) -> int | None:
    """The 0-based epoch whose weights a trained model holds, from how its training ended.

    A stop (the learner's, or early stopping's) restores the best epoch seen; a run that
    completed or diverged keeps the weights of its last epoch. None before any epoch.

    Example:
        >>> kept_epoch(TrainingStatus.COMPLETED, best_epoch=1, epochs_run=3)
        2
        >>> kept_epoch(TrainingStatus.STOPPED, best_epoch=1, epochs_run=3)
        1
    """
    if status in (TrainingStatus.STOPPED, TrainingStatus.EARLY_STOPPED):
        return best_epoch
    return epochs_run - 1 if epochs_run > 0 else None
