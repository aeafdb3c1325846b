"""Tests of dlcore.regression: contributions, metrics, predictions, downloads, summaries."""

from __future__ import annotations

import csv
import io
import math

import keras
import numpy as np
import pytest

from dlcore import models, regression
from dlcore.configs import REGRESSION_ACTIVATIONS, RegressionConfig
from dlcore.data import HouseDataset, Scaler, make_house_prices, split_train_test
from dlcore.errors import InvalidDataset
from tests.support.latex import latex_sides


def _random_model(activation: str, units: int = 10, seed: int = 0) -> keras.Model:
    """The demo's MLP with random weights, large enough to bend every activation."""
    model = models.build_regression_mlp(RegressionConfig(hidden_units=units, activation=activation))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 2, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def data():
    return make_house_prices(n_samples=300, noise=0.1, nonlinearity=1.0, seed=3)


# ----------------------------------------------------------------- hidden-unit contributions


@pytest.mark.parametrize("activation", REGRESSION_ACTIVATIONS)
def test_contributions_add_up_to_the_model_prediction(activation, data):
    model = _random_model(activation)
    prep = regression.preprocess(data, RegressionConfig(activation=activation))
    area = regression.area_grid(data, 150)
    parts = regression.hidden_contributions(
        regression.network_weights(model), activation, prep.x_scaler, prep.y_scaler, area
    )
    predicted = regression.predict_prices(model, prep.x_scaler, prep.y_scaler, area)
    assert parts.units.shape == (10, 150)
    # To 1e-5 on the network's own (normalized) output scale, i.e. 1e-5 × the price scale.
    np.testing.assert_allclose(parts.total, predicted, rtol=0, atol=1e-5 * prep.y_scaler.scale)


def test_contributions_use_the_linear_inverse_of_the_price_scaler(data):
    """Unit j contributes scale·w2_j·act(w1_j·x' + b1_j); the bias gives scale·b2 + offset."""
    model = _random_model("tanh", units=3)
    prep = regression.preprocess(data, RegressionConfig(normalization="standard"))
    weights = regression.network_weights(model)
    area = np.array([40.0, 120.0, 240.0])
    parts = regression.hidden_contributions(weights, "tanh", prep.x_scaler, prep.y_scaler, area)
    x_norm = (area - prep.x_scaler.offset) / prep.x_scaler.scale
    for j in range(3):
        by_hand = (
            prep.y_scaler.scale * weights.w2[j] * np.tanh(weights.w1[j] * x_norm + weights.b1[j])
        )
        np.testing.assert_allclose(parts.units[j], by_hand, rtol=1e-12)
    assert parts.baseline == pytest.approx(prep.y_scaler.scale * weights.b2 + prep.y_scaler.offset)


def test_relu_contributions_are_hinges(data):
    """Each ReLU unit is zero on one side of its kink and a straight line on the other."""
    model = _random_model("relu", units=6, seed=5)
    prep = regression.preprocess(data, RegressionConfig())
    weights = regression.network_weights(model)
    area = np.linspace(-200, 500, 701)  # wide enough to cross every kink
    parts = regression.hidden_contributions(weights, "relu", prep.x_scaler, prep.y_scaler, area)
    for j, curve in enumerate(parts.units):
        slope = np.diff(curve) / np.diff(area)
        expected = prep.y_scaler.scale * weights.w2[j] * weights.w1[j] / prep.x_scaler.scale
        flat, linear = np.isclose(slope, 0, atol=1e-6), np.isclose(slope, expected, rtol=1e-6)
        assert np.mean(flat | linear) > 0.99  # only the segment holding the kink is neither
        assert (curve[:-1][flat] == 0).all() and (curve[1:][flat] == 0).all()


