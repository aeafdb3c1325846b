"""Analysis of the house-price network for the regression page, in real units.

The network is ``price_norm = w2 · act(w1 · area_norm + b1) + b2`` with one input, a hidden
layer of H units and one linear output; ``dlcore.training`` trains it on min-max (or
standardized) data. Everything here maps results back to m² and currency so the learner
never reads a normalized number: the fitted curve, each hidden unit's share of it, the
weights, the test metrics, a single prediction, and compact summaries to compare runs.

TensorFlow is imported only by the functions that run or save a Keras model.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dlcore import house_prices, readable
from dlcore.configs import RegressionConfig
from dlcore.data import HouseDataset, Scaler
from dlcore.history import History, epoch_rows

# What the page uses of the shared pieces, under this module's name (training uses the same).
from dlcore.house_prices import (  # noqa: F401 - part of this module's API for the page
    METRIC_FORMULAS,
    Preprocessing,
    preprocess,
    regression_metrics,
)
from dlcore.i18n import Message, _
from dlcore.states import TrainingStatus

if TYPE_CHECKING:
    import keras

    from dlcore.training import TrainResult

# Keras models shared between sessions (the cache memo) are called under this lock:
# concurrent calls into one model have failed intermittently upstream (tensorflow#61298).
_model_lock = threading.Lock()

# Set once the process has paid TensorFlow's first-training costs (see warm_up).
_warmed = threading.Event()
_warm_lock = threading.Lock()


# ---------------------------------------------------------------------------------------
# Preprocessing, as training does it
# ---------------------------------------------------------------------------------------


def scaler_latex(scaler: Scaler, name: str, inverse: bool = False) -> str:
    """The fitted scaling as LaTeX with its numbers, e.g. ``area' = (area - 30.5) / 219.5``.

    The numbers are the scaler's own offset and scale, written by ``readable.latex`` to 6
    significant digits (``2{,}524{,}420``, not ``2.52442e+06``), so the formula the page
    shows is the computation ``Scaler.transform`` performs (or, with inverse,
    ``Scaler.inverse``: ``area = 219.5 · area' + 30.5``).
    """
    symbol = rf"\text{{{name}}}"
    sign = "-" if scaler.offset >= 0 else "+"
    scale, offset = readable.latex(scaler.scale), readable.latex(abs(scaler.offset))
    if inverse:
        back = "+" if sign == "-" else "-"
        return rf"{symbol} = {scale} \cdot {symbol}' {back} {offset}"
    return rf"{symbol}' = \frac{{{symbol} {sign} {offset}}}{{{scale}}}"


def area_grid(data: HouseDataset, num_points: int = 200) -> np.ndarray:
    """Evenly spaced areas over the data's range, for drawing curves."""
    return np.linspace(float(data.area.min()), float(data.area.max()), num_points)


# ---------------------------------------------------------------------------------------
# Weights and hidden-unit contributions
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetworkWeights:
    """The parameters of the 1 → H → 1 network as flat float64 arrays.

    Attributes:
        w1: Input-to-hidden weight of each unit, shape (H,).
        b1: Bias of each hidden unit, shape (H,).
        w2: Hidden-to-output weight of each unit, shape (H,).
        b2: Bias of the output unit.
    """

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float

    @property
    def num_units(self) -> int:
        return int(self.w1.size)


def network_weights(model: keras.Model) -> NetworkWeights:
    """Read the weights of the layers named "hidden" and "output" of a trained model."""
    kernel1, bias1 = model.get_layer("hidden").get_weights()
    kernel2, bias2 = model.get_layer("output").get_weights()
    as_flat = lambda a: np.asarray(a, dtype=np.float64).reshape(-1)  # noqa: E731
    return NetworkWeights(as_flat(kernel1), as_flat(bias1), as_flat(kernel2), float(bias2[0]))


def weights_table(weights: NetworkWeights):
    """The weights as a pandas DataFrame: one row per hidden unit, then the output unit.

    Columns: "weight in" (w1_j), "bias" (b1_j, or b2 on the output row) and "weight out"
    (w2_j); the output row has no weights of its own (NaN). The headers are in the reader's
    language (the table is made to be shown at once).
    """
    import pandas as pd

    units = [_("hidden {number}", number=j + 1) for j in range(weights.num_units)]
    return pd.DataFrame(
        {
            _("weight in (w1)"): [*weights.w1, np.nan],
            _("bias (b1, b2)"): [*weights.b1, weights.b2],
            _("weight out (w2)"): [*weights.w2, np.nan],
        },
        index=pd.Index([*units, _("output")], name=_("unit")),
    )


@dataclass(frozen=True)
class Contributions:
    """Each hidden unit's share of the predicted price over a grid of areas, in real units.

    With the price scaler's inverse ``price = scale · y + offset`` and
    ``y = Σ_j w2_j · h_j + b2``, the price is ``Σ_j scale · w2_j · h_j + (scale · b2 +
    offset)``: ``units[j]`` holds ``scale · w2_j · h_j(area)`` and ``baseline`` holds
    ``scale · b2 + offset``, so ``units.sum(axis=0) + baseline`` is the prediction.

    Attributes:
        area: The grid of areas (m²), shape (n,).
        units: Contribution of each hidden unit in currency, shape (H, n).
        baseline: The output bias mapped to currency (a constant).
    """

    area: np.ndarray
    units: np.ndarray
    baseline: float

    @property
    def total(self) -> np.ndarray:
        """The predicted price at each area: the contributions plus the baseline."""
        return self.units.sum(axis=0) + self.baseline


def hidden_contributions(
    weights: NetworkWeights, activation: str, x_scaler: Scaler, y_scaler: Scaler, area
) -> Contributions:
    """Split the network's predicted price into one curve per hidden unit (float64).

    The activation is Keras' own function of that name (the one the Dense layer uses),
    evaluated in float64, so the curves add up to the model's float32 output to ~1e-7.
    """
    import keras

    area = np.asarray(area, dtype=np.float64).reshape(-1)
    z = np.outer(weights.w1, x_scaler.transform(area)) + weights.b1[:, None]  # (H, n)
    hidden = keras.ops.convert_to_numpy(keras.activations.get(activation)(z))
    units = y_scaler.scale * weights.w2[:, None] * np.asarray(hidden, dtype=np.float64)
    return Contributions(area, units, y_scaler.scale * weights.b2 + y_scaler.offset)


def dead_relu_units(weights: NetworkWeights, low: float, high: float) -> np.ndarray:
    """Indices of the ReLU units that output 0 for every scaled input from low to high.

    Unit j's pre-activation ``z = w1_j · x + b1_j`` is a straight line in x, so it is at most
    0 over the whole interval exactly when it is at most 0 at both ends. There ReLU's
    output and its gradient are 0 (TensorFlow takes ReLU's derivative at 0 as 0): no
    training example moves the unit's weights again, so it never recovers.

    Example:
        >>> w = NetworkWeights(np.array([1.0, -1.0, 2.0]), np.array([0.5, 0.0, -3.0]),
        ...                    np.ones(3), 0.0)
        >>> dead_relu_units(w, 0.0, 1.0).tolist()  # unit 1: z ≤ 0 on [0, 1]; unit 2: z ≤ -1
        [1, 2]
    """
    at_ends = np.outer(weights.w1, [low, high]) + weights.b1[:, None]
    return np.flatnonzero((at_ends <= 0).all(axis=1))


def result_dead_units(result: TrainResult, data: HouseDataset) -> np.ndarray:
    """Indices of a result's dead hidden units over its training areas (none unless ReLU)."""
    if result.config.activation != "relu":
        return np.array([], dtype=np.int64)
    low, high = result.extras["x_scaler"].transform(np.array(training_range(result, data)))
    return dead_relu_units(network_weights(result.model), float(low), float(high))


# ---------------------------------------------------------------------------------------
# Predictions and metrics in real units
# ---------------------------------------------------------------------------------------


def predict_prices(model: keras.Model, x_scaler: Scaler, y_scaler: Scaler, area) -> np.ndarray:
    """The model's predicted prices (currency) for areas (m²), safe for a model that
    several sessions share (house_prices.predict_prices under the model lock)."""
    with _model_lock:
        return house_prices.predict_prices(model, x_scaler, y_scaler, area)


def result_prices(result: TrainResult, area) -> np.ndarray:
    """Predicted prices of a training result for areas (m²)."""
    extras = result.extras
    return predict_prices(result.model, extras["x_scaler"], extras["y_scaler"], area)


def test_metrics(result: TrainResult, data: HouseDataset) -> dict[str, float]:
    """The result's MSE, RMSE, MAE and R² on its test rows, in currency."""
    test_idx = np.asarray(result.extras["test_idx"])
    return regression_metrics(data.price[test_idx], result_prices(result, data.area[test_idx]))


test_metrics.__test__ = False  # a helper, not a pytest test, despite its name


def training_range(result: TrainResult, data: HouseDataset) -> tuple[float, float]:
    """Smallest and largest area (m²) the model saw during training."""
    train_area = data.area[np.asarray(result.extras["train_idx"])]
    return float(train_area.min()), float(train_area.max())


def predict_price(result: TrainResult, area: float, data: HouseDataset) -> tuple[float, bool]:
    """Predict one house's price, flagging areas outside the training range.

    Args:
        result: A finished training result (model and scalers).
        area: The house's area in m².
        data: The dataset the result was trained on (gives the training range).

    Returns:
        ``(price, extrapolating)``: the price in currency, and True when the area lies
        outside the smallest-to-largest training area (the network has seen no such house).
    """
    low, high = training_range(result, data)
    price = float(result_prices(result, [area])[0])
    return price, not low <= float(area) <= high


def warm_up() -> None:
    """Pay TensorFlow's one-time training costs now, so the learner's first run starts fast.

    The first training of a process waits 1.5-3 s longer for its first epoch than the next
    one (device set-up, tf.function and kernel initialisation; bench/regression_live.py).
    This trains a throwaway 1-10-1 network for one step with validation and predicts once,
    at most once per process; the page starts it in the background when it loads.
    """
    with _warm_lock:
        if _warmed.is_set():
            return
        from dlcore import device, models

        device.configure()
        model = models.build_regression_mlp(RegressionConfig())
        x = np.zeros((8, 1), dtype=np.float32)
        model.fit(x, x, batch_size=8, epochs=1, verbose=0, validation_data=(x, x))
        model(x, training=False)
        _warmed.set()


def warm_up_in_background() -> None:
    """Start warm_up() in a daemon thread unless it has run or is running."""
    if not _warmed.is_set() and not _warm_lock.locked():
        threading.Thread(target=warm_up, name="dlcore-warm-up", daemon=True).start()


# ---------------------------------------------------------------------------------------
# Downloads and run summaries
# ---------------------------------------------------------------------------------------


def history_csv(history: History) -> bytes:
    """The training history as UTF-8 CSV bytes (one row per epoch), for a download button."""
    rows = epoch_rows(history, numbered=True)
    names = list(dict.fromkeys(name for row in rows for name in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names or ["epoch"], lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _plain(v) for k, v in row.items()} for row in rows)
    return buffer.getvalue().encode("utf-8")


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, (np.floating, np.integer)) else value


