"""dlcore.history: one per-epoch row converter for jobs, the regression page and MNIST."""

import numpy as np

from dlcore.history import epoch_rows


def test_a_keras_history_becomes_one_float_row_per_epoch_leaving_out_missing_values():
    history = {"loss": [0.5, np.float32(0.25), 1], "val_loss": [0.6, 0.3]}
    rows = epoch_rows(history)
    assert rows == [{"loss": 0.5, "val_loss": 0.6}, {"loss": 0.25, "val_loss": 0.3}, {"loss": 1.0}]
    assert all(type(value) is float for row in rows for value in row.values())
    assert epoch_rows({}) == [] and epoch_rows({"loss": []}) == []


def test_numbered_rows_start_with_the_epoch_and_renumber_rows_that_had_one():
    assert epoch_rows({"loss": [0.5, 0.25]}, numbered=True) == [
        {"epoch": 1, "loss": 0.5},
        {"epoch": 2, "loss": 0.25},
    ]
    rows = [{"epoch": 9, "loss": 0.5}, {"val_loss": 0.4}]
    numbered = epoch_rows(rows, numbered=True)
    assert numbered == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "val_loss": 0.4}]
    assert list(numbered[0]) == ["epoch", "loss"]


def test_rows_are_new_dicts_never_the_callers():
    rows = [{"loss": 0.5}]
    copied = epoch_rows(rows)
    copied[0]["loss"] = 9.0
    assert rows == [{"loss": 0.5}]
