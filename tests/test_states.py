"""The shared states: every training status maps to a job state, the sets derive from them."""

import json

from dlcore import states
from dlcore.states import JobState, TrainingStatus


def test_every_training_status_ends_its_job_in_a_finished_state():
    assert set(states.STATE_OF_STATUS) == set(TrainingStatus)
    assert set(states.STATE_OF_STATUS.values()) <= states.FINISHED_STATES


def test_finished_and_live_states_split_the_job_states():
    assert {JobState.QUEUED, JobState.RUNNING} == states.LIVE_STATES
    assert set(JobState) == states.FINISHED_STATES | states.LIVE_STATES
    assert not states.FINISHED_STATES & states.LIVE_STATES


def test_only_complete_runs_are_cached_and_a_stopped_one_is_still_usable():
    assert {"completed", "early_stopped"} == states.CACHEABLE_STATUSES
    assert {"completed", "early_stopped", "stopped"} == states.USABLE_STATUSES


def test_states_are_their_plain_strings_in_json():
    assert json.dumps({"state": JobState.DONE, "status": TrainingStatus.DIVERGED}) == (
        '{"state": "done", "status": "diverged"}'
    )


def test_the_kept_epoch_is_the_best_after_a_stop_and_the_last_otherwise():
    kept = states.kept_epoch
    assert kept(TrainingStatus.COMPLETED, best_epoch=1, epochs_run=3) == 2
    assert kept(TrainingStatus.DIVERGED, best_epoch=0, epochs_run=3) == 2
    assert kept(TrainingStatus.STOPPED, best_epoch=1, epochs_run=3) == 1
    assert kept(TrainingStatus.EARLY_STOPPED, best_epoch=0, epochs_run=4) == 0
    assert kept(TrainingStatus.STOPPED, best_epoch=None, epochs_run=0) is None