def _hand_built_relu_model() -> keras.Model:
    """Five ReLU units on min-max inputs [0, 1], each one case of z = w1·x + b1 on [0, 1]."""
    model = models.build_regression_mlp(RegressionConfig(hidden_units=5))
    w1 = [-0.7, 2.0, 1.0, -1.0, 0.5]  # z at x = 0 and x = 1:
    b1 = [0.0, -3.0, -1.0, 0.5, 0.0]  # [0, -0.7] [-3, -1] [-1, 0] [0.5, -0.5] [0, 0.5]
    w2 = [1.0, 1.0, 1.0, 1.0, 1.0]
    as_f32 = lambda v, shape: np.array(v, dtype=np.float32).reshape(shape)  # noqa: E731
    model.set_weights([as_f32(w1, (1, 5)), as_f32(b1, 5), as_f32(w2, (5, 1)), as_f32([0.1], 1)])
    return model


def test_dead_relu_units_are_those_at_most_zero_over_the_whole_input_range():
    """Units 1-3 never fire on [0, 1] (unit 3 touches 0 only at x = 1); 4 and 5 do."""
    weights = regression.network_weights(_hand_built_relu_model())
    assert regression.dead_relu_units(weights, 0.0, 1.0).tolist() == [0, 1, 2]
    # On [0, 2] the kinks of units 2 (x = 1.5) and 3 (x = 1) lie inside: they fire beyond.
    assert regression.dead_relu_units(weights, 0.0, 2.0).tolist() == [0]


def test_dead_units_get_no_gradient_and_live_units_do():
    """What "dead" means, checked with TensorFlow: over the training inputs, the loss has a
    zero gradient for a dead unit's weight and bias, and a non-zero one for the others."""
    import tensorflow as tf

    model = _hand_built_relu_model()
    x = tf.constant(np.linspace(0.0, 1.0, 101, dtype=np.float32).reshape(-1, 1))
    y = tf.constant(np.full((101, 1), 5.0, dtype=np.float32))  # far from every prediction
    hidden = model.get_layer("hidden")
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x))
    kernel, bias = tape.gradient(loss, [hidden.kernel, hidden.bias])
    no_gradient = (np.asarray(kernel)[0] == 0) & (np.asarray(bias) == 0)
    dead = regression.dead_relu_units(regression.network_weights(model), 0.0, 1.0)
    assert np.flatnonzero(no_gradient).tolist() == dead.tolist()


def test_weights_table_lists_every_unit_and_the_output_bias():
    model = _random_model("relu", units=4)
    weights = regression.network_weights(model)
    table = regression.weights_table(weights)
    assert list(table.index) == ["hidden 1", "hidden 2", "hidden 3", "hidden 4", "output"]
    kernel1, bias1, kernel2, bias2 = model.get_weights()
    np.testing.assert_allclose(table["weight in (w1)"].iloc[:4], kernel1[0])
    np.testing.assert_allclose(table["weight out (w2)"].iloc[:4], kernel2[:, 0])
    np.testing.assert_allclose(table["bias (b1, b2)"], [*bias1, bias2[0]])


# ------------------------------------------------------------------------------- metrics


def _metrics_by_hand(y, p):
    n = len(y)
    mse = sum((a - b) ** 2 for a, b in zip(y, p, strict=True)) / n
    mean = sum(y) / n
    r2 = 1 - sum((a - b) ** 2 for a, b in zip(y, p, strict=True)) / sum((a - mean) ** 2 for a in y)
    mae = sum(abs(a - b) for a, b in zip(y, p, strict=True)) / n
    return {"mse": mse, "rmse": math.sqrt(mse), "mae": mae, "r2": r2}


def test_metrics_equal_their_formulas():
    rng = np.random.default_rng(1)
    y = rng.uniform(1e5, 9e5, 50)
    p = y + rng.normal(0, 4e4, 50)
    got = regression.regression_metrics(y, p)
    for name, value in _metrics_by_hand(list(y), list(p)).items():
        assert got[name] == pytest.approx(value, rel=1e-10), name


def test_r2_is_one_for_a_perfect_fit_zero_for_the_mean_and_negative_when_worse():
    y = np.array([1.0, 3.0, 5.0, 9.0])
    assert regression.regression_metrics(y, y)["r2"] == 1.0
    assert regression.regression_metrics(y, np.full(4, y.mean()))["r2"] == pytest.approx(0.0)
    assert regression.regression_metrics(y, y[::-1])["r2"] < 0
    with pytest.raises(ValueError, match="lengths"):
        regression.regression_metrics(y, y[:3])


