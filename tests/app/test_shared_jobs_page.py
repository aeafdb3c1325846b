"""AppTest: several learners on one server share jobs fairly (issue 10, jobs and owners).

Each AppTest is its own session in this process, so two of them are two learners sharing
dlcore.jobs. Training is held at a gate until the test lets it go, so a test sees the job
while it is queued or running; after the gate it is the real training.
"""

from __future__ import annotations

import threading

import pytest

from dlcore import cache, i18n, jobs, training
from tests.app.conftest import page_test

SMALL = {"reg_n": 50, "reg_epochs": 3, "reg_batch": 64}
WAIT = 120


@pytest.fixture
def gate(monkeypatch):
    """Hold every training before its first step until the test sets the gate."""
    gate = threading.Event()

    def gated_train(config, data, *, progress, stop_event):
        while not gate.wait(0.01) and not stop_event.is_set():
            pass
        return training.train(config, data, progress=progress, stop_event=stop_event)

    monkeypatch.setattr(jobs, "_default_trainer", gated_train)
    yield gate
    gate.set()
    with jobs._cond:
        live = [job for job in jobs._registry.values() if not job.done_event.is_set()]
    for job in live:
        assert job.done_event.wait(WAIT)


def _run(at):
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _learner(**widgets):
    """A new session on the regression page with the given widget values, Train pressed."""
    at = _run(page_test("pages/regression.py"))
    for key, value in {**SMALL, **widgets}.items():
        at.session_state[key] = value
    at.button(key="reg_train").click()
    return _run(at)


def _handle(at) -> jobs.JobHandle:
    return jobs.get(at.session_state["reg_job"]["key"])


def _live_jobs() -> list:
    with jobs._cond:
        return [job for job in jobs._registry.values() if not job.done_event.is_set()]


def test_two_learners_share_a_job_and_one_leaving_does_not_stop_it(gate):
    alice, bob = _learner(), _learner()
    handle = _handle(alice)
    assert _handle(bob).key == handle.key and handle.snapshot().owners == 2
    assert any("2 learners are waiting for this training" in c.value for c in bob.caption)

    alice.button(key="reg_job_stop").click()  # Alice leaves; Bob still wants the model
    _run(alice)
    assert handle.snapshot().owners == 1 and not handle.snapshot().finished
    assert "reg_job" not in alice.session_state  # her page no longer follows it...
    assert any("You left this training" in info.value for info in alice.info)  # ...and says so
    gate.set()
    assert handle.wait(WAIT)
    assert handle.snapshot().state == "done" and cache.load(handle.key) is not None
    assert _run(bob).success[0].value.startswith("Trained in")


def test_pressing_train_again_with_new_settings_leaves_one_job(gate):
    at = _learner(reg_seed=1)
    first = _handle(at)
    at.session_state["reg_seed"] = 2
    at.button(key="reg_train").click()
    _run(at)
    assert first.wait(WAIT) and first.snapshot().state in ("cancelled", "stopped")
    assert [job.key for job in _live_jobs()] == [_handle(at).key]


def test_a_full_queue_is_refused_with_a_message(gate, monkeypatch):
    monkeypatch.setenv("DLCORE_MAX_QUEUED", "1")
    _learner(reg_seed=1)  # trains (held at the gate)
    _learner(reg_seed=2)  # waits: the queue is now full
    late = _learner(reg_seed=3)
    assert "The class queue is full" in late.warning[0].value
    assert "reg_job" not in late.session_state
    assert len(_live_jobs()) == 2
    _run(late)  # the page keeps working on the next rerun
    assert "The class queue is full" in late.warning[0].value


def _chinese(at):
    """Run a Chinese session. AppTest formats the widget values it sends back with their
    format_func in this thread, outside the session: so in the session's language."""
    with i18n.using("zh"):
        return _run(at)


def test_two_learners_in_two_languages_follow_one_job_each_in_their_own(gate):
    """One job, two sessions: the live panel and the job's own messages are read in each
    learner's language, also while the job reports progress from its thread."""
    alice = _learner()
    bob = page_test("pages/regression.py")
    bob.session_state["language"] = "zh"
    _chinese(bob)
    for key, value in SMALL.items():
        bob.session_state[key] = value
    bob.button(key="reg_train").click()
    _chinese(bob)
    handle = _handle(alice)
    assert _handle(bob).key == handle.key and handle.snapshot().owners == 2
    _run(alice), _chinese(bob)
    assert any("2 learners are waiting for this training" in c.value for c in alice.caption)
    assert any("有 2 位学习者在等这次训练" in c.value for c in bob.caption)
    assert not any("learners are waiting" in c.value for c in bob.caption)
    gate.set()
    assert handle.wait(WAIT)
    assert _run(alice).success[0].value.startswith("Trained in")
    assert _chinese(bob).success[0].value.startswith("训练用时")
