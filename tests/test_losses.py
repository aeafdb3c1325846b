"""Losses: Keras' numbers against NumPy formulas, finite differences, the LaTeX shown and the
worked example, plus the helpers behind the Losses page's views."""

import dataclasses
import math
import pickle

import keras
import numpy as np
import pytest

from dlcore import losses, readable
from dlcore.errors import InvalidDataset
from tests.support.latex import latex_sides

RNG = np.random.default_rng(7)
Y = RNG.normal(size=8)
Y_HAT = Y + RNG.normal(scale=1.5, size=8)
LABELS = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0])
PROBABILITIES = RNG.uniform(0.05, 0.95, size=8)
LOGITS = RNG.normal(scale=2.0, size=8)
CLASSES = np.array([0, 3, 1, 2, 3])
ONE_HOT = np.eye(4)[CLASSES]
_scores = RNG.normal(size=(5, 4))
ROWS = np.exp(_scores) / np.exp(_scores).sum(axis=1, keepdims=True)
SIGNS = 2.0 * LABELS - 1.0
SCORES = RNG.normal(size=8)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# (y_true, y_pred, per-sample loss written from the textbook definition)
CASES = {
    "mse": (Y, Y_HAT, lambda t, p: (t - p) ** 2),
    "mae": (Y, Y_HAT, lambda t, p: np.abs(t - p)),
    "huber": (
        Y,
        Y_HAT,
        lambda t, p: np.where(np.abs(t - p) <= 1.0, 0.5 * (t - p) ** 2, np.abs(t - p) - 0.5),
    ),
    "log_cosh": (Y, Y_HAT, lambda t, p: np.log(np.cosh(p - t))),
    "binary_crossentropy": (
        LABELS,
        PROBABILITIES,
        lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p)),
    ),
    "binary_crossentropy_logits": (
        LABELS,
        LOGITS,
        lambda t, z: -(t * np.log(_sigmoid(z)) + (1 - t) * np.log(1 - _sigmoid(z))),
    ),
    "categorical_crossentropy": (ONE_HOT, ROWS, lambda t, p: -np.sum(t * np.log(p), axis=1)),
    "sparse_categorical_crossentropy": (
        CLASSES,
        ROWS,
        lambda c, p: -np.log(p[np.arange(len(c)), c.astype(int)]),
    ),
    "hinge": (SIGNS, SCORES, lambda t, p: np.maximum(0.0, 1.0 - t * p)),
}
# Keras' log-cosh rounds log 2 to float32 even in float64: its numbers are off by ~1.9e-9.
ATOL = {"log_cosh": 3e-9}
# Keras' own float32 classes with default settings, built here independently of dlcore.
KERAS_DEFAULTS = {
    "mse": keras.losses.MeanSquaredError,
    "mae": keras.losses.MeanAbsoluteError,
    "huber": keras.losses.Huber,
    "log_cosh": keras.losses.LogCosh,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
    "binary_crossentropy_logits": lambda: keras.losses.BinaryCrossentropy(from_logits=True),
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "hinge": keras.losses.Hinge,
}


def test_registry_has_every_required_loss():
    assert set(CASES) == set(losses.names())
    assert losses.regression_names() == ["mse", "mae", "huber", "log_cosh"]