# --------------------------------------------------------------------- downloads, summaries


def test_history_csv_has_one_row_per_epoch_with_the_values():
    history = {"loss": [0.5, 0.25, 0.125], "val_loss": [0.6, 0.3, 0.2]}
    rows = list(csv.DictReader(io.StringIO(regression.history_csv(history).decode("utf-8"))))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["val_loss"]) for r in rows] == history["val_loss"]
    as_rows = regression.history_csv([{"loss": 0.5, "val_loss": 0.6}])
    assert as_rows.decode().splitlines() == ["epoch,loss,val_loss", "1,0.5,0.6"]


def test_model_bytes_reload_to_the_same_predictions(tmp_path):
    model = _random_model("sigmoid", units=5)
    path = tmp_path / "downloaded.keras"
    path.write_bytes(models.model_bytes(model))
    again = keras.saving.load_model(path)
    x = np.linspace(0, 1, 7, dtype=np.float32).reshape(-1, 1)
    np.testing.assert_allclose(again.predict_on_batch(x), model.predict_on_batch(x), rtol=1e-6)


def test_remember_run_keeps_the_last_five_and_replaces_a_rerun():
    def summary(key):
        return regression.RunSummary(key, key, (1.0,), (1.0,), {}, "completed")

    runs = []
    for key in "abcdefg":
        runs = regression.remember_run(runs, summary(key))
    assert [r.key for r in runs] == list("cdefg")
    runs = regression.remember_run(runs, summary("d"))
    assert [r.key for r in runs] == list("cefgd")


def test_a_diverged_run_names_the_epoch_whose_loss_was_no_longer_finite():
    rows = [{"loss": 0.4, "val_loss": 0.5}, {"loss": 0.3, "val_loss": 0.4}]
    assert regression.diverged_epoch([*rows, {"loss": np.inf, "val_loss": np.nan}]) == 3
    assert regression.diverged_epoch([{"loss": np.nan}]) == 1  # no finite point to draw
    assert regression.diverged_epoch(rows) == 2  # finite losses: the final metrics were not
    assert regression.diverged_epoch([]) == 1


def test_settings_label_and_divergence_advice_name_the_settings():
    config = RegressionConfig(learning_rate=5.0, activation="tanh", optimizer="adam")
    label = regression.settings_label(config)
    assert "tanh" in str(label) and "adam" in str(label) and "lr 5" in str(label)
    advice = regression.divergence_advice(config)
    assert "too high" in advice and "10× smaller: 0.5" in advice
    small = regression.divergence_advice(RegressionConfig(learning_rate=3e-5))
    assert "learning rate 3×10⁻⁵ is too high" in small and "10× smaller: 3×10⁻⁶" in small


# ------------------------------------------------------------- data that cannot train


def _ten_houses(price, area=None) -> HouseDataset:
    area = np.arange(50.0, 60.0) if area is None else np.asarray(area, dtype=np.float64)
    return HouseDataset(area, np.asarray(price, dtype=np.float64), "test", "m2", "price_eur")


def _seed_where(row: int, in_test: bool) -> int:
    """A split seed that puts the row in the test split (or in the training split)."""
    return next(s for s in range(100) if (row in split_train_test(10, 0.2, s)[1]) == in_test)