def settings_label(config: RegressionConfig) -> Message:
    """The settings that distinguish runs, in one short line for a chart legend.

    A Message: "compare runs" keeps it, and reads it in the learner's language of the moment.
    """
    return Message(
        "{units} {activation} units · {optimizer} lr {rate} · batch {batch} · {epochs} ep · "
        "{scaling}",
        units=config.hidden_units,
        activation=config.activation,
        optimizer=config.optimizer,
        rate=readable.number(config.learning_rate),
        batch=config.batch_size,
        epochs=readable.grouped(config.epochs),
        scaling=config.normalization,
    )


@dataclass(frozen=True)
class RunSummary:
    """What "compare runs" keeps of a finished run.

    Attributes:
        key: The run's cache key (a rerun of the same settings replaces it).
        label: The settings in one line (settings_label), read in the reader's language.
        train_rmse: Per-epoch training loss as an RMSE in currency.
        test_rmse: Per-epoch test loss as an RMSE in currency.
        metrics: The final metrics of the result.
        status: The training status ("completed", "stopped", "diverged", ...).
        diverged_at: For a diverged run, the epoch (from 1) whose loss was no longer finite;
            None for the others.
    """

    key: str
    label: Message | str
    train_rmse: tuple[float, ...]
    test_rmse: tuple[float, ...]
    metrics: dict
    status: str
    diverged_at: int | None = None


