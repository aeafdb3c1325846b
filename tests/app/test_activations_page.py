"""The Activations page: the probe, alpha, depth and temperature controls change what is shown."""

import base64
import json
import math

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dlcore import activations, i18n, readable
from tests.app.conftest import page_test
from tests.support.i18n import chinese_share, visible_text
from ui import language
from ui.plain_figure import READABLE_AXIS

SUPERSCRIPT_DIGITS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def shown_latex(at) -> list[str]:
    """The formulas on the page, without the $$ fences st.latex wraps them in."""
    return [
        element.value.strip().removeprefix("$$").removesuffix("$$").strip() for element in at.latex
    ]


def probe_table(at) -> dict:
    """The probe table as {activation title: row}."""
    return {row["activation"]: row for row in at.dataframe[0].value.to_dict("records")}


def shown_number(text: str) -> float:
    """The value of a number as dlcore.readable writes it ('−1.2×10⁻⁸', '12,346', '0.5')."""
    text = text.replace("−", "-").replace(",", "")
    mantissa, _, exponent = text.partition("×10")
    return float(mantissa) * 10 ** int(exponent.translate(SUPERSCRIPT_DIGITS) or 0)


def coordinates(trace: dict, axis: str) -> np.ndarray:
    """A trace's x or y values, decoded from the typed-array form Plotly sends NumPy arrays in."""
    data = trace[axis]
    if isinstance(data, dict):
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
    return np.asarray(data, dtype=float)


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
    assert rows["Sigmoid"]["f(x)"] == readable.number(1 / (1 + math.exp(-1.0))) == "0.731"
    assert not rows["ReLU"]["saturated"]

    at.slider(key="act_probe").set_value(-2.0).run()
    assert not at.exception
    rows = probe_table(at)
    assert rows["Sigmoid"]["f(x)"] == readable.number(1 / (1 + math.exp(2.0))) == "0.119"
    assert rows["Tanh"]["f'(x)"] == readable.number(1 - math.tanh(-2.0) ** 2) == "0.0707"
    assert rows["ReLU"]["f'(x)"] == "0" and bool(rows["ReLU"]["saturated"])
    assert any(m.value.startswith("**At x = −2**") for m in at.markdown)
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
    assert rows["Leaky ReLU"]["f'(x)"] == "0.05"
    assert rows["Leaky ReLU"]["f(x)"] == "−0.05"
    assert any("0.05" in caption.value for caption in at.caption)


def test_empty_range_and_empty_selection_are_explained_not_crashed():
    at = page_test("pages/activations.py").run()
    at.slider(key="act_range").set_value((2.0, 2.0)).run()
    assert not at.exception
    assert "range is empty" in at.error[0].value
    at.slider(key="act_range").set_value((-6.0, 6.0)).run()
    at.multiselect(key="act_selected").set_value([]).run()
    assert not at.exception and "at least one activation" in at.info[0].value


def test_more_layers_starve_the_first_sigmoid_layer_more():
    at = page_test("pages/activations.py").run()
    shallow = {m.label: shown_number(m.value) for m in at.metric}
    at.slider(key="act_layers").set_value(30).run()
    assert not at.exception
    deep = {m.label: shown_number(m.value) for m in at.metric}
    engine = activations.vanishing_view(("sigmoid", "tanh", "relu"), 30).curves["sigmoid"]
    assert deep["Sigmoid: layer 1"] == pytest.approx(engine.relative_gradient[0], rel=0.05)
    assert "×10⁻" in next(m.value for m in at.metric if m.label == "Sigmoid: layer 1")
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


def test_the_probe_stays_on_the_plotted_curves_when_the_range_shrinks():
    """A probe outside the plotted range used to leave its dots floating beside the curves:
    the probe slider spans the range, and a probe the range leaves behind moves to its end."""
    at = page_test("pages/activations.py").run()
    at.multiselect(key="act_selected").set_value(["gelu", "relu"]).run()
    at.slider(key="act_range").set_value((-10.0, 6.0)).run()
    at.slider(key="act_probe").set_value(-10.0).run()
    assert not at.exception
    gelu_at_minus_ten = -10 * 0.5 * math.erfc(10 / math.sqrt(2))  # x·Φ(x), about −7.6×10⁻²³
    assert probe_table(at)["GELU"]["f(x)"] == readable.number(gelu_at_minus_ten) == "−7.62×10⁻²³"

    at.slider(key="act_range").set_value((-3.0, 6.0)).run()
    assert not at.exception
    assert at.slider(key="act_probe").value == -3.0
    assert (at.slider(key="act_probe").min, at.slider(key="act_probe").max) == (-3.0, 6.0)
    traces = chart(at, "act_curves_chart")["data"]
    curves = [t for t in traces if t.get("mode") != "markers"]
    dots = [t for t in traces if t.get("mode") == "markers"]
    assert len(dots) == len(curves) == 4  # f and f' of both activations
    for curve, dot in zip(curves, dots, strict=True):
        curve_x, curve_y = coordinates(curve, "x"), coordinates(curve, "y")
        assert coordinates(dot, "x").tolist() == [-3.0] == [curve_x.min()] == [curve_x[0]]
        assert coordinates(dot, "y")[0] == pytest.approx(curve_y[0], abs=1e-12)
    assert probe_table(at)["ReLU"]["f(x)"] == "0"
    assert any(m.value.startswith("**At x = −3**") for m in at.markdown)