@pytest.mark.parametrize("what", ["price", "area"])
def test_a_training_split_whose_values_are_all_equal_is_refused_with_what_to_change(what):
    """Ten houses, one outlier: when the outlier lands in the test split, the training
    houses all share one value and scaling would divide by zero (the page crashed)."""
    values = np.full(10, 100_000.0 if what == "price" else 80.0)
    values[3] = 250_000.0 if what == "price" else 120.0
    data = _ten_houses(values) if what == "price" else _ten_houses(np.arange(10.0) + 1, values)
    unlucky = RegressionConfig(seed=_seed_where(3, in_test=True))
    with pytest.raises(InvalidDataset) as info:
        regression.preprocess(data, unlucky)
    column = "price_eur" if what == "price" else "m2"
    shown = "100,000" if what == "price" else "80"
    assert str(info.value) == (
        f"All 8 training houses have the same {what}, {shown} (column '{column}'): "
        "the network has nothing to learn from. Change the split seed or the share kept "
        f"for testing, or use data whose {what}s vary more."
    )
    lucky = RegressionConfig(seed=_seed_where(3, in_test=False))
    assert regression.preprocess(data, lucky).train_idx.size == 8  # another seed recovers


@pytest.mark.parametrize("normalization", ["minmax", "standard"])
@pytest.mark.parametrize("extreme", [1e308, 1e300, 2e15])
def test_values_too_large_to_compute_with_are_refused_before_training(normalization, extreme):
    """±1e308 overflowed while scaling and was reported as 'values are all the same';
    1e300 trained to NaN metrics. Both are refused, with the reason and the fix."""
    price = np.where(np.arange(10) % 2, extreme, -extreme) * (1 + np.arange(10) / 100)
    config = RegressionConfig(normalization=normalization)
    with pytest.raises(InvalidDataset) as info:
        regression.preprocess(_ten_houses(price), config)
    message = str(info.value)
    assert message.startswith("The prices are too large to compute with: row 1 has −")
    assert "Values up to 1×10¹⁵ in size are supported" in message
    assert "squaring such numbers overflows" in message and "use a larger unit" in message
    assert "same" not in message
    fine = _ten_houses(np.linspace(-1e15, 1e15, 10))  # the bound itself is accepted
    assert regression.preprocess(fine, config).y_scaler.scale > 0


def test_a_value_that_is_not_a_number_is_refused_before_training():
    price = np.arange(10.0) * 1000
    price[4] = np.nan
    with pytest.raises(InvalidDataset, match=r"The price on row 5 \('price_eur'\) is NaN"):
        regression.preprocess(_ten_houses(price), RegressionConfig())