@pytest.mark.parametrize("name", list(CASES))
def test_value_is_the_mean_of_per_sample_losses_matching_numpy(name):
    y_true, y_pred, reference = CASES[name]
    loss = losses.get(name)
    expected = reference(y_true, y_pred)
    atol = ATOL.get(name, 1e-12)
    np.testing.assert_allclose(loss.per_sample(y_true, y_pred), expected, rtol=1e-12, atol=atol)
    assert loss.value(y_true, y_pred) == pytest.approx(np.mean(expected), rel=1e-12, abs=atol)


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_central_finite_differences(name):
    y_true, y_pred, _ = CASES[name]
    loss, step = losses.get(name), 1e-6
    numeric = np.zeros_like(y_pred)
    for index in np.ndindex(y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = (loss.value(y_true, up) - loss.value(y_true, down)) / (2 * step)
    gradient = loss.gradient(y_true, y_pred)
    assert gradient.shape == y_pred.shape
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("name", [n for n in CASES if losses.get(n).layout == "pointwise"])
def test_every_side_of_the_shown_formula_equals_keras(name):
    y_true, y_pred, _ = CASES[name]
    loss = losses.get(name)
    env = {"y": y_true, "yhat": y_pred, "z": y_pred, "n": y_true.size, **loss.symbols}
    for side in latex_sides(loss.latex):
        assert side(env) == pytest.approx(
            loss.value(y_true, y_pred), rel=1e-12, abs=1e-12 + ATOL.get(name, 0)
        )


def test_the_seed_cross_entropy_formula_is_one_sample_and_keras_averages_it():
    loss = losses.get("categorical_crossentropy")
    per_sample = [
        latex_sides(loss.latex)[0]({"y": t, "yhat": p}) for t, p in zip(ONE_HOT, ROWS, strict=True)
    ]
    np.testing.assert_allclose(per_sample, loss.per_sample(ONE_HOT, ROWS), rtol=1e-12)
    assert loss.value(ONE_HOT, ROWS) == pytest.approx(np.mean(per_sample), rel=1e-12)


def test_sparse_cross_entropy_is_categorical_cross_entropy_on_one_hot_labels():
    sparse, dense = (
        losses.get("sparse_categorical_crossentropy"),
        losses.get("categorical_crossentropy"),
    )
    np.testing.assert_allclose(sparse.per_sample(CLASSES, ROWS), dense.per_sample(ONE_HOT, ROWS))
    assert r"\frac{1}{N}\sum_{k=1}^{N}" in sparse.latex
    assert r"\frac{\hat{y}_{k,\,c_k}}{\sum_{j}\hat{y}_{k,\,j}}" in sparse.latex  # the division
    # A row with a 0 is clipped: the two differ by at most the 10⁻⁷ the note admits.
    zero_row = np.array([[0.5, 0.5, 0.0]])
    gap = sparse.value([2], zero_row) - dense.value([[0.0, 0.0, 1.0]], zero_row)
    assert 0 < gap <= 1e-7 and "10⁻⁷ of clipping" in sparse.note


def test_sparse_cross_entropy_divides_a_row_that_does_not_add_up_to_one_as_shown():
    """Keras clips, then divides by the row's sum: the formula, the terms and the note say so."""
    rows = np.array([[0.6, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.2]])
    classes = np.array([0, 1, 2])
    formula = -np.mean(np.log(rows[np.arange(3), classes] / rows.sum(axis=1)))
    standard = float(keras.losses.SparseCategoricalCrossentropy()(classes, rows))
    assert formula == pytest.approx(standard, rel=1e-6)
    assert losses.get("sparse_categorical_crossentropy").value(classes, rows) == pytest.approx(
        formula, rel=1e-12
    )
    example = losses.worked_example(
        "sparse_categorical_crossentropy", "0, 1, 2", "0.6 0.2 0.1; 0.1 0.8 0.1; 0.3 0.3 0.2"
    )
    assert example.mean == pytest.approx(formula, rel=1e-12)
    assert example.rescaled == (1, 3) and "Rows 1, 3 of ŷ do not add up to 1" in str(example.note)
    assert [row.term for row in example.rows] == [
        "−log(0.6 ÷ 0.9)",
        "−log(0.8)",
        "−log(0.2 ÷ 0.8)",
    ]
    assert example.rows[0].used == "0.6667, 0.2222, 0.1111"  # 0.6/0.9, 0.2/0.9, 0.1/0.9
    assert example.rows[2].used == "0.375, 0.375, 0.25"
    softmax = losses.worked_example("sparse_categorical_crossentropy", "0", "0.7 0.2 0.1")
    assert softmax.rescaled == () and softmax.note == "" and softmax.rows[0].term == "−log(0.7)"


def test_the_seed_tutorials_formulas_are_shown_exactly():
    assert losses.get("mse").latex == r"MSE = \frac{1}{n}\sum_{i=1}^{n}(y_i - \hat{y}_i)^2"
    assert losses.get("categorical_crossentropy").latex == (
        r"H(y, \hat{y}) = -\sum_{i=1}^{n}y_i \log(\hat{y}_i)"
    )


def test_huber_delta_is_bound_and_its_formula_follows():
    y_true, y_pred = np.array([0.0, 0.0, 0.0]), np.array([0.2, 1.5, -4.0])
    small, large = losses.get("huber", delta=0.3), losses.get("huber", delta=3.0)
    assert small.value(y_true, y_pred) != large.value(y_true, y_pred)
    for loss in (small, large):
        env = {"y": y_true, "yhat": y_pred, "n": 3, **loss.symbols}
        assert latex_sides(loss.latex)[0](env) == pytest.approx(loss.value(y_true, y_pred))
    # Beyond delta the slope is capped at delta / n.
    assert small.gradient(y_true, y_pred)[2] == pytest.approx(-0.3 / 3)


def test_clipping_keeps_a_confidently_wrong_prediction_finite():
    loss = losses.get("binary_crossentropy")
    assert loss.value([1.0], [0.0]) == pytest.approx(-math.log(1e-7), rel=1e-6)


def test_unknown_names_and_parameters_raise_value_error_naming_the_valid_ones():
    with pytest.raises(ValueError, match=r"'rmse'.*mse.*hinge"):
        losses.get("rmse")
    with pytest.raises(ValueError, match=r"'alpha'.*delta"):
        losses.get("huber", alpha=1.0)
    with pytest.raises(ValueError, match="delta"):
        losses.get("huber", delta=0.0)


@pytest.mark.parametrize("name", list(losses.EXAMPLE_INPUTS))
def test_worked_example_equals_keras_losses(name):
    y_text, p_text = losses.EXAMPLE_INPUTS[name]
    example = losses.worked_example(name, y_text, p_text)
    y_true, y_pred = losses.parse_numbers(y_text, "y"), losses.parse_numbers(p_text, "p")
    atol = ATOL.get(name, 1e-15)
    assert example.mean == pytest.approx(example.sum / example.n, rel=1e-15)
    assert example.mean == pytest.approx(example.keras, rel=1e-12, abs=atol)
    standard = float(KERAS_DEFAULTS[name]()(y_true, y_pred))  # float32, as a model reports it
    assert example.mean == pytest.approx(standard, rel=1e-6)
    np.testing.assert_allclose(
        [row.value for row in example.rows],
        losses.get(name).per_sample(y_true, y_pred),
        rtol=1e-12,
        atol=atol,
    )


def test_worked_example_writes_out_each_term():
    example = losses.worked_example("mse", "3, -0.5", "2.5, 0")
    assert [row.term for row in example.rows] == ["(3 − 2.5)²", "(−0.5 − 0)²"]
    assert example.mean == 0.25
    hinge = losses.worked_example("hinge", "1, 0", "0.5, 0.5")
    assert "−1" in str(hinge.note) and hinge.rows[1].y == "−1"
    clipped = losses.worked_example("binary_crossentropy", "1", "0")
    assert "clipped" in str(clipped.rows[0].term)
    assert clipped.mean == pytest.approx(clipped.keras, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "y_text", "p_text", "message"),
    [
        ("mse", "3, x", "1, 2", "'x' is not a number"),
        ("mse", "3, 1", "1, 2, 3", "one prediction per true value"),
        ("mse", "", "1", "empty"),
        ("binary_crossentropy", "1, 0", "0.5, 1.5", "between 0 and 1"),
        ("categorical_crossentropy", "1 0; 0 1", "0.5 0.5 0; 1 0 0", "one-hot row"),
        ("categorical_crossentropy", "1 0; 0 1", "0.5 0.5; 1", "as many numbers"),
        ("sparse_categorical_crossentropy", "0, 3", "0.5 0.5; 0.2 0.8", "0 to 1"),
    ],
)
def test_bad_worked_example_input_is_a_typed_error_in_plain_words(name, y_text, p_text, message):
    with pytest.raises(InvalidDataset, match=message):
        losses.worked_example(name, y_text, p_text)


