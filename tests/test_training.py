"""Tests of dlcore.training: tiny seeded MNIST and regression runs, stop, divergence."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from dlcore import data, house_prices, training
from dlcore.configs import MnistConfig, RegressionConfig
from dlcore.errors import InvalidDataset

TINY_MNIST = MnistConfig(train_size=500, validation_size=100, epochs=1, batch_size=50)


class RecordingSink:
    """A ProgressSink that records every call, optionally setting a stop event."""

    def __init__(self, stop_event=None, stop_at=None):
        self.begin, self.batches, self.epochs = None, [], []
        self.stop_event, self.stop_at = stop_event, stop_at

    def on_train_begin(self, epochs, batches_per_epoch):
        self.begin = (epochs, batches_per_epoch)

    def on_batch_end(self, epoch, batch, logs):
        self.batches.append((epoch, batch, logs))
        if self.stop_at == (epoch, batch):
            self.stop_event.set()

    def on_epoch_end(self, epoch, logs, extras):
        self.epochs.append((epoch, logs, extras))


def _small_mnist(n_test: int = 500):
    """The training images with a smaller test set, to keep the tests quick."""
    (x, y), (x_test, y_test) = data.load_mnist()
    return (x, y), (x_test[:n_test], y_test[:n_test])


def _val_accuracy(result) -> float:
    """Accuracy of the returned model on the validation images (the last 100)."""
    (x, y), _ = data.load_mnist()
    probs = np.asarray(result.model(x[-100:], training=False))
    return float(np.mean(probs.argmax(axis=1) == y[-100:]))


def test_tiny_mnist_run_reports_progress_and_a_sane_result():
    sink = RecordingSink()
    result = training.train(TINY_MNIST, progress=sink)
    assert sink.begin == (1, 10)  # 500 images / batch 50
    assert [(e, b) for e, b, _ in sink.batches] == [(0, b) for b in range(10)]
    assert all(isinstance(logs["loss"], float) for _, _, logs in sink.batches)
    assert len(sink.epochs) == 1
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(sink.epochs[0][1])
    assert result.status == "completed" and result.epochs_run == 1 and not result.cached
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.history["val_accuracy"][0] == pytest.approx(_val_accuracy(result), abs=1e-6)
    # Even 10 steps on 500 images beat chance (10 %) clearly on the 10,000 test images.
    assert 0.3 < result.metrics["test_accuracy"] <= 1.0
    assert math.isfinite(result.metrics["test_loss"])
    assert result.train_seconds > 0 and result.device.startswith(("CPU ·", "GPU ·"))
    assert result.extras["best_epoch"] == 0


def test_mnist_run_is_reproducible_with_the_same_seed():
    config = TINY_MNIST.replace(train_size=200, batch_size=40)
    first = training.train(config, _small_mnist())
    second = training.train(config, _small_mnist())
    assert first.history["loss"] == pytest.approx(second.history["loss"], rel=1e-5)


def test_stop_event_stops_at_the_next_batch_and_restores_the_best_epoch():
    stop = threading.Event()
    config = TINY_MNIST.replace(epochs=4, train_size=300, batch_size=30)  # 10 batches/epoch
    sink = RecordingSink(stop, stop_at=(1, 2))
    result = training.train(config, _small_mnist(), progress=sink, stop_event=stop)
    assert result.status == "stopped"
    assert sink.batches[-1][:2] == (1, 2)  # not one batch more
    assert result.epochs_run == 2 < config.epochs  # the stopped epoch is the last entry
    best = result.extras["best_epoch"]
    assert best == int(np.argmax(result.history["val_accuracy"]))
    assert _val_accuracy(result) == pytest.approx(result.history["val_accuracy"][best], abs=1e-6)


def test_mnist_with_custom_data_and_no_validation():
    (x, y), (x_test, y_test) = data.load_mnist()
    subset = ((x[:200], y[:200]), (x_test[:300], y_test[:300]))
    config = MnistConfig(train_size=200, validation_size=0, epochs=1, batch_size=50)
    result = training.train(config, subset)
    assert set(result.history) == {"loss", "accuracy"}
    assert result.status == "completed" and 0 <= result.metrics["test_accuracy"] <= 1


# ----------------------------------------------------------------------------- regression

HOUSES = data.make_house_prices(n_samples=200, seed=0)


def test_regression_reduces_the_loss_and_reports_real_unit_metrics():
    config = RegressionConfig(optimizer="adam", learning_rate=0.05, epochs=15, batch_size=16)
    sink = RecordingSink()
    result = training.train(config, HOUSES, progress=sink)
    loss = result.history["loss"]
    assert result.status == "completed" and result.epochs_run == 15
    assert loss[-1] < loss[0] / 3 and set(result.history) == {"loss", "val_loss"}
    assert result.metrics["test_r2"] > 0.7
    assert result.metrics["test_rmse"] == pytest.approx(math.sqrt(result.metrics["test_mse"]))
    # The metrics are in currency: an RMSE of tens of thousands, not a fraction of 1.
    assert 1_000 < result.metrics["test_rmse"] < 200_000
    extras = result.extras
    train_area = HOUSES.area[extras["train_idx"]]
    assert extras["x_scaler"].offset == train_area.min()  # fitted on the train split only
    assert len(extras["train_idx"]) + len(extras["test_idx"]) == len(HOUSES)


def test_regression_epochs_carry_the_fitted_curve_in_currency():
    config = RegressionConfig(optimizer="adam", learning_rate=0.05, epochs=3, batch_size=16)
    sink = RecordingSink()
    result = training.train(config, HOUSES, progress=sink)
    assert [epoch for epoch, _, _ in sink.epochs] == [0, 1, 2]
    extras = sink.epochs[-1][2]
    area, price = extras["curve_area"], extras["curve_price"]
    assert len(area) == len(price) == 100
    assert area[0] == HOUSES.area.min() and area[-1] == HOUSES.area.max()
    expected = house_prices.predict_prices(
        result.model, result.extras["x_scaler"], result.extras["y_scaler"], area
    )
    np.testing.assert_allclose(price, expected, rtol=1e-6)
    assert sink.epochs[0][2]["curve_price"] != pytest.approx(price)  # the curve moves


def test_regression_val_loss_is_the_mse_on_the_test_split():
    config = RegressionConfig(epochs=2, batch_size=16)
    result = training.train(config, HOUSES)
    xs, ys = result.extras["x_scaler"], result.extras["y_scaler"]
    test = result.extras["test_idx"]
    pred = ys.transform(house_prices.predict_prices(result.model, xs, ys, HOUSES.area[test]))
    mse = np.mean((pred - ys.transform(HOUSES.price[test])) ** 2)
    assert result.history["val_loss"][-1] == pytest.approx(mse, rel=1e-4)


def test_huge_learning_rate_diverges_at_once():
    config = RegressionConfig(optimizer="sgd", learning_rate=5.0, epochs=50, batch_size=16)
    sink = RecordingSink()
    result = training.train(config, HOUSES, progress=sink)
    assert result.status == "diverged"
    losses = [logs["loss"] for _, _, logs in sink.batches]
    # It stops on the very batch whose loss overflowed, long before the 50 epochs.
    assert not math.isfinite(losses[-1]) and all(map(math.isfinite, losses[:-1]))
    assert result.epochs_run < 5 and len(losses) < 5 * sink.begin[1]
    assert all(math.isnan(value) for value in result.metrics.values())


def test_early_stopping_restores_the_best_epoch():
    config = RegressionConfig(optimizer="adam", learning_rate=0.1, epochs=200, batch_size=16)
    result = training.train(config, HOUSES, patience=3)
    assert result.status == "early_stopped" and result.epochs_run < 200
    val_loss = result.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert result.epochs_run == best + 1 + 3
    xs, ys = result.extras["x_scaler"], result.extras["y_scaler"]
    test = result.extras["test_idx"]
    pred = ys.transform(house_prices.predict_prices(result.model, xs, ys, HOUSES.area[test]))
    mse = np.mean((pred - ys.transform(HOUSES.price[test])) ** 2)
    assert mse == pytest.approx(val_loss[best], rel=1e-4)


def test_regression_metrics_formulas():
    y = np.array([100.0, 200.0, 300.0, 400.0])
    perfect = house_prices.regression_metrics(y, y)
    assert perfect == {"mse": 0.0, "rmse": 0.0, "mae": 0.0, "r2": 1.0}
    mean_only = house_prices.regression_metrics(y, np.full(4, y.mean()))
    assert mean_only["r2"] == 0.0 and mean_only["mse"] == 12_500.0 and mean_only["mae"] == 100.0


def test_train_rejects_unknown_configs_and_bad_patience():
    with pytest.raises(ValueError, match="MnistConfig, RegressionConfig"):
        training.train({"epochs": 1})
    with pytest.raises(ValueError, match="patience"):
        training.train(RegressionConfig(epochs=1), HOUSES, patience=0)


# ----------------------------------------------------------------- data or results unusable


def test_train_refuses_data_that_cannot_train_as_the_page_does():
    config = RegressionConfig(epochs=1, seed=0)
    huge = data.HouseDataset(np.arange(12.0) + 40, np.arange(1.0, 13.0) * 1e300)
    with pytest.raises(InvalidDataset, match="too large to compute with"):
        training.train(config, huge)
    price = np.full(12, 5e5)
    price[9] = 7e5  # seed 0 keeps rows 2 and 9 for testing: one price left to train on
    assert 9 in data.split_train_test(12, config.test_fraction, config.seed)[1]
    with pytest.raises(InvalidDataset, match="All 10 training houses have the same price"):
        training.train(config, data.HouseDataset(np.arange(12.0) + 40, price))


def _overflowing_metrics(monkeypatch):
    """Metrics in currency that overflow while the scaled loss stays finite (as 1e300
    prices did before they were refused)."""
    real = training.regression_metrics

    def overflowing(y_true, y_pred):
        return {**real(y_true, y_pred), "mse": math.inf, "rmse": math.inf}

    monkeypatch.setattr(training, "regression_metrics", overflowing)


def test_a_run_whose_metrics_are_not_finite_is_diverged(monkeypatch):
    _overflowing_metrics(monkeypatch)
    result = training.train(RegressionConfig(epochs=1, batch_size=64), HOUSES)
    assert all(math.isfinite(loss) for loss in result.history["loss"])
    assert result.status == "diverged"
    assert math.isnan(result.metrics["test_mse"]) and math.isnan(result.metrics["train_mse"])


def test_an_undefined_r2_alone_does_not_make_a_run_diverged():
    """R² is NaN when every test price is equal: the run itself is fine."""
    price = HOUSES.price.copy()
    _, test_idx = data.split_train_test(HOUSES, 0.2, 0)
    price[test_idx] = 300_000.0
    houses = data.HouseDataset(HOUSES.area, price)
    result = training.train(RegressionConfig(epochs=1, batch_size=64), houses)
    assert math.isnan(result.metrics["test_r2"]) and result.status == "completed"


def test_a_run_whose_metrics_are_not_finite_is_never_cached(monkeypatch, cache_dir):
    from dlcore import cache, jobs

    _overflowing_metrics(monkeypatch)
    handle = jobs.submit(RegressionConfig(epochs=1, batch_size=64, seed=7), HOUSES)
    assert handle.wait(120)
    assert handle.snapshot().state == "diverged"
    assert cache.load(handle.key) is None


def test_a_stopped_regression_keeps_the_epoch_of_lowest_training_loss_never_chosen_on_test():
    """The test houses score the model afterwards, so they must not pick its epoch."""
    stop = threading.Event()
    config = RegressionConfig(optimizer="adam", learning_rate=0.3, epochs=20, batch_size=16)
    sink = RecordingSink(stop, stop_at=(8, 0))
    result = training.train(config, HOUSES, progress=sink, stop_event=stop)
    assert result.status == "stopped"
    lowest_train, lowest_test = (int(np.argmin(result.history[k])) for k in ("loss", "val_loss"))
    assert lowest_train != lowest_test  # this run tells the two choices apart
    assert result.extras["best_epoch"] == lowest_train
