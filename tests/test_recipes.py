"""The tutorial's recipe beside the playground's: the preset is §5.2, each step changes what
its name says, and the comparison's differences and shares follow from the measured runs."""

from __future__ import annotations

import ast

import keras
import pytest

from dlcore.configs import MNIST_TUTORIAL, MnistConfig
from dlcore.recipes import RECIPE_STEPS, TUTORIAL_CODE, Measured, compare

# What each step may change from the one before it, and nothing else.
CHANGED_FIELDS = {
    "batch_size": {"batch_size", "learning_rate"},
    "schedule": {"schedule", "epochs", "train_size", "validation_size"},
    "precision": {"precision"},
}


def _calls(code: str) -> dict[str, ast.Call]:
    """The tutorial code's calls by the name of the attribute called (compile, fit, ...)."""
    calls = {}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            calls.setdefault(node.func.attr, node)
    return calls


def _keywords(call: ast.Call) -> dict[str, object]:
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}


def test_the_tutorial_preset_is_the_code_the_tutorial_prints():
    calls = _calls(TUTORIAL_CODE)
    fit, compiled = _keywords(calls["fit"]), _keywords(calls["compile"])
    assert fit == {"epochs": MNIST_TUTORIAL.epochs}  # no batch_size: Keras' default of 32
    assert MNIST_TUTORIAL.batch_size == 32
    assert compiled["optimizer"] == "adam"
    assert compiled["loss"] == "sparse_categorical_crossentropy"  # not the MSE §5.3 names
    default_rate = keras.optimizers.get(compiled["optimizer"]).learning_rate
    assert MNIST_TUTORIAL.learning_rate == pytest.approx(float(default_rate))
    assert MNIST_TUTORIAL.schedule == "constant" and MNIST_TUTORIAL.precision == "float32"
    # mnist.load_data() gives all 60,000 training images, and the code holds none out.
    assert MNIST_TUTORIAL.train_size == 60_000 and MNIST_TUTORIAL.validation_size == 0


def test_each_step_changes_only_what_its_name_says_and_ends_at_the_default():
    assert RECIPE_STEPS[0].config == MNIST_TUTORIAL
    assert RECIPE_STEPS[-1].config == MnistConfig()
    for before, step in zip(RECIPE_STEPS, RECIPE_STEPS[1:], strict=False):
        old, new = before.config.to_dict(), step.config.to_dict()
        assert {name for name in old if old[name] != new[name]} == CHANGED_FIELDS[step.change]


def test_comparison_of_measured_runs():
    runs = {
        "tutorial": Measured(150.0, 0.9882),
        "batch_size": Measured(100.0, 0.9890),
        "schedule": Measured(80.0, 0.9921),
        "precision": Measured(60.0, 0.9926),
    }
    result = compare(runs)
    assert result.speedup == pytest.approx(150 / 60)
    assert result.seconds_saved == pytest.approx(90.0)
    assert result.accuracy_gain == pytest.approx(0.9926 - 0.9882)
    assert result.shares == pytest.approx(
        {"batch_size": 50 / 90, "schedule": 20 / 90, "precision": 20 / 90}
    )
    assert sum(result.shares.values()) == pytest.approx(1.0)


def test_a_step_not_trained_has_no_share_and_neither_has_the_next():
    runs = {
        "tutorial": Measured(150.0, 0.98),
        "schedule": Measured(80.0, 0.99),
        "precision": Measured(60.0, 0.99),
    }
    result = compare(runs)
    assert result.speedup == pytest.approx(2.5)
    assert result.shares == {
        "batch_size": None,
        "schedule": None,
        "precision": pytest.approx(20 / 90),
    }


def test_without_both_ends_there_is_nothing_to_compare():
    result = compare({"tutorial": Measured(150.0, 0.98), "batch_size": Measured(100.0, 0.98)})
    assert result.playground is None and result.speedup is None and result.accuracy_gain is None
    assert set(result.shares.values()) == {None}


def test_no_time_saved_gives_no_shares_but_still_the_ratio():
    runs = {step.change: Measured(50.0, 0.99) for step in RECIPE_STEPS}
    result = compare(runs)
    assert result.speedup == pytest.approx(1.0) and result.seconds_saved == 0
    assert set(result.shares.values()) == {None}
