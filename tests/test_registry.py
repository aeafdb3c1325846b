"""dlcore.registry: one shape of lookup, error and parameter binding for every registry."""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pytest

from dlcore.registry import Hyperparameter, Interval, Parametrized, Registry, log_stops

Entry = namedtuple("Entry", "name value")


def test_get_returns_the_entry_and_names_keep_the_given_order():
    registry = Registry("thing", [Entry("b", 1), Entry("a", 2), Entry("c", 3)])
    assert registry.get("a").value == 2
    assert registry.names() == ("b", "a", "c")
    assert [entry.name for entry in registry] == ["b", "a", "c"] and len(registry) == 3
    assert "c" in registry and "d" not in registry and ["c"] not in registry


@pytest.mark.parametrize("bad", ["d", "", None, 3, ["a"]])
def test_an_unknown_name_is_a_value_error_naming_it_and_the_valid_ones(bad):
    registry = Registry("thing", [Entry("b", 1), Entry("a", 2)])
    with pytest.raises(ValueError, match=r"Unknown thing .*; valid: b, a$") as info:
        registry.get(bad)
    assert repr(bad) in str(info.value)


def test_two_entries_with_one_name_are_refused():
    with pytest.raises(ValueError, match="'a'"):
        Registry("thing", [Entry("a", 1), Entry("a", 2)])


@dataclass(frozen=True)
class Shape(Parametrized):
    name: str
    hyperparameters: tuple[Hyperparameter, ...] = ()
    constants: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, float] = field(default_factory=dict)

    kind = "shape"


SLOPE = Hyperparameter("slope", "slope a", 0.5, 0.0, 1.0, symbol="a", accepts=Interval(0.0))
WIDTH = Hyperparameter("width", "width w", 2.0, 1.0, 4.0)


def test_entries_start_at_the_defaults_and_bind_checked_values():
    shape = Shape("ramp", (SLOPE, WIDTH), constants={"k": 3.0})
    assert dict(shape.params) == {"slope": 0.5, "width": 2.0} == shape.defaults()
    wide = shape.with_params(slope=np.float32(2.0), width=4)
    assert dict(wide.params) == {"slope": 2.0, "width": 4.0}
    assert all(type(value) is float for value in wide.params.values())
    assert wide.symbols == {"k": 3.0, "a": 2.0} and shape.symbols == {"k": 3.0, "a": 0.5}
    assert wide.with_params(width=1.0).params["slope"] == 2.0  # earlier bindings stay
    assert shape.hyperparameter("width") is WIDTH


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"height": 1.0}, r"Unknown parameter 'height' for shape 'ramp'; valid: slope, width"),
        ({"slope": -0.1}, r"ramp slope must be a number in \[0, ∞\), got -0.1"),
        ({"slope": math.inf}, "ramp slope"),
        ({"width": 4.5}, r"ramp width must be a number in \[1, 4\], got 4.5"),
        ({"width": float("nan")}, "ramp width"),
        ({"width": "2"}, "ramp width"),
        ({"width": True}, "ramp width"),
        ({"width": None}, "ramp width"),
    ],
)
def test_unknown_parameters_and_bad_values_are_value_errors(params, message):
    with pytest.raises(ValueError, match=message):
        Shape("ramp", (SLOPE, WIDTH)).with_params(**params)


def test_an_entry_without_parameters_says_so():
    with pytest.raises(ValueError, match="valid: none"):
        Shape("dot").with_params(slope=1.0)
    with pytest.raises(ValueError, match=r"Unknown parameter 'slope' for shape 'dot'; valid: none"):
        Shape("dot").hyperparameter("slope")


def test_an_open_interval_leaves_its_end_out():
    positive = Interval(0.0, open_low=True)
    assert 0.0 not in positive and 5e-324 in positive and math.inf in positive
    assert str(positive) == "(0, ∞)" and str(Interval(1e-05, 10.0)) == "[1×10⁻⁵, 10]"


def test_log_stops_cover_the_range_with_short_numbers():
    assert log_stops(1e-4, 10, (1, 3)) == [
        0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0
    ]  # fmt: skip
    assert log_stops(1, 1000) == [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
    assert Hyperparameter("lr", "α", 0.01, 1e-5, 10.0, log=True).stops((1,)) == [
        1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0
    ]  # fmt: skip