def test_fitted_constant_is_the_mean_for_mse_the_median_for_mae_and_robust_for_huber():
    data = [*losses.OUTLIER_DATA, 40.0]
    fit = {name: losses.fit_constant(name, data) for name in losses.regression_names()}
    assert fit["mse"] == pytest.approx(np.mean(data), rel=1e-10)
    assert fit["mae"] == pytest.approx(np.median(data), rel=1e-10)
    residuals = np.clip(fit["huber"] - np.array(data), -1.0, 1.0)  # Huber's slope per sample
    assert abs(residuals.sum()) < 1e-9
    # Huber treats the far outlier like MAE does: its fit stays with the crowd, not the mean.
    assert abs(fit["huber"] - fit["mae"]) < 0.1 < 4.0 < fit["mse"] - fit["huber"]


def test_an_outlier_drags_the_mse_fit_but_barely_moves_mae_and_huber():
    calm = losses.outlier_fits(3.0, losses.regression_names()).fits
    wild = losses.outlier_fits(30.0, losses.regression_names()).fits
    assert wild["mse"] - calm["mse"] > 3.5
    assert abs(wild["mae"] - calm["mae"]) < 0.2 and abs(wild["huber"] - calm["huber"]) < 0.3


def test_regression_curves_show_mse_slope_growing_while_mae_and_huber_stay_bounded():
    view = losses.regression_curves(1.0, 2.0, ["mse", "mae", "huber"], delta=1.0)
    assert view.at["mse"] == losses.LossPoint(loss=1.0, gradient=2.0)
    assert view.at["mae"].gradient == 1.0
    far = int(np.argmax(view.y_pred))  # ŷ = 6, five units above the target
    assert view.curves["mse"].gradient[far] == pytest.approx(10.0)
    assert view.curves["mae"].gradient[far] == 1.0
    assert view.curves["huber"].gradient[far] == pytest.approx(1.0)


