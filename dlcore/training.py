"""Train a model from a frozen config: ``train(config, data) -> TrainResult``.

Training reports progress through a ``ProgressSink`` (the jobs module records it into
snapshots the pages poll), can be cancelled with a ``threading.Event``, stops at once when
the loss diverges, and optionally stops early. Locks and queues live in ``dlcore.jobs``;
this module only trains.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import keras
import numpy as np

from dlcore import data as data_module
from dlcore import device, i18n, models, readable
from dlcore.configs import MnistConfig, RegressionConfig, steps_per_epoch
from dlcore.house_prices import (
    Preprocessing,
    predict_prices,
    preprocess,
    regression_metrics,
    scaled_columns,
)
from dlcore.states import TrainingStatus

EVAL_BATCH_SIZE = 1024  # inference only: large batches are faster and need no tuning
CURVE_POINTS = 100


class ProgressSink(Protocol):
    """Receives training progress; every value is a plain Python number or NumPy array."""

    def on_train_begin(self, epochs: int, batches_per_epoch: int) -> None: ...

    def on_batch_end(self, epoch: int, batch: int, logs: dict[str, float]) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict[str, float], extras: dict) -> None: ...


@dataclass
class TrainResult:
    """Everything a page or the cache needs about one finished training run.

    Attributes:
        config: The config that was trained.
        model: The trained Keras model (best weights restored when stopped).
        history: Per-epoch lists. MNIST: loss, accuracy, val_loss, val_accuracy;
            regression: loss, val_loss (MSE on the normalized scale; "val" is the test
            split). A run stopped mid-epoch ends with that partial epoch.
        metrics: MNIST: test_accuracy, test_loss on the 10,000 test images. Regression, in
            real currency units on the test split: test_mse, test_rmse, test_mae, test_r2,
            and train_mse on the training split. NaN when the run diverged.
        status: How it ended (dlcore.states.TrainingStatus): completed, stopped
            (stop_event), diverged (NaN/inf loss, or a metric that is not finite) or
            early_stopped (no improvement for `patience` epochs).
        train_seconds: Wall time of model.fit.
        device: DeviceInfo.summary of the device that trained.
        epochs_run: Number of epochs in history.
        extras: Regression: x_scaler, y_scaler, train_idx, test_idx. MNIST: best_epoch
            (0-based index into history).
        cached: True when the result was loaded from the cache rather than trained.
        data_source: One line naming the data it trained on, with the settings that made
            it (HouseDataset.source, e.g. "synthetic: 1000 houses, noise 0.1, nonlinearity
            0, seed 0"); the cache lists it, since the data is not part of the config.
            Empty for a cache entry written before it was stored.
    """

    config: MnistConfig | RegressionConfig
    model: keras.Model
    history: dict[str, list[float]]
    metrics: dict[str, float]
    status: TrainingStatus
    train_seconds: float
    device: str
    epochs_run: int
    extras: dict = field(default_factory=dict)
    cached: bool = False
    data_source: str = ""


@dataclass(frozen=True)
class _Monitor:
    """Which logged value decides the best epoch, and in which direction."""

    key: str
    mode: str  # "max" or "min"

    def better(self, value: float, best: float | None) -> bool:
        if not math.isfinite(value):
            return False
        return best is None or (value > best if self.mode == "max" else value < best)


def _floats(logs: dict | None) -> dict[str, float]:
    return {key: float(value) for key, value in (logs or {}).items()}


class _RunControl(keras.callbacks.Callback):
    """Forwards progress, honours the stop event, catches divergence, keeps best weights.

    It records the per-epoch history itself, after adding what ``validation_fn`` returns
    to the epoch logs (in place, so that EarlyStopping, placed after it, sees it too).
    """

    def __init__(self, progress, stop_event, batches_per_epoch, monitor, extras_fn=None):
        super().__init__()
        self.progress, self.stop_event = progress, stop_event
        self.batches_per_epoch, self.monitor, self.extras_fn = batches_per_epoch, monitor, extras_fn
        self.validation_fn: Callable[[], dict[str, float]] | None = None
        self.status, self.epoch, self.history = TrainingStatus.COMPLETED, 0, {}
        self.best_value, self.best_epoch, self.best_weights = None, None, None

    def on_train_begin(self, logs=None):
        if self.progress is not None:
            self.progress.on_train_begin(self.params["epochs"], self.batches_per_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        logs = _floats(logs)
        if self.progress is not None:
            self.progress.on_batch_end(self.epoch, batch, logs)
        # Checked after reporting, so a stop requested while reporting acts at once.
        if not math.isfinite(logs.get("loss", 0.0)):
            self.status, self.model.stop_training = TrainingStatus.DIVERGED, True
        elif self.stop_event is not None and self.stop_event.is_set():
            self.status, self.model.stop_training = TrainingStatus.STOPPED, True

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.validation_fn is not None:
            logs.update(self.validation_fn())
        logs = _floats(logs)
        for key, item in logs.items():
            self.history.setdefault(key, []).append(item)
        value = logs.get(self.monitor.key, math.nan)
        if self.monitor.better(value, self.best_value):
            self.best_value, self.best_epoch = value, epoch
            self.best_weights = self.model.get_weights()
        if self.progress is not None:
            self.progress.on_epoch_end(epoch, logs, self.extras_fn() if self.extras_fn else {})

    def restore_best(self) -> None:
        """Put back the weights of the best epoch seen (used after a stop request)."""
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


@dataclass
class _FitOutcome:
    history: dict[str, list[float]]
    status: TrainingStatus
    seconds: float
    best_epoch: int | None


# R² is undefined (NaN) when the test prices are all equal; every other metric is a number.
_MAY_BE_NAN = frozenset({"test_r2"})


def _final_status(status: TrainingStatus, metrics: dict[str, float]) -> TrainingStatus:
    """The fit's status, or "diverged" when a final metric is not finite.

    Such a run must not be shown as a good one nor cached (jobs never caches "diverged").
    """
    finite = all(math.isfinite(v) for k, v in metrics.items() if k not in _MAY_BE_NAN)
    return status if finite else TrainingStatus.DIVERGED


def _result(
    config, model, outcome: _FitOutcome, metrics: dict, info, extras: dict, data_source: str
) -> TrainResult:
    """The TrainResult of a finished fit."""
    return TrainResult(
        config=config,
        model=model,
        history=outcome.history,
        metrics=metrics,
        status=_final_status(outcome.status, metrics),
        train_seconds=outcome.seconds,
        device=info.summary,
        epochs_run=len(outcome.history.get("loss", [])),
        extras=extras,
        data_source=data_source,
    )


def _fit(model, train_data, fit_kwargs, control: _RunControl, patience: int | None) -> _FitOutcome:
    """Run model.fit with the run control (and early stopping), and settle the status."""
    callbacks: list[keras.callbacks.Callback] = [control]
    early = None
    if patience is not None:
        early = keras.callbacks.EarlyStopping(
            monitor=control.monitor.key,
            mode=control.monitor.mode,
            patience=patience,
            restore_best_weights=True,
        )
        callbacks.append(early)
    started = time.perf_counter()
    model.fit(train_data, callbacks=callbacks, verbose=0, shuffle=False, **fit_kwargs)
    seconds = time.perf_counter() - started
    status = control.status
    if status == TrainingStatus.STOPPED:
        control.restore_best()
    elif status == TrainingStatus.COMPLETED and early is not None and early.stopped_epoch > 0:
        status = TrainingStatus.EARLY_STOPPED
    return _FitOutcome(control.history, status, seconds, control.best_epoch)


# ---------------------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------------------


def _mnist_splits(config: MnistConfig, mnist) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Validation = the last validation_size training images; train on the first train_size."""
    (x, y), test = mnist
    n_rest = len(x) - config.validation_size
    n_train = min(config.train_size, n_rest)
    if n_train < 1:
        raise ValueError("validation_size leaves no training images")
    splits = {"train": (x[:n_train], y[:n_train]), "test": test}
    if config.validation_size:
        splits["val"] = (x[n_rest:], y[n_rest:])
    return splits


def _batched(tf, arrays, batch_size: int, shuffle_seed: int | None = None):
    """A tf.data pipeline over uint8 arrays (the model rescales them itself)."""
    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(arrays[0]), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _train_mnist(config: MnistConfig, data, progress, stop_event, patience) -> TrainResult:
    import tensorflow as tf

    info = device.configure()
    splits = _mnist_splits(config, data if data is not None else data_module.load_mnist())
    n_train = len(splits["train"][0])
    keras.utils.set_random_seed(config.seed)
    with info.strategy.scope():
        model = models.build_cnn(config, policy=info.policy, num_train_examples=n_train)
    has_val = "val" in splits
    fit_kwargs = {"epochs": config.epochs}
    if has_val:
        fit_kwargs["validation_data"] = _batched(tf, splits["val"], EVAL_BATCH_SIZE)
    monitor = _Monitor("val_accuracy", "max") if has_val else _Monitor("loss", "min")
    batches = steps_per_epoch(n_train, config.batch_size)
    control = _RunControl(progress, stop_event, batches, monitor, None)
    train_data = _batched(tf, splits["train"], config.batch_size, shuffle_seed=config.seed)
    outcome = _fit(model, train_data, fit_kwargs, control, patience)
    test = model.evaluate(
        _batched(tf, splits["test"], EVAL_BATCH_SIZE), verbose=0, return_dict=True
    )
    metrics = {"test_accuracy": float(test["accuracy"]), "test_loss": float(test["loss"])}
    extras = {"best_epoch": outcome.best_epoch}
    return _result(config, model, outcome, metrics, info, extras, _mnist_source(data, splits))


def _mnist_source(data, splits: dict) -> str:
    """Which images trained the CNN: the bundled MNIST, or arrays the caller passed."""
    if data is None:
        return "MNIST (the copy bundled with dlcore)"
    train, test = len(splits["train"][0]), len(splits["test"][0])
    counts = readable.grouped(train), readable.grouped(test)
    return f"arrays given by the caller: {counts[0]} training and {counts[1]} test images"


# ---------------------------------------------------------------------------------------
# Regression
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RegressionData:
    """The houses and their preparation (split and scalers, as the page shows them)."""

    dataset: data_module.HouseDataset
    prep: Preprocessing

    def scaled(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return scaled_columns(self.dataset, self.prep, idx)

    def predict(self, model, area: np.ndarray) -> np.ndarray:
        return predict_prices(model, self.prep.x_scaler, self.prep.y_scaler, area)


def _curve_extras(model, prepared: _RegressionData) -> Callable[[], dict]:
    area = prepared.dataset.area
    grid = np.linspace(area.min(), area.max(), CURVE_POINTS)

    def extras() -> dict:
        price = prepared.predict(model, grid)
        return {"curve_area": grid, "curve_price": price}

    return extras


def _validation_mse(model, x: np.ndarray, y: np.ndarray) -> Callable[[], dict[str, float]]:
    """val_loss by one direct model call: ~50x cheaper than Keras' per-epoch evaluate()."""

    def validate() -> dict[str, float]:
        with np.errstate(all="ignore"):
            pred = np.asarray(model(x, training=False), dtype=np.float32)
            return {"val_loss": float(np.mean(np.square(pred - y)))}

    return validate


def _train_regression(config: RegressionConfig, data, progress, stop_event, patience):
    import tensorflow as tf

    info = device.configure()
    houses = data if data is not None else _default_houses()
    # The same checks as the page's preview: data that cannot train raises InvalidDataset.
    prepared = _RegressionData(houses, preprocess(houses, config))
    prep = prepared.prep
    x_train, y_train = prepared.scaled(prep.train_idx)
    x_test, y_test = prepared.scaled(prep.test_idx)
    config.check_steps(len(x_train))
    keras.utils.set_random_seed(config.seed)
    model = models.build_regression_mlp(config)  # float32, no strategy: 31 weights
    batches = steps_per_epoch(len(x_train), config.batch_size)
    # A stop keeps the epoch of lowest *training* loss: choosing it on the test houses would
    # make the test scores shown afterwards a biased estimate.
    monitor = _Monitor("loss", "min")
    control = _RunControl(progress, stop_event, batches, monitor, _curve_extras(model, prepared))
    control.validation_fn = _validation_mse(model, x_test, y_test)
    train_data = _batched(tf, (x_train, y_train), config.batch_size, shuffle_seed=config.seed)
    outcome = _fit(model, train_data, {"epochs": config.epochs}, control, patience)
    metrics = _regression_result_metrics(model, prepared, outcome.status)
    extras = {
        "x_scaler": prep.x_scaler,
        "y_scaler": prep.y_scaler,
        "train_idx": prep.train_idx,
        "test_idx": prep.test_idx,
        "best_epoch": outcome.best_epoch,
    }
    with i18n.using("en"):  # the cache's listing (CLI, JSON) names the data in English
        source = str(houses.source)
    return _result(config, model, outcome, metrics, info, extras, source)


def _default_houses() -> data_module.HouseDataset:
    return data_module.make_house_prices()


def _regression_result_metrics(
    model, prepared: _RegressionData, status: TrainingStatus
) -> dict[str, float]:
    """Test metrics and train MSE in real currency units (all NaN after divergence)."""
    dataset = prepared.dataset
    with np.errstate(all="ignore"):  # a diverged model predicts NaN/inf: report NaN
        scores = {}
        for split, idx in (("test", prepared.prep.test_idx), ("train", prepared.prep.train_idx)):
            pred = prepared.predict(model, dataset.area[idx])
            scores[split] = regression_metrics(dataset.price[idx], pred)
    metrics = {f"test_{name}": value for name, value in scores["test"].items()}
    metrics["train_mse"] = scores["train"]["mse"]
    diverged = status == TrainingStatus.DIVERGED
    return {k: v if math.isfinite(v) and not diverged else math.nan for k, v in metrics.items()}


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------

TRAINERS: dict[type, Callable[..., TrainResult]] = {
    MnistConfig: _train_mnist,
    RegressionConfig: _train_regression,
}


def train(
    config: MnistConfig | RegressionConfig,
    data=None,
    *,
    progress: ProgressSink | None = None,
    stop_event: threading.Event | None = None,
    patience: int | None = None,
) -> TrainResult:
    """Train the model the config describes and evaluate it on the test split.

    Args:
        config: MnistConfig or RegressionConfig; the type selects the trainer.
        data: MNIST: ``((x_train, y_train), (x_test, y_test))`` uint8 arrays (None loads
            the bundled MNIST). Regression: a HouseDataset (None: make_house_prices()).
        progress: Receives per-batch and per-epoch logs; regression epochs also carry
            ``extras={"curve_area", "curve_price"}``, the fitted curve over the data range.
        stop_event: When set, training stops after the current batch, the best epoch so
            far is restored, and the status is "stopped".
        patience: Stop after this many epochs without improvement of the validation
            metric, restoring the best weights (status "early_stopped"); None: never.

    Returns:
        The TrainResult (status "diverged" when the loss became NaN or infinite, or a
        final metric is not finite).

    Raises:
        ValueError: unknown config type or invalid patience.
        TrainingTooLarge: a regression run with too many optimizer steps on this data.
        InvalidDataset: regression data that cannot train (see regression.preprocess).
        DataUnavailable: MNIST data is missing or corrupt.
    """
    trainer = TRAINERS.get(type(config))
    if trainer is None:
        valid = ", ".join(cls.__name__ for cls in TRAINERS)
        raise ValueError(f"Cannot train a {type(config).__name__}; valid configs: {valid}")
    if patience is not None and (isinstance(patience, bool) or not 1 <= int(patience) <= 1000):
        raise ValueError(f"patience must be between 1 and 1000 epochs, got {patience!r}")
    return trainer(config, data, progress, stop_event, patience)