def test_every_axis_writes_powers_of_ten_not_si_prefixes():
    at = page_test("pages/activations.py").run()
    for key in ("act_curves_chart", "act_vanishing_chart", "act_softmax_chart"):
        layout = chart(at, key)["layout"]
        axes = [name for name in layout if name.startswith(("xaxis", "yaxis"))]
        assert axes, key
        for name in axes:
            assert READABLE_AXIS.items() <= layout[name].items(), (key, name)


def _zh(message: str) -> str:
    with i18n.using("zh"):
        return i18n._(message)


def chinese_page(**state) -> AppTest:
    """The page read in Chinese (the lookup reads the session's language)."""
    # Importing ui installs the session's lookup once per process; a test that installed
    # another one (tests/test_i18n.py ends with set_resolver(None)) must not leave this page
    # reading English, so install it again.
    i18n.set_resolver(language._session_language)
    at = page_test("pages/activations.py")
    at.session_state["language"] = "zh"
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def test_the_page_reads_in_chinese_with_the_tutorials_terms():
    at = chinese_page()
    assert not at.exception
    text = visible_text(at)
    assert chinese_share(text) > 0.8, text
    assert at.title[0].value.startswith("📈 激活函数（activation functions）")
    intro = at.markdown[0].value
    assert "权重（weight）" in intro and "**偏置**（bias）" in intro and "+ b" in intro
    assert at.header[0].value == "梯度消失（vanishing gradients）"
    # The controls keep their keys and values; only their labels change.
    assert at.slider(key="act_probe").label == "探测点 x"
    assert at.multiselect(key="act_selected").value == ["sigmoid", "tanh", "relu"]
    # The table's headers and the charts' words are Chinese too, read from the table and figure.
    table = at.dataframe[0].value
    assert list(table.columns) == ["激活函数", "f(x)", "f'(x)", "饱和"]
    assert table.set_index("激活函数").loc["Sigmoid", "f(x)"] == "0.731"
    curves = chart(at, "act_curves_chart")["layout"]
    assert curves["yaxis2"]["title"]["text"] == "f'(x)，即斜率"
    vanishing = chart(at, "act_vanishing_chart")["layout"]
    assert vanishing["xaxis"]["title"]["text"] == "层（1 = 紧挨输入的那一层）"
    bars = chart(at, "act_softmax_chart")["data"]
    assert bars[0]["name"] == "T = 1（作对比）" and bars[1]["x"][0] == "类别 1"
    assert {m.label for m in at.metric} == {"Sigmoid：第 1 层", "Tanh：第 1 层", "ReLU：第 1 层"}


def test_the_english_page_has_no_chinese():
    at = page_test("pages/activations.py").run()
    assert not at.exception
    assert chinese_share(visible_text(at)) == 0


def test_the_words_in_a_formula_are_translated_and_the_formula_kept():
    """Hard sigmoid's slope says 'otherwise' in a \\text{…}: Chinese there, the rest as is."""
    at = chinese_page(act_selected=["hard_sigmoid", "leaky_relu"])
    assert not at.exception
    shown = shown_latex(at)
    english = activations.get("hard_sigmoid").derivative_latex
    assert r"\text{otherwise}" in english
    assert english.replace(r"\text{otherwise}", r"\text{其他情况}") in shown
    assert activations.get("hard_sigmoid").latex in shown
    assert at.slider(key="act_alpha_leaky_relu").label == "Leaky ReLU 的 α"
    cards = [m.value for m in at.markdown if m.value.startswith("**硬 Sigmoid**")]
    assert cards == ["**硬 Sigmoid** · 值域 [0, 1] · " + _zh(activations.get("hard_sigmoid").use)]
    assert chinese_share(visible_text(at)) > 0.8


def test_the_empty_range_and_selection_are_explained_in_chinese():
    at = chinese_page(act_range=(2.0, 2.0))
    assert not at.exception and at.error[0].value == "输入范围是空的：请把范围的两端拉开。"
    at = chinese_page(act_selected=[], act_depth_selected=[])
    assert not at.exception
    assert [i.value for i in at.info] == [
        "请至少选择一个激活函数来绘制。",
        "请至少选择一个激活函数来比较。",
    ]
