"""A crafted request cannot make the server train something absurd.

Streamlit widgets clamp what a browser sends, but a request can be forged; the frozen
configs are the last line. Every field of MnistConfig and RegressionConfig refuses
out-of-range, non-finite and wrongly typed values with ValueError, and whatever they
accept stays inside what a shared classroom server can afford (LIMITS below, written
independently of the configs). The pages give every free-input widget explicit bounds:
numbers a min and a max, text a max_chars, files a type allowlist (AST scan of pages/).
"""

from __future__ import annotations

import ast
import importlib
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlcore.configs import MNIST_QUICK, MnistConfig, RegressionConfig

REPO = Path(__file__).resolve().parents[1]

# What the server may be asked to train, at most: (low, high) per numeric field.
LIMITS = {
    MnistConfig: {
        "epochs": (1, 50),
        "batch_size": (8, 2048),
        "learning_rate": (1e-6, 1.0),
        "conv1_filters": (1, 256),
        "conv2_filters": (1, 256),
        "dense_units": (1, 1024),
        "dropout": (0.0, 0.9),
        "train_size": (100, 60_000),
        "validation_size": (0, 10_000),
        "seed": (0, 2**31 - 1),
    },
    RegressionConfig: {
        "hidden_units": (1, 256),
        "learning_rate": (1e-6, 10.0),
        "epochs": (1, 2000),
        "batch_size": (1, 4096),
        "test_fraction": (0.05, 0.5),
        "seed": (0, 2**31 - 1),
    },
}
WHOLE = {"epochs", "batch_size", "conv1_filters", "conv2_filters", "dense_units", "seed"}
WHOLE |= {"train_size", "validation_size", "hidden_units"}
MAX_CNN_PARAMETERS = 10_000_000  # ~40 MB of float32 weights, per model in memory and cache

CRAFTED = [
    -1,
    0,
    10**9,
    10**100,
    -(10**9),
    float("nan"),
    float("inf"),
    float("-inf"),
    1e308,
    -1e-300,
    True,
    False,
    None,
    "3",
    "1e9",
    b"3",
    [3],
    {"value": 3},
    3 + 0j,
]


def _cases():
    for config_type, limits in LIMITS.items():
        for name, (low, high) in limits.items():
            for value in CRAFTED:
                in_range = (
                    isinstance(value, (int, float))
                    and not isinstance(value, bool)
                    and math.isfinite(value)
                    and low <= value <= high
                    and (name not in WHOLE or isinstance(value, int))
                )
                if not in_range:
                    yield pytest.param(config_type, name, value, id=f"{config_type.kind}-{name}")
            if name in WHOLE:  # a float for a count, even a whole one, is refused
                yield pytest.param(config_type, name, float(low + 1), id=f"float-for-{name}")


@pytest.mark.parametrize(("config_type", "name", "value"), list(_cases()))
def test_crafted_value_is_refused(config_type, name, value):
    with pytest.raises(ValueError, match=name):
        config_type(**{name: value})


CHOICES = [
    (MnistConfig, "optimizer"),
    (MnistConfig, "schedule"),
    (MnistConfig, "precision"),
    (RegressionConfig, "optimizer"),
    (RegressionConfig, "activation"),
    (RegressionConfig, "normalization"),
]


@pytest.mark.parametrize(("config_type", "name"), CHOICES)
def test_unknown_choice_is_refused(config_type, name):
    for value in ("../../etc/passwd", "ADAM", "", None, 0, "adam; import os"):
        with pytest.raises(ValueError, match=name):
            config_type(**{name: value})


def test_flags_must_be_booleans():
    for value in (1, 0, "True", None, 2.0):
        with pytest.raises(ValueError):
            MnistConfig(batch_norm=value)
        with pytest.raises(ValueError):
            MnistConfig(augment=value)


def test_training_and_validation_images_cannot_exceed_the_training_set():
    with pytest.raises(ValueError, match="60,000"):
        MnistConfig(train_size=60_000, validation_size=1)


ANY_VALUE = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    config_type=st.sampled_from([MnistConfig, RegressionConfig]),
    changes=st.dictionaries(
        st.sampled_from(sorted({n for limits in LIMITS.values() for n in limits})), ANY_VALUE
    ),
)
def test_whatever_a_config_accepts_is_affordable(config_type, changes):
    changes = {k: v for k, v in changes.items() if k in config_type.__dataclass_fields__}
    try:
        config = config_type(**changes)
    except ValueError:
        return
    for name, (low, high) in LIMITS[config_type].items():
        value = getattr(config, name)
        assert not isinstance(value, bool)
        assert isinstance(value, int) if name in WHOLE else isinstance(value, (int, float))
        assert math.isfinite(value) and low <= value <= high, (name, value)