def loss_as_rmse(mse_scaled, y_scaler: Scaler) -> np.ndarray:
    """Convert MSE on the scaled prices into RMSE in currency: ``scale · √MSE``.

    Scaling subtracts an offset (which cancels in every error) and divides by ``scale``,
    so an error of e on the scaled prices is ``scale · e`` in currency. Runs trained with
    different scalings compare fairly only in currency.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return y_scaler.scale * np.sqrt(np.asarray(mse_scaled, dtype=np.float64))


def run_summary(key: str, result: TrainResult) -> RunSummary:
    """A compact, picklable summary of a training result for the comparison chart."""
    rows = epoch_rows(result.history)
    y_scaler = result.extras["y_scaler"]
    pick = lambda name: tuple(  # noqa: E731
        float(v) for v in loss_as_rmse([r[name] for r in rows if name in r], y_scaler)
    )
    return RunSummary(
        key,
        settings_label(result.config),
        pick("loss"),
        pick("val_loss"),
        dict(result.metrics),
        result.status,
        diverged_epoch(rows) if result.status == TrainingStatus.DIVERGED else None,
    )


def diverged_epoch(rows: Sequence[dict[str, float]]) -> int:
    """The first epoch (from 1) with a loss that is not finite, in a diverged run's rows.

    A loss that overflows mid-epoch stops training at once, and Keras still logs that epoch
    (NaN or infinite). When every logged loss is finite, the final metrics were not, so the
    run diverged in its last epoch.

    Example:
        >>> diverged_epoch([{"loss": 0.5}, {"loss": float("inf"), "val_loss": float("nan")}])
        2
    """
    for epoch, row in enumerate(rows, start=1):
        if not all(np.isfinite(value) for value in row.values()):
            return epoch
    return max(len(rows), 1)


def remember_run(runs: Sequence[RunSummary], summary: RunSummary, keep: int = 5) -> list:
    """The run list with summary added last (replacing the same key), at most keep long."""
    kept = [run for run in runs if run.key != summary.key]
    return [*kept, summary][-keep:]


def divergence_advice(config: RegressionConfig) -> str:
    """Plain-words explanation of a diverged run, with a concrete smaller learning rate,
    in the reader's language (the page shows it at once)."""
    smaller = max(config.learning_rate / 10, 1e-6)
    return _(
        "Training diverged: the loss became infinite or NaN. The learning rate {rate} is too "
        "high for this setup: each step overshoots the minimum and the weights blow up. Try "
        "10× smaller: {smaller}.",
        rate=readable.number(config.learning_rate),
        smaller=readable.number(smaller),
    )