def test_cross_entropy_keeps_a_strong_gradient_when_confidently_wrong_and_mse_does_not():
    view = losses.classification_view(1, 0.01)
    bce, mse = view.at["binary_crossentropy"], view.at["mse"]
    assert bce.loss == pytest.approx(-math.log(0.01), rel=1e-9)
    assert bce.d_probability == pytest.approx(-1 / 0.01, rel=1e-9)
    assert bce.d_logit == pytest.approx(0.01 - 1, rel=1e-9)
    assert mse.d_logit == pytest.approx(2 * (0.01 - 1) * 0.01 * 0.99, rel=1e-9)
    assert abs(bce.d_logit) > 40 * abs(mse.d_logit)
    with pytest.raises(ValueError, match="probability"):
        losses.classification_view(1, 1.0)


@pytest.mark.parametrize("name", ["binary_crossentropy", "mse"])
@pytest.mark.parametrize("label", [0, 1])
def test_the_shown_classification_slopes_equal_the_tape(name, label):
    view = losses.classification_view(label, 0.3)
    env = {"y": float(label), "yhat": np.asarray(view.p)}
    for key, latex in losses.CLASSIFICATION_GRADIENT_LATEX[name].items():
        np.testing.assert_allclose(
            latex_sides(latex)[0](env), getattr(view.curves[name], key), rtol=1e-9, atol=1e-12
        )


def test_views_are_frozen_and_survive_the_pickling_of_the_page_cache():
    """st.cache_data pickles what a page caches; a view must come back equal, and stay put."""
    views = [
        losses.regression_curves(0.0, 1.0, ["mse"], points=5),
        losses.outlier_fits(10.0, ["mse"]),
        losses.classification_view(1, 0.5, points=5),
        losses.worked_example("mse", "1, 2", "1.5, 2"),
    ]
    for view in views:
        assert pickle.loads(pickle.dumps(view)) == view
        field = dataclasses.fields(view)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(view, field, None)
    assert [field.name for field in dataclasses.fields(losses.ClassificationCurve)] == [
        "loss",
        *losses.CLASSIFICATION_GRADIENT_LATEX["mse"],
    ]


