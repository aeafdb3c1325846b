"""The house-price network's shared pieces: data preparation, prediction and metrics.

Training (dlcore.training) and the page's analysis (dlcore.regression) both import this
module and nothing here imports either of them: the split and the scalers the page shows
before training are, by construction, the ones training uses, and a price is predicted
one way everywhere. TensorFlow is never imported here; a Keras model is only called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from dlcore import readable
from dlcore.configs import RegressionConfig
from dlcore.data import MAX_ABS_VALUE, HouseDataset, Scaler, fit_scaler, split_train_test
from dlcore.errors import InvalidDataset
from dlcore.i18n import N_, Message

if TYPE_CHECKING:
    import keras

# The formulas the page shows, next to the code that computes them (see regression_metrics).
METRIC_FORMULAS = {
    "mse": r"\mathrm{MSE} = \frac{1}{n}\sum_{i=1}^{n} (y_i - \hat y_i)^2",
    "rmse": r"\mathrm{RMSE} = \sqrt{\mathrm{MSE}}",
    "mae": r"\mathrm{MAE} = \frac{1}{n}\sum_{i=1}^{n} |y_i - \hat y_i|",
    "r2": r"R^2 = 1 - \frac{\sum_i (y_i - \hat y_i)^2}{\sum_i (y_i - \bar y)^2}",
}


@dataclass(frozen=True)
class Preprocessing:
    """The train/test split and the two scalers fitted on the training rows.

    Attributes:
        train_idx: Sorted row indices used for training.
        test_idx: Sorted row indices held out for testing.
        x_scaler: Scaler of the area, fitted on the training rows only.
        y_scaler: Scaler of the price, fitted on the training rows only.
    """

    train_idx: np.ndarray
    test_idx: np.ndarray
    x_scaler: Scaler
    y_scaler: Scaler


def preprocess(data: HouseDataset, config: RegressionConfig) -> Preprocessing:
    """Split the data and fit the scalers exactly as training does, to show before training.

    Training calls it too, so data the page shows as unusable never reaches a job.

    Raises:
        InvalidDataset: the data cannot train, and the message says what to change: a
            value is not finite or too large to compute with, or every training house has
            the same area or price (another split seed or test share may fix that).

    Example:
        >>> from dlcore.data import make_house_prices
        >>> data = make_house_prices(100)
        >>> prep = preprocess(data, RegressionConfig())
        >>> x = prep.x_scaler.transform(data.area[prep.train_idx])  # min-max: onto [0, 1]
        >>> float(x.min()), float(x.max())
        (0.0, 1.0)
    """
    columns = (("area", data.area, data.area_name), ("price", data.price, data.price_name))
    for what, values, name in columns:
        _check_computable(what, values, name)
    train_idx, test_idx = split_train_test(data, config.test_fraction, config.seed)
    for what, values, name in columns:
        _check_varies(what, values[train_idx], name)
    x_scaler = fit_scaler(data.area[train_idx], config.normalization)
    y_scaler = fit_scaler(data.price[train_idx], config.normalization)
    return Preprocessing(train_idx, test_idx, x_scaler, y_scaler)


def _check_computable(what: str, values: np.ndarray, name: str) -> None:
    """Every value is finite and small enough that its square and the MSE stay finite."""
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise InvalidDataset(
            Message(
                _NOT_A_NUMBER[what],
                row=readable.grouped(bad[0] + 1),
                name=name,
                value=readable.number(values[bad[0]]),
            )
        )
    huge = np.flatnonzero(np.abs(values) > MAX_ABS_VALUE)
    if huge.size:
        raise InvalidDataset(
            Message(
                _TOO_LARGE[what],
                row=readable.grouped(huge[0] + 1),
                value=readable.number(values[huge[0]]),
                name=name,
                limit=readable.number(MAX_ABS_VALUE),
            )
        )


def _check_varies(what: str, train_values: np.ndarray, name: str) -> None:
    """The training split's values differ: scaling divides by their spread."""
    if train_values.size and np.ptp(train_values) == 0:
        raise InvalidDataset(
            Message(
                _ALL_THE_SAME[what],
                count=readable.grouped(train_values.size),
                value=readable.number(train_values[0], 6),
                name=name,
            )
        )


# The refusals, one whole sentence per column (word order differs between languages).
_NOT_A_NUMBER = {
    "area": N_(
        "The area on row {row} ('{name}') is {value}, not a number the network can learn from."
    ),
    "price": N_(
        "The price on row {row} ('{name}') is {value}, not a number the network can learn from."
    ),
}
_TOO_LARGE = {
    "area": N_(
        "The areas are too large to compute with: row {row} has {value} ('{name}'), and "
        "squaring such numbers overflows. Values up to {limit} in size are supported: use a "
        "larger unit (e.g. thousands)."
    ),
    "price": N_(
        "The prices are too large to compute with: row {row} has {value} ('{name}'), and "
        "squaring such numbers overflows. Values up to {limit} in size are supported: use a "
        "larger unit (e.g. thousands)."
    ),
}
_ALL_THE_SAME = {
    "area": N_(
        "All {count} training houses have the same area, {value} (column '{name}'): the "
        "network has nothing to learn from. Change the split seed or the share kept for "
        "testing, or use data whose areas vary more."
    ),
    "price": N_(
        "All {count} training houses have the same price, {value} (column '{name}'): the "
        "network has nothing to learn from. Change the split seed or the share kept for "
        "testing, or use data whose prices vary more."
    ),
}


def scaled_columns(
    data: HouseDataset, prep: Preprocessing, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The rows idx of area and price, scaled, as float32 column vectors for Keras."""
    x = prep.x_scaler.transform(data.area[idx]).astype(np.float32)
    y = prep.y_scaler.transform(data.price[idx]).astype(np.float32)
    return x.reshape(-1, 1), y.reshape(-1, 1)


# ---------------------------------------------------------------------------------------
# Prediction and metrics in real units
# ---------------------------------------------------------------------------------------


def predict_prices(model: keras.Model, x_scaler: Scaler, y_scaler: Scaler, area) -> np.ndarray:
    """Prices (currency) the model predicts for areas (m²): scale, call the model, unscale.

    A direct model call rather than ``model.predict``: for a few hundred points it is
    far cheaper, which matters when it runs after every epoch. The caller guards a model
    shared between threads (dlcore.regression does).
    """
    x = x_scaler.transform(np.asarray(area, dtype=np.float64)).astype(np.float32)
    y = np.asarray(model(x.reshape(-1, 1), training=False), dtype=np.float64)
    return y_scaler.inverse(y.reshape(-1))


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    """MSE, RMSE, MAE and R² of predictions, in the units of y (see METRIC_FORMULAS).

    Example:
        >>> m = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
        >>> round(m["mse"], 4), round(m["mae"], 4), round(m["r2"], 4)
        (0.3333, 0.3333, 0.5)
    """
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need equal, non-empty lengths; got {y_true.size} and {y_pred.size}")
    error = y_true - y_pred
    mse = float(np.mean(error**2))
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    # A constant target has no variance to explain: R² is undefined, reported as NaN.
    r2 = 1.0 - float(np.sum(error**2)) / total if total > 0 else float("nan")
    return {"mse": mse, "rmse": float(np.sqrt(mse)), "mae": float(np.mean(np.abs(error))), "r2": r2}
