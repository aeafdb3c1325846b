"""The Losses page: each view reacts to its controls and the worked example matches Keras."""

import math

import numpy as np
import pytest

from dlcore import losses
from tests.app.conftest import page_test


def shown_latex(at) -> list[str]:
    """The formulas on the page, without the $$ fences st.latex wraps them in."""
    return [
        element.value.strip().removeprefix("$$").removesuffix("$$").strip() for element in at.latex
    ]


def rows(at, index: int, key: str) -> dict:
    return {row[key]: row for row in at.dataframe[index].value.to_dict("records")}


def test_moving_the_prediction_shows_mse_punishing_a_bigger_miss_more():
    at = page_test("pages/losses.py").run()
    assert not at.exception
    near = rows(at, 0, "loss")
    assert near["Mean squared error (MSE)"]["loss at ŷ"] == pytest.approx(4.0)  # y = 0, ŷ = 2
    at.slider(key="loss_prediction").set_value(4.0).run()
    assert not at.exception
    far = rows(at, 0, "loss")
    assert far["Mean squared error (MSE)"]["loss at ŷ"] == pytest.approx(16.0)
    assert far["Mean squared error (MSE)"]["slope dL/dŷ"] == pytest.approx(8.0)
    assert far["Mean absolute error (MAE)"]["slope dL/dŷ"] == pytest.approx(1.0)
    assert far["Huber"]["slope dL/dŷ"] == pytest.approx(1.0)
    assert losses.get("mse").latex in shown_latex(at)


def test_the_outlier_drags_the_mse_constant_to_the_mean():
    at = page_test("pages/losses.py").run()
    at.slider(key="loss_outlier").set_value(40.0).run()
    assert not at.exception
    data = [*losses.OUTLIER_DATA, 40.0]
    text = next(m.value for m in at.markdown if m.value.startswith("The constant that"))
    assert f"Mean squared error (MSE) **{np.mean(data):.3f}**" in text
    assert f"Mean absolute error (MAE) **{np.median(data):.3f}**" in text


def test_confidently_wrong_cross_entropy_keeps_a_strong_slope():
    at = page_test("pages/losses.py").run()
    at.slider(key="loss_probability").set_value(0.01).run()
    assert not at.exception
    metrics = [(m.label, m.value) for m in at.metric]
    assert metrics[0] == ("Binary cross-entropy", f"{-math.log(0.01):.4f}")
    assert metrics[1][1] == f"{0.01 - 1:+.4f}"
    assert abs(float(metrics[3][1])) < 0.05  # MSE's slope through the sigmoid has faded
    at.radio(key="loss_true_class").set_value(0).run()
    assert [m.value for m in at.metric][1] == f"{0.01:+.4f}"


def test_worked_example_matches_keras_and_bad_input_is_a_friendly_error():
    at = page_test("pages/losses.py").run()
    at.selectbox(key="loss_we_name").set_value("categorical_crossentropy").run()
    assert not at.exception
    table = at.dataframe[1].value
    assert list(table["this sample's term"]) == ["−(1·log(0.7))", "−(1·log(0.8))", "−(1·log(0.4))"]
    expected = -np.mean(np.log([0.7, 0.8, 0.4]))
    keras_line = next(m.value for m in at.markdown if m.value.startswith("`keras.losses`"))
    assert f"**{expected:.10g}**" in keras_line and "the same number" in keras_line
    assert losses.get("categorical_crossentropy").latex in shown_latex(at)

    at.text_input(key="loss_we_p_categorical_crossentropy").set_value("0.7 0.2 x").run()
    assert not at.exception
    assert "'x' is not a number" in at.error[0].value