def test_the_largest_cnn_allowed_stays_small():
    """At the widest settings, the CNN has under 10 M parameters (about 40 MB)."""
    from dlcore.mnist_views import parameter_table

    widest = MnistConfig(
        conv1_filters=256, conv2_filters=256, dense_units=1024, batch_norm=True, train_size=2_000
    )
    parameters = sum(row.count for row in parameter_table(widest))
    assert parameters <= MAX_CNN_PARAMETERS
    assert parameters > sum(row.count for row in parameter_table(MNIST_QUICK))


# What a whole run may cost, written independently of dlcore.configs: the default recipe's
# arithmetic is ~1 minute on 2 CPU cores, a run may use 10x that and 30,000 steps.
MAX_WORK, MAX_MNIST_STEPS, MAX_REGRESSION_STEPS = 10.0, 30_000, 100_000


def test_the_work_estimate_counts_the_arithmetic_of_the_real_network():
    """Multiply-adds per image from the built Keras model's own layer shapes."""
    from dlcore import models

    for config in (MnistConfig(), MnistConfig(conv1_filters=7, conv2_filters=5, dense_units=3)):
        total = 0
        for layer in models.build_cnn(config).layers:
            if layer.__class__.__name__ == "Conv2D":
                _, h, w, filters = layer.output.shape
                total += h * w * filters * 9 * layer.input.shape[-1]
            elif layer.__class__.__name__ == "Dense":
                total += layer.input.shape[-1] * layer.units
        assert config.multiply_adds_per_image == total
    assert MnistConfig().work == pytest.approx(1.0)
    assert MNIST_QUICK.work == pytest.approx(2 * 12_000 / (3 * 55_000))
    assert MnistConfig().steps == 3 * 860


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"epochs": 50}, "16.7× the default recipe"),  # 50 epochs of 55,000 images
        ({"conv1_filters": 256, "conv2_filters": 256, "dense_units": 1024}, "the limit is 10×"),
        ({"batch_size": 8, "epochs": 5}, "34,375 optimizer steps"),
    ],
)
def test_a_run_that_would_hold_the_training_slot_too_long_is_refused(changes, words):
    from dlcore.errors import TrainingTooLarge

    with pytest.raises(TrainingTooLarge, match=words):
        MnistConfig(**changes)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    epochs=st.integers(1, 50),
    batch=st.sampled_from([8, 16, 32, 64, 128, 256, 512, 1024, 2048]),
    train=st.integers(100, 55_000),
    widths=st.tuples(st.integers(1, 256), st.integers(1, 256), st.integers(1, 1024)),
)
def test_every_mnist_run_accepted_is_affordable(epochs, batch, train, widths):
    try:
        config = MnistConfig(
            epochs=epochs,
            batch_size=batch,
            train_size=train,
            conv1_filters=widths[0],
            conv2_filters=widths[1],
            dense_units=widths[2],
        )
    except ValueError:
        return
    assert epochs * math.ceil(train / batch) <= MAX_MNIST_STEPS
    default = MnistConfig()
    work = epochs * train * config.multiply_adds_per_image
    assert work <= MAX_WORK * 3 * 55_000 * default.multiply_adds_per_image


def test_regression_steps_depend_on_the_data_and_are_capped():
    from dlcore.errors import TrainingTooLarge

    default = RegressionConfig()
    assert default.steps(800) == 200 * 25
    default.check_steps(800)
    RegressionConfig(batch_size=8).check_steps(4_000)  # exactly 100,000 steps
    with pytest.raises(TrainingTooLarge, match="160,000 optimizer steps; the limit is 100,000"):
        RegressionConfig(batch_size=1).check_steps(800)
    with pytest.raises(ValueError):  # a TrainingTooLarge is a ValueError: pages catch both
        RegressionConfig(epochs=2000, batch_size=256).check_steps(80_000)


# ---------------------------------------------------------------------------------------
# Widgets in pages/: explicit bounds on free input
# ---------------------------------------------------------------------------------------

PAGE_SOURCES = sorted([REPO / "app.py", *(REPO / "pages").glob("*.py")])
NUMBER_WIDGETS = {"number_input", "slider"}
TEXT_WIDGETS = {"text_input", "text_area", "chat_input"}


class Unresolvable(Exception):
    """A starred argument the scan cannot follow to a value."""