# ------------------------------------------------------------- with a real (tiny) training run


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    """A 3-epoch run on 300 houses through jobs (as the page does), in an empty cache."""
    from dlcore import jobs

    mp = pytest.MonkeyPatch()
    mp.setenv("DLCORE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    config = RegressionConfig(epochs=3, batch_size=16, optimizer="adam", learning_rate=0.05)
    handle = jobs.submit(config, data)
    assert handle.wait(120)
    yield handle, handle.result()
    mp.undo()


def test_preview_preprocessing_is_what_training_used(trained, data):
    _, result = trained
    prep = regression.preprocess(data, result.config)
    np.testing.assert_array_equal(prep.train_idx, result.extras["train_idx"])
    np.testing.assert_array_equal(prep.test_idx, result.extras["test_idx"])
    assert prep.x_scaler == result.extras["x_scaler"]
    assert prep.y_scaler == result.extras["y_scaler"]


def test_trained_contributions_add_up_to_the_trained_prediction(trained, data):
    _, result = trained
    grid = regression.area_grid(data, 50)
    parts = regression.hidden_contributions(
        regression.network_weights(result.model),
        result.config.activation,
        result.extras["x_scaler"],
        result.extras["y_scaler"],
        grid,
    )
    scale = result.extras["y_scaler"].scale
    predicted = regression.result_prices(result, grid)
    np.testing.assert_allclose(parts.total, predicted, rtol=0, atol=1e-5 * scale)


def test_shown_metrics_equal_the_formulas_on_the_test_houses(trained, data):
    _, result = trained
    idx = result.extras["test_idx"]
    by_hand = _metrics_by_hand(
        list(data.price[idx]), list(regression.result_prices(result, data.area[idx]))
    )
    for name, value in by_hand.items():
        assert result.metrics[f"test_{name}"] == pytest.approx(value, rel=1e-9), name
        assert regression.test_metrics(result, data)[name] == pytest.approx(value, rel=1e-9)


def test_predict_price_flags_areas_outside_the_training_range(trained, data):
    _, result = trained
    low, high = regression.training_range(result, data)
    assert low == data.area[result.extras["train_idx"]].min()
    inside = (low + high) / 2
    price, extrapolating = regression.predict_price(result, inside, data)
    assert not extrapolating
    assert price == pytest.approx(regression.result_prices(result, [inside])[0])
    assert regression.predict_price(result, low, data)[1] is False  # the edge was seen
    assert regression.predict_price(result, high + 1, data)[1] is True
    assert regression.predict_price(result, max(low - 1, 0.5), data)[1] is True


def test_run_summary_expresses_the_loss_as_rmse_in_currency(trained):
    handle, result = trained
    summary = regression.run_summary(handle.key, result)
    scale = result.extras["y_scaler"].scale
    np.testing.assert_allclose(summary.test_rmse, scale * np.sqrt(result.history["val_loss"]))
    assert len(summary.train_rmse) == 3 and summary.status == "completed"
    assert summary.label == regression.settings_label(result.config)


def test_scaler_formula_shown_is_the_transform_computed(trained, data):
    _, result = trained
    for scaler, name in ((result.extras["x_scaler"], "area"), (result.extras["y_scaler"], "price")):
        _assert_formula_computes_the_scaler(scaler, name)


@pytest.mark.parametrize(
    ("offset", "scale", "shown"),
    [
        (2524420.3, 3_870_123.9, r"\frac{\text{price} - 2{,}524{,}420}{3{,}870{,}120}"),
        (-1234.5678, 2000.25, r"\frac{\text{price} + 1234.57}{2000.25}"),
        (3.2e-9, 1.5e-8, r"\frac{\text{price} - 3.2 \times 10^{-9}}{1.5 \times 10^{-8}}"),
    ],
)
def test_scaler_formula_writes_readable_numbers_that_still_compute_the_scaler(offset, scale, shown):
    """2.52442e+06 was shown for a price offset; readable.latex writes 2{,}524{,}420."""
    scaler = Scaler("minmax", offset, scale)
    assert regression.scaler_latex(scaler, "price") == rf"\text{{price}}' = {shown}"
    assert "e+" not in regression.scaler_latex(scaler, "price", inverse=True)
    _assert_formula_computes_the_scaler(scaler, "price")


def _assert_formula_computes_the_scaler(scaler: Scaler, name: str) -> None:
    """Both formulas shown, evaluated as LaTeX, compute transform and inverse
    to the 6 significant digits shown (each number within 5×10⁻⁶ of its own size)."""
    x = scaler.offset + scaler.scale * np.array([-0.5, 0.0, 0.3, 1.0, 2.0])
    forward = latex_sides(regression.scaler_latex(scaler, name))[0]({name: x})
    np.testing.assert_allclose(forward, scaler.transform(x), rtol=1e-5, atol=1e-5)
    scaled = np.array([-0.5, 0.0, 0.3, 1.0, 2.0])
    back = latex_sides(regression.scaler_latex(scaler, name, inverse=True))[0]({f"{name}'": scaled})
    np.testing.assert_allclose(back, scaler.inverse(scaled), rtol=1e-5, atol=1e-5 * scaler.scale)


def test_a_too_high_learning_rate_ends_diverged_through_jobs(tmp_path, monkeypatch, data):
    from dlcore import cache, jobs

    monkeypatch.setenv("DLCORE_CACHE_DIR", str(tmp_path))
    config = RegressionConfig(learning_rate=10.0, optimizer="sgd", epochs=50)
    handle = jobs.submit(config, data)
    assert handle.wait(120)
    snap = handle.snapshot()
    assert snap.state == "diverged"
    assert snap.epoch < 50  # stopped at once, not after all epochs
    assert not np.isfinite([row["loss"] for row in snap.batch_losses]).all()
    assert cache.load(handle.key) is None  # a diverged run is never cached
    summary = regression.run_summary(handle.key, handle.result())
    assert summary.status == "diverged"
    assert summary.diverged_at == len(handle.result().history["loss"]) < 50  # its last epoch