@pytest.mark.parametrize(
    ("classes_text", "rows_text"),
    [
        losses.LABELS_EXAMPLE,
        ("3, 0, 9, 9", "; ".join(" ".join(["0.1"] * 10) for _ in range(4))),  # ten digits
        ("1, 1", "0.05 0.9 0.05; 0.999 0.0005 0.0005"),  # confidently wrong
    ],
)
def test_one_hot_and_class_numbers_give_the_same_loss_as_keras_reports(classes_text, rows_text):
    both = losses.compare_label_encodings(classes_text, rows_text)
    classes = losses.parse_numbers(classes_text, "c").astype(int).reshape(-1)
    rows = np.atleast_2d(losses.parse_numbers(rows_text, "p"))
    one_hot = keras.utils.to_categorical(classes, rows.shape[1])  # as the tutorial encodes
    categorical = float(keras.losses.CategoricalCrossentropy()(one_hot, rows))
    sparse = float(keras.losses.SparseCategoricalCrossentropy()(classes, rows))
    by_hand = -np.mean(np.log(rows[np.arange(len(classes)), classes]))
    assert both.categorical == pytest.approx(categorical, rel=1e-6)
    assert both.sparse == pytest.approx(sparse, rel=1e-6)
    assert both.categorical == pytest.approx(both.sparse, rel=1e-12)
    assert both.sparse == pytest.approx(by_hand, rel=1e-12)
    assert both.classes == rows.shape[1]
    for row, label, hot in zip(both.rows, classes, one_hot, strict=True):
        assert row.label == label and row.one_hot == ", ".join(str(int(v)) for v in hot)
        assert row.categorical == pytest.approx(row.sparse, rel=1e-12)
        assert row.categorical_term.count("log(") == rows.shape[1]  # every class, zeros too
        assert row.sparse_term == f"−log({readable.number(rows[row.sample - 1, label], 4)})"


@pytest.mark.parametrize(
    ("classes_text", "rows_text", "message"),
    [
        ("0, 1", "0.6 0.3; 0.5 0.5", "Row 1 adds up to 0.9, not 1"),
        ("0, 2", "0.5 0.5; 0.2 0.8", "0 to 1"),
        ("0", "0.5 0.5; 0.2 0.8", "one class number per predicted row"),
        ("a", "0.5 0.5", "'a' is not a number"),
    ],
)
def test_bad_label_walkthrough_input_is_a_typed_error_in_plain_words(
    classes_text, rows_text, message
):
    with pytest.raises(InvalidDataset, match=message):
        losses.compare_label_encodings(classes_text, rows_text)


def test_a_worked_example_made_once_reads_in_each_learners_language():
    """The page caches a worked example for every learner: its note, worded terms and
    refusals are Messages, read in the language of whoever shows them."""
    from dlcore import i18n

    example = losses.worked_example("sparse_categorical_crossentropy", "0, 1", "0.6 0.2; 0.5 0.5")
    clipped = losses.worked_example("binary_crossentropy", "1", "0")
    huber = losses.worked_example("huber", "0", "3", delta=1.0)
    example, clipped, huber = pickle.loads(pickle.dumps((example, clipped, huber)))
    with i18n.using("zh"):
        assert str(example.note).startswith("ŷ 的第 1 行之和不为 1")
        assert str(clipped.rows[0].term).endswith("（ŷ 被截断为 1×10⁻⁷）")
        assert str(huber.rows[0].term) == "1·|0 − 3| − ½·1²  （|误差| > δ）"
        assert i18n._(losses.get("hinge").title) == "合页损失（Hinge）"
        with pytest.raises(InvalidDataset) as refused:
            losses.worked_example("mse", "3, 1", "1, 2, 3")
        assert (
            str(refused.value) == "有 2 个真实值，却有 3 个预测值：请为每个真实值给出一个预测值。"
        )
    assert str(example.note).startswith("Row 1 of ŷ does not add up to 1")
    assert str(huber.rows[0].term) == "1·|0 − 3| − ½·1²  (|error| > δ)"
    assert str(refused.value).startswith("There are 2 true values but 3 predictions")