class Scope:
    """Names bound by imports and simple assignments, per function and per module."""

    def __init__(self, tree: ast.Module):
        self.imports: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name.split(".")[0]] = alias.name
        self.assigned: dict[int, dict[str, ast.expr]] = {}  # id(function or module) -> names
        for owner in [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))]:
            self.assigned[id(owner)] = _assignments(owner)

    def value(self, node: ast.expr, owners: list[ast.AST]):
        """Evaluate a name/attribute/subscript/constant expression, or raise Unresolvable."""
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Tuple):
            return tuple(self.value(item, owners) for item in node.elts)
        if isinstance(node, ast.Attribute):
            return getattr(self.value(node.value, owners), node.attr)
        if isinstance(node, ast.Subscript):
            return self.value(node.value, owners)[self.value(node.slice, owners)]
        if isinstance(node, ast.Name):
            for owner in reversed(owners):
                bound = self.assigned[id(owner)].get(node.id)
                if bound is not None:
                    return self.value(bound, owners)
            if node.id in self.imports:
                return _import(self.imports[node.id])
        raise Unresolvable(ast.unparse(node))


def _assignments(owner: ast.AST) -> dict[str, ast.expr]:
    names: dict[str, ast.expr] = {}
    body = owner.body if hasattr(owner, "body") else []
    for node in body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target, value = node.targets[0], node.value
        if isinstance(target, ast.Name):
            names[target.id] = value
        elif isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple):
            for name, item in zip(target.elts, value.elts, strict=False):
                if isinstance(name, ast.Name):
                    names[name.id] = item
    return names


def _import(dotted: str):
    try:
        return importlib.import_module(dotted)
    except ImportError:
        module, _, attr = dotted.rpartition(".")
        return getattr(importlib.import_module(module), attr)


def _widget_calls(path: Path):
    """(call, enclosing owners) for every widget call in a file."""
    tree = ast.parse(path.read_text())
    scope = Scope(tree)
    found = []

    def visit(node: ast.AST, owners: list[ast.AST]) -> None:
        if isinstance(node, ast.FunctionDef):
            owners = [*owners, node]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            found.append((node, owners))
        for child in ast.iter_child_nodes(node):
            visit(child, owners)

    visit(tree, [tree])
    return scope, found


def _positional(call: ast.Call, scope: Scope, owners) -> list:
    """Positional arguments, with starred ones expanded (values as AST or resolved)."""
    items: list = []
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            items.extend(scope.value(arg.value, owners))  # raises Unresolvable
        else:
            items.append(arg)
    return items


def _given(item) -> bool:
    """Whether an argument is present and not None."""
    if isinstance(item, ast.expr):
        return not (isinstance(item, ast.Constant) and item.value is None)
    return item is not None


def _problems(path: Path) -> list[str]:
    scope, calls = _widget_calls(path)
    problems = []
    for call, owners in calls:
        kind, where = call.func.attr, f"{path.relative_to(REPO)}:{call.lineno}"
        keywords = {kw.arg: kw.value for kw in call.keywords if kw.arg}
        if kind in NUMBER_WIDGETS:
            try:
                args = _positional(call, scope, owners)
            except (Unresolvable, AttributeError, KeyError, TypeError) as exc:
                problems.append(f"{where}: {kind} bounds cannot be checked ({exc})")
                continue
            low = keywords.get("min_value", args[1] if len(args) > 1 else None)
            high = keywords.get("max_value", args[2] if len(args) > 2 else None)
            if not (_given(low) and _given(high)):
                problems.append(f"{where}: {kind} without explicit min_value and max_value")
        elif kind in TEXT_WIDGETS and not _given(keywords.get("max_chars")):
            problems.append(f"{where}: {kind} without max_chars")
        elif kind == "file_uploader":
            allow = keywords.get("type", call.args[1] if len(call.args) > 1 else None)
            if not _given(allow):
                problems.append(f"{where}: file_uploader without a type= allowlist")
    return problems


@pytest.mark.parametrize("path", PAGE_SOURCES, ids=lambda p: p.name)
def test_free_input_widgets_have_explicit_bounds(path):
    assert _problems(path) == []


def test_the_widget_scan_catches_unbounded_widgets(tmp_path, monkeypatch):
    """The scan can fail: each unbounded widget below is reported, the bounded ones not."""
    source = tmp_path / "page.py"
    source.write_text(
        "import streamlit as st\n"
        "from dlcore.mnist_views import CONTROL_BOUNDS\n"
        "def controls():\n"
        "    b = CONTROL_BOUNDS\n"
        "    st.number_input('ok', *b['epochs'])\n"
        "    st.slider('ok', 0, 10)\n"
        "    st.number_input('ok', min_value=0, max_value=9)\n"
        "    st.number_input('no max', 0)\n"
        "    st.slider('no bounds')\n"
        "    st.number_input('None max', 0, None)\n"
        "    st.text_input('free text')\n"
        "    st.file_uploader('any file')\n"
        "    st.number_input('unknown', *unknown_bounds)\n"
    )
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    lines = [int(problem.split(":")[1]) for problem in _problems(source)]
    assert lines == [8, 9, 10, 11, 12, 13]
