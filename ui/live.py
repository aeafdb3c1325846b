"""A reusable live-training panel: follow a dlcore job from any page, across reruns.

The job's key, config and data live in ``st.session_state[state_key]``; the handle comes
back from ``jobs.get(key)`` on every run (or from ``jobs.submit`` again when this process
forgot the job: the cache makes that instant once it finished). While the job is queued or
running, a fragment polls ``handle.snapshot()`` every POLL_SECONDS and redraws only
itself; when the job ends it triggers one full rerun so the page shows the final result.

A job belongs to the sessions that want it: each session owns at most one job per panel
(its state key), so Stop or a new Train withdraws only this learner, and a job that others
joined trains on for them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import streamlit as st

from dlcore import jobs, readable
from dlcore.errors import QueueFull, TrainingServiceUnavailable
from dlcore.i18n import N_, _, ngettext
from dlcore.jobs import JobHandle, JobSnapshot
from dlcore.states import JobState
from ui.runtime import keep_keras_state

Render = Callable[[JobSnapshot, JobHandle], None]
POLL_SECONDS = 0.5
# What a learner reads when a job stopped or was cancelled and has no message of its own.
OUTCOMES = {
    JobState.STOPPED: N_("Training stopped."),
    JobState.CANCELLED: N_("Training cancelled."),
}
SERVICE_POLL_SECONDS = 2.0  # how often a page waiting for the training service retries


# A poll is a script run: without this, each one would reset Keras under the training
# thread and force a full garbage collection (ui/runtime.py; about 10x slower training).
keep_keras_state()


def owner(state_key: str) -> str:
    """This session's owner name for the panel's jobs: one live job per session and panel,
    so training on one page does not withdraw the learner's training on another."""
    session = st.session_state.setdefault("session_owner", uuid.uuid4().hex)
    return f"{session}:{state_key}"


def track(state_key: str, handle: JobHandle, config: Any, data: Any = None) -> None:
    """Remember a submitted job in session state, so reruns and tab changes find it."""
    st.session_state[state_key] = {"key": handle.key, "config": config, "data": data}


def start(state_key: str, config: Any, data: Any = None) -> JobHandle | None:
    """Submit a training for this session and follow it; this session's previous job in the
    panel is withdrawn. A full queue is remembered and shown by the panel; returns None."""
    try:
        handle = jobs.submit(config, data, owner=owner(state_key))
    except (QueueFull, TrainingServiceUnavailable) as exc:
        st.session_state[f"{state_key}_refused"] = exc.message  # read in the language shown
        return None
    st.session_state.pop(f"{state_key}_refused", None)
    st.session_state.pop(f"{state_key}_note", None)
    track(state_key, handle, config, data)
    return handle


def tracked(state_key: str) -> JobHandle | None:
    """The handle of the job this session follows, or None when it follows none, or when
    the shared training service (DLCORE_BROKER_URL) cannot say where the job is right now:
    the session keeps following it, and the panel says so until the service is back."""
    job = st.session_state.get(state_key)
    st.session_state.pop(f"{state_key}_unavailable", None)
    if job is None:
        return None
    try:
        handle = jobs.get(job["key"], owner=owner(state_key))
        if handle is None:  # the process forgot it (restart, or many jobs since)
            handle = jobs.submit(job["config"], job["data"], owner=owner(state_key))
            track(state_key, handle, job["config"], job["data"])
        handle.snapshot()  # reachable now, so the callers' own snapshots are too
    except QueueFull:
        return None  # it waits for a free place in the queue; the learner may retry
    except TrainingServiceUnavailable as exc:
        st.session_state[f"{state_key}_unavailable"] = exc.message
        return None
    return handle


def _others_line(snap: JobSnapshot) -> str | None:
    """Say when other learners wait for the same training (it trains once for all)."""
    if snap.owners < 2:
        return None
    return ngettext(
        "👥 {learners} learners are waiting for this training (you and {count} other): it "
        "trains once for everyone, and Stop only takes you off it.",
        "👥 {learners} learners are waiting for this training (you and {count} others): it "
        "trains once for everyone, and Stop only takes you off it.",
        snap.owners - 1,
        learners=snap.owners,
    )


def _progress_line(snap: JobSnapshot) -> str:
    """Epoch, batch, ETA and throughput in one line."""
    parts = [_("Epoch {epoch} / {epochs}", epoch=snap.epoch, epochs=snap.epochs)]
    if snap.batches_per_epoch:
        parts.append(
            _("batch {batch} / {batches}", batch=snap.batch, batches=snap.batches_per_epoch)
        )
    if snap.eta is not None:
        parts.append(_("about {seconds} s left", seconds=readable.number(snap.eta, 2)))
    elif snap.batch:  # the rate is not steady yet: the first batch also traced the model
        parts.append(_("estimating the time left…"))
    if snap.samples_per_second:
        rate = readable.grouped(snap.samples_per_second)
        parts.append(_("{rate} samples/s", rate=rate))
    return " · ".join(parts)


