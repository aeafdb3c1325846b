"""The Activations page: the probe, alpha, depth and temperature controls change what is shown."""

import json
import math

import pytest

from dlcore import activations
from tests.app.conftest import page_test


def shown_latex(at) -> list[str]:
    """The formulas on the page, without the $$ fences st.latex wraps them in."""
    return [
        element.value.strip().removeprefix("$$").removesuffix("$$").strip() for element in at.latex
    ]


def probe_table(at) -> dict:
    """The probe table as {activation title: row}."""
    return {row["activation"]: row for row in at.dataframe[0].value.to_dict("records")}


def chart(at, key: str) -> dict:
    """The Plotly spec of the chart with this key, as JSON."""
    for element in at.get("plotly_chart"):
        if key in element.proto.id:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key}")


def test_moving_the_probe_changes_the_numbers_and_relu_saturates_below_zero():
    at = page_test("pages/activations.py").run()
    assert not at.exception
    rows = probe_table(at)
    assert rows["Sigmoid"]["f(x)"] == pytest.approx(1 / (1 + math.exp(-1.0)), rel=1e-9)
    assert not rows["ReLU"]["saturated"]

    at.slider(key="act_probe").set_value(-2.0).run()
    assert not at.exception
    rows = probe_table(at)
    assert rows["Sigmoid"]["f(x)"] == pytest.approx(1 / (1 + math.exp(2.0)), rel=1e-9)
    assert rows["Tanh"]["f'(x)"] == pytest.approx(1 - math.tanh(-2.0) ** 2, rel=1e-9)
    assert rows["ReLU"]["f'(x)"] == 0 and bool(rows["ReLU"]["saturated"])
    latex = shown_latex(at)
    assert activations.get("sigmoid").latex in latex
    assert activations.get("relu").derivative_latex in latex


def test_leaky_relu_alpha_slider_sets_the_negative_slope():
    at = page_test("pages/activations.py").run()
    at.multiselect(key="act_selected").set_value(["leaky_relu", "gelu"]).run()
    at.slider(key="act_probe").set_value(-1.0).run()
    at.slider(key="act_alpha_leaky_relu").set_value(0.05).run()
    assert not at.exception
    rows = probe_table(at)
    assert set(rows) == {"Leaky ReLU", "GELU"}
    assert rows["Leaky ReLU"]["f'(x)"] == pytest.approx(0.05, rel=1e-6)
    assert rows["Leaky ReLU"]["f(x)"] == pytest.approx(-0.05, rel=1e-6)
    assert any("0.05" in caption.value for caption in at.caption)


def test_empty_range_and_empty_selection_are_explained_not_crashed():
    at = page_test("pages/activations.py").run()
    at.slider(key="act_range").set_value((2.0, 2.0)).run()
    assert not at.exception
    assert "range is empty" in at.error[0].value
    at.multiselect(key="act_selected").set_value([]).run()
    assert not at.exception and "at least one activation" in at.info[0].value


def test_more_layers_starve_the_first_sigmoid_layer_more():
    at = page_test("pages/activations.py").run()
    shallow = {m.label: float(m.value.rstrip("×")) for m in at.metric}
    at.slider(key="act_layers").set_value(30).run()
    assert not at.exception
    deep = {m.label: float(m.value.rstrip("×")) for m in at.metric}
    assert deep["Sigmoid: layer 1"] < shallow["Sigmoid: layer 1"] / 1e6
    assert deep["ReLU: layer 1"] > 1e-2
    spec = chart(at, "act_vanishing_chart")
    assert spec["layout"]["yaxis"]["type"] == "log" and len(spec["data"]) == 3


def test_temperature_flattens_the_softmax_bars():
    at = page_test("pages/activations.py").run()
    sharp = chart(at, "act_softmax_chart")["data"][1]["y"]
    assert sum(sharp) == pytest.approx(1.0)
    at.slider(key="act_temperature").set_value(5.0).run()
    assert not at.exception
    flat = chart(at, "act_softmax_chart")["data"][1]["y"]
    assert max(flat) < max(sharp) and sum(flat) == pytest.approx(1.0)
    assert flat == pytest.approx(activations.softmax([2.0, 1.0, 0.1], 5.0).tolist())
    at.slider(key="act_classes").set_value(5).run()
    assert len(chart(at, "act_softmax_chart")["data"][1]["y"]) == 5


def test_the_introduction_names_the_bias_a_neuron_adds():
    """The tutorial (§2.4) stresses weights *and* bias; the page's first words say both."""
    at = page_test("pages/activations.py").run()
    intro = at.markdown[0].value
    assert "weight" in intro and "**bias**" in intro and "+ b" in intro