def show_outcome(snap: JobSnapshot, diverged_hint: str = "") -> None:
    """One clear message for a finished job: done, stopped, diverged, failed or cancelled."""
    if snap.state == JobState.DONE and snap.warning:
        st.warning(snap.warning)  # the result is usable, but something about it needs saying
    elif snap.state == JobState.DONE:
        st.success(snap.message or _("Training finished."))
    elif snap.state == JobState.DIVERGED:
        st.error(diverged_hint or snap.message)
    elif snap.state == JobState.FAILED:
        st.error(snap.error or snap.message or _("Training failed."))
    else:  # stopped or cancelled by the learner
        st.info(snap.message or _(OUTCOMES.get(snap.state, N_("Training ended."))))


def _leave(state_key: str, handle: JobHandle) -> None:
    """Withdraw this learner. A job others still want trains on without them: the page stops
    following it (a later Train with the same settings finds it, or its cached result)."""
    handle.cancel()
    others = handle.snapshot().owners
    if others and not handle.snapshot().finished:
        del st.session_state[state_key]
        st.session_state[f"{state_key}_note"] = others  # said in the language shown
        st.rerun()


def _left_note(others: int) -> str:
    """What a learner who left a training that goes on for others reads."""
    return ngettext(
        "You left this training; it goes on for the {count} other learner who asked for it. "
        "Press Train with the same settings to follow it again, or to get its result from the "
        "cache once it is done.",
        "You left this training; it goes on for the {count} other learners who asked for it. "
        "Press Train with the same settings to follow it again, or to get its result from the "
        "cache once it is done.",
        others,
    )


@st.fragment(run_every=POLL_SECONDS)
def _poll(state_key: str, key: str, render: Render) -> None:
    """Redraw progress and the caller's live charts; one full rerun once the job ends."""
    try:
        handle = jobs.get(key, owner=owner(state_key))
        snap = handle.snapshot() if handle is not None else None
    except TrainingServiceUnavailable as exc:
        st.warning(str(exc))  # this fragment keeps polling; progress shows again once it is back
        return
    if snap is None:
        st.rerun()
    if snap.finished:
        st.rerun()  # the page now shows the final result; this fragment is not called again
    if snap.state == JobState.QUEUED:
        st.info(
            _(
                "Waiting for a free training slot: position {position} in the queue.",
                position=snap.queue_position,
            )
        )
    else:
        st.progress(snap.fraction, text=_progress_line(snap))
    if (others := _others_line(snap)) is not None:
        st.caption(others)
    stop_help = _("Stop after the current batch (others who joined keep training)")
    if st.button(_("⏹ Stop"), key=f"{state_key}_stop", help=stop_help):
        _leave(state_key, handle)
    render(snap, handle)


@st.fragment(run_every=SERVICE_POLL_SECONDS)
def _await_service(state_key: str) -> None:
    """While the training service is down: one full rerun as soon as it answers again."""
    job = st.session_state.get(state_key)
    try:
        handle = jobs.get(job["key"]) if job is not None else None
        if handle is not None:
            handle.snapshot()
    except TrainingServiceUnavailable:
        return
    st.rerun()


def live_panel(state_key: str, render: Render, diverged_hint: str = "") -> JobSnapshot | None:
    """Show the followed job: live while it trains, then its outcome and final charts.

    Args:
        state_key: Session-state key holding the job (page-prefixed, e.g. "reg_job").
        render: Draws the page's charts from a snapshot (and the handle, for the result).
        diverged_hint: Plain-words explanation shown when the run diverged.

    Returns:
        The latest snapshot, or None when this session follows no job.
    """
    if (refused := st.session_state.get(f"{state_key}_refused")) is not None:
        st.warning(str(refused))
    if (others := st.session_state.pop(f"{state_key}_note", None)) is not None:
        st.info(_left_note(others))
    handle = tracked(state_key)
    if (unavailable := st.session_state.get(f"{state_key}_unavailable")) is not None:
        st.warning(str(unavailable))
        _await_service(state_key)
    if handle is None:
        return None
    snap = handle.snapshot()
    if snap.finished:
        show_outcome(snap, diverged_hint)
        render(snap, handle)
    else:
        _poll(state_key, handle.key, render)
    return snap
