"""Loss functions for the Losses lesson, computed by keras.losses in float64.

Every entry of the registry holds the Keras loss it uses, its LaTeX formula and an honest note
on what Keras does beyond the textbook formula (clipping, rescaling, label conversion).
`value` is the number Keras reports (the mean over the samples of a batch), `gradient` is
d value / d y_pred taken by tf.GradientTape. Tests evaluate each LaTeX formula and compare it
with `value`, so what the learner reads is what Keras computes.

Shapes: for regression, binary and hinge losses a 1-D array holds one number per sample; for
categorical cross-entropy each row of y_pred is one sample's class probabilities (and y_true
its one-hot row, or its integer class for the sparse variant).

Example:
    >>> from dlcore import losses
    >>> losses.get("mse").value([3.0, 1.0], [2.0, 1.0])
    0.5
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from dlcore import readable
from dlcore.errors import InvalidDataset
from dlcore.i18n import N_, Message
from dlcore.registry import Hyperparameter, Interval, Parametrized, Registry

# Keras clips probabilities to [EPSILON, 1 - EPSILON] before taking a logarithm.
EPSILON = keras.config.epsilon()
# A typed probability row "adds up to 1" within this (0.7 + 0.2 + 0.1 is not exactly 1).
ROW_SUM_TOLERANCE = 1e-9

# Six ordinary targets for the outlier demo; the page adds a seventh whose value the learner sets.
OUTLIER_DATA = (1.8, 2.2, 2.5, 2.9, 3.1, 3.6)


@dataclass(frozen=True)
class Loss(Parametrized):
    """One loss function: the Keras class, its formula and what Keras adds to it.

    Attributes:
        name: Registry key, e.g. "huber".
        title: Display name (marked with N_: translate it where it is shown).
        factory: Builds the Keras loss object, called with reduction, dtype and the params.
        latex: Formula in LaTeX; every side of each "=" equals what the code computes.
        task: "regression" or "classification".
        layout: "pointwise" (one number per sample), "categorical" (rows of probabilities
            and one-hot rows) or "sparse" (rows of probabilities and integer classes).
        inputs: What y_true and y_pred hold, in words (N_, like `title` and `note`).
        note: What Keras does beyond the formula (clipping, rescaling, label conversion).
        hyperparameters: The parameters it takes (δ): symbol, default, the page's range.
        params: Bound parameter values, e.g. {"delta": 1.0}: the defaults unless bound.

    `symbols` (from Parametrized) holds each parameter's symbol with its value.
    """

    name: str
    title: str
    factory: Callable[..., keras.losses.Loss]
    latex: str
    task: str
    layout: str
    inputs: str
    note: str = ""
    hyperparameters: tuple[Hyperparameter, ...] = ()
    params: Mapping[str, float] = field(default_factory=dict)

    kind = "loss"

    def value(self, y_true, y_pred) -> float:
        """The loss as Keras reports it: the mean of the per-sample losses."""
        y_true, y_pred, _ = self._prepare(y_true, y_pred)
        return float(self._keras("sum_over_batch_size")(y_true, y_pred))

    def per_sample(self, y_true, y_pred) -> np.ndarray:
        """One loss per sample (Keras with reduction=None); their mean is `value`."""
        y_true, y_pred, _ = self._prepare(y_true, y_pred)
        return self._keras(None)(y_true, y_pred).numpy()

    def gradient(self, y_true, y_pred) -> np.ndarray:
        """d value / d y_pred by tf.GradientTape, shaped like y_pred."""
        y_true, y_pred, shape = self._prepare(y_true, y_pred)
        prediction = tf.constant(y_pred)
        with tf.GradientTape() as tape:
            tape.watch(prediction)
            loss = self._keras("sum_over_batch_size")(y_true, prediction)
        return tape.gradient(loss, prediction).numpy().reshape(shape)

    def pointwise(self, y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
        """Per-sample loss and its slope d loss_i / d y_pred_i, for one-number-per-sample losses."""
        if self.layout != "pointwise":
            raise ValueError(f"{self.name} has one row per sample; pointwise needs numbers")
        y_true, y_pred, shape = self._prepare(y_true, y_pred)
        prediction = tf.constant(y_pred)
        with tf.GradientTape() as tape:
            tape.watch(prediction)
            losses = self._keras(None)(y_true, prediction)
            total = tf.reduce_sum(losses)
        slopes = tape.gradient(total, prediction)
        return losses.numpy().reshape(shape), slopes.numpy().reshape(shape)

    def _keras(self, reduction: str | None) -> keras.losses.Loss:
        return _keras_loss(self.name, reduction, tuple(sorted(self.params.items())))

    def _prepare(self, y_true, y_pred) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        """Arrays in the layout Keras expects, and y_pred's original shape."""
        y_pred = np.asarray(y_pred, dtype=np.float64)
        y_true = np.asarray(y_true, dtype=np.float64)
        shape = y_pred.shape
        if self.layout == "pointwise" and y_pred.ndim <= 1:
            # Keras averages over the last axis: (n, 1) makes each number its own sample.
            y_true, y_pred = y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
        elif self.layout != "pointwise" and y_pred.ndim == 1:
            y_pred = y_pred.reshape(1, -1)
            y_true = y_true.reshape(-1) if self.layout == "sparse" else y_true.reshape(1, -1)
        expected = y_pred.shape[:-1] if self.layout == "sparse" else y_pred.shape
        if y_true.shape != expected:
            raise ValueError(f"{self.name}: y_true has shape {y_true.shape}, expected {expected}")
        return y_true, y_pred, shape


@functools.lru_cache(maxsize=256)
def _keras_loss(name: str, reduction: str | None, params: tuple) -> keras.losses.Loss:
    """A Keras loss object in float64; cached because building one costs more than using it."""
    return _REGISTRY.get(name).factory(reduction=reduction, dtype="float64", **dict(params))


_CLIP_NOTE = N_(
    "Keras clips every probability to [10⁻⁷, 1 − 10⁻⁷] first, so log never sees 0 "
    "(a confidently wrong prediction costs at most −log 10⁻⁷ ≈ 16.1)."
)

_ENTRIES = [
    Loss(
        "mse",
        N_("Mean squared error (MSE)"),
        keras.losses.MeanSquaredError,
        r"MSE = \frac{1}{n}\sum_{i=1}^{n}(y_i - \hat{y}_i)^2",
        "regression",
        "pointwise",
        N_("y: true values · ŷ: predicted values"),
        N_("Squaring makes a big miss count a lot: an error of 10 costs 100."),
    ),
    Loss(
        "mae",
        N_("Mean absolute error (MAE)"),
        keras.losses.MeanAbsoluteError,
        r"MAE = \frac{1}{n}\sum_{i=1}^{n}|y_i - \hat{y}_i|",
        "regression",
        "pointwise",
        N_("y: true values · ŷ: predicted values"),
        N_("Every unit of error costs the same, so one outlier cannot dominate."),
    ),
    Loss(
        "huber",
        N_("Huber"),
        keras.losses.Huber,
        r"L_\delta = \frac{1}{n}\sum_{i=1}^{n}\begin{cases} \frac{1}{2}(y_i - \hat{y}_i)^2 & "
        r"|y_i - \hat{y}_i| \le \delta \\ \delta\,|y_i - \hat{y}_i| - \frac{1}{2}\delta^2 & "
        r"\text{otherwise} \end{cases}",
        "regression",
        "pointwise",
        N_("y: true values · ŷ: predicted values"),
        N_("Squared for small errors, linear beyond δ: MSE's smoothness with MAE's calm."),
        # Keras takes any δ > 0; the page's controls offer 0.1 to 10.
        hyperparameters=(
            Hyperparameter(
                "delta", "δ", 1.0, 0.1, 10.0, symbol=r"\delta", accepts=Interval(0.0, open_low=True)
            ),
        ),
    ),
    Loss(
        "log_cosh",
        N_("Log-cosh"),
        keras.losses.LogCosh,
        r"\text{LogCosh} = \frac{1}{n}\sum_{i=1}^{n}\log(\cosh(\hat{y}_i - y_i))",
        "regression",
        "pointwise",
        N_("y: true values · ŷ: predicted values"),
        N_(
            "Like Huber with a smooth bend: ≈ x²/2 near 0, ≈ |x| − log 2 far away. Keras "
            "computes it as x + softplus(−2x) − log 2, which equals log(cosh x) without "
            "overflowing (its log 2 is rounded to float32, so even in float64 it is off by "
            "about 2·10⁻⁹)."
        ),
    ),
    Loss(
        "binary_crossentropy",
        N_("Binary cross-entropy"),
        keras.losses.BinaryCrossentropy,
        r"BCE = -\frac{1}{n}\sum_{i=1}^{n}\left[y_i \log(\hat{y}_i) + "
        r"(1 - y_i)\log(1 - \hat{y}_i)\right]",
        "classification",
        "pointwise",
        N_("y: labels 0 or 1 · ŷ: predicted probability of 1"),
        _CLIP_NOTE,
    ),
    Loss(
        "binary_crossentropy_logits",
        N_("Binary cross-entropy (from logits)"),
        functools.partial(keras.losses.BinaryCrossentropy, from_logits=True),
        r"BCE = -\frac{1}{n}\sum_{i=1}^{n}\left[y_i \log(\sigma(z_i)) + "
        r"(1 - y_i)\log(1 - \sigma(z_i))\right]",
        "classification",
        "pointwise",
        N_("y: labels 0 or 1 · z: raw scores (logits), any number"),
        N_(
            "Keras skips the probabilities: it computes max(z, 0) − z·y + log(1 + e^(−|z|)), "
            "the same number without overflow or clipping (from_logits=True)."
        ),
    ),
    Loss(
        "categorical_crossentropy",
        N_("Categorical cross-entropy"),
        keras.losses.CategoricalCrossentropy,
        r"H(y, \hat{y}) = -\sum_{i=1}^{n}y_i \log(\hat{y}_i)",
        "classification",
        "categorical",
        N_("each sample: y one-hot over the n classes · ŷ its predicted probabilities"),
        N_(
            "Here the sum runs over the n classes of one sample. Keras then averages H over "
            "the samples of the batch, after dividing each row of ŷ by its sum and clipping "
            "it to [10⁻⁷, 1 − 10⁻⁷]."
        ),
    ),
    Loss(
        "sparse_categorical_crossentropy",
        N_("Sparse categorical cross-entropy"),
        keras.losses.SparseCategoricalCrossentropy,
        r"L = -\frac{1}{N}\sum_{k=1}^{N}\log\left(\frac{\hat{y}_{k,\,c_k}}"
        r"{\sum_{j}\hat{y}_{k,\,j}}\right)",
        "classification",
        "sparse",
        N_("each sample k: its true class c_k as an integer · ŷ_k its predicted probabilities"),
        N_(
            "Keras clips every probability to [10⁻⁷, 1 − 10⁻⁷], then divides the true "
            "class's by its row's sum (the division above), so a row that does not add up to "
            "1 is rescaled first. On rows that add up to 1, as a softmax's output does, the "
            "division changes nothing and the loss is the same number as categorical "
            "cross-entropy on one-hot labels (to within the 10⁻⁷ of clipping): only the true "
            "class's probability counts."
        ),
    ),
    Loss(
        "hinge",
        N_("Hinge"),
        keras.losses.Hinge,
        r"\text{Hinge} = \frac{1}{n}\sum_{i=1}^{n}\max(0, 1 - y_i \hat{y}_i)",
        "classification",
        "pointwise",
        N_("y: labels −1 or +1 · ŷ: raw scores"),
        N_(
            "The SVM loss: no cost once a score is on the right side with margin 1. If every "
            "label is 0 or 1, Keras first turns them into −1 and +1."
        ),
    ),
]
_REGISTRY = Registry("loss", _ENTRIES)


def names() -> list[str]:
    """Every registered loss: regression losses first."""
    return list(_REGISTRY.names())


def get(name: str, **params: float) -> Loss:
    """The registered loss `name`, with `params` (e.g. delta=2.0) bound.

    Raises:
        ValueError: `name` is not registered, or a parameter is unknown or invalid.
    """
    entry = _REGISTRY.get(name)
    return entry.with_params(**params) if params else entry


def regression_names() -> list[str]:
    """The losses for real-valued targets, which the regression view compares."""
    return [entry.name for entry in _REGISTRY if entry.task == "regression"]


def fit_constant(name: str, data: Sequence[float], **params: float) -> float:
    """The constant prediction c that minimizes the loss over `data`, found numerically.

    The regression losses are convex in c, so their slope d loss / d c (by tf.GradientTape)
    changes sign once: the search evaluates the slope on a grid of candidates in one Keras
    call, keeps the two around the sign change and zooms in. MSE ends at the mean, MAE at the
    median, Huber near the median when an outlier is far (it counts a far point linearly, like
    MAE). Following the slope, not the loss value, keeps full float64 precision.

    Example:
        >>> round(fit_constant("mse", [1.0, 2.0, 6.0]), 9)
        3.0
    """
    loss = get(name, **params)
    if loss.task != "regression":
        raise ValueError(f"fit_constant needs a regression loss, got {name!r}")
    targets = np.asarray(data, dtype=np.float64)
    low, high = float(targets.min()), float(targets.max())
    while high - low > 1e-12 * max(1.0, abs(low), abs(high)):
        grid = np.linspace(low, high, 101)
        rising = np.flatnonzero(_constant_slopes(loss, targets, grid) >= 0)
        if rising.size == 0 or rising[0] == 0:
            return float(grid[-1] if rising.size == 0 else grid[0])
        low, high = grid[rising[0] - 1], grid[rising[0]]
    return float(high)


def _constant_slopes(loss: Loss, targets: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """d/dc of the mean loss of predicting c for every target, for each c of the grid."""
    predictions = tf.constant(np.repeat(grid[:, None], targets.size, axis=1))
    with tf.GradientTape() as tape:
        tape.watch(predictions)
        # One Keras call: row k is "predict grid[k] for every sample", averaged by Keras.
        rows = loss._keras(None)(np.broadcast_to(targets, predictions.shape), predictions)
        total = tf.reduce_sum(rows)
    return tape.gradient(total, predictions).numpy().sum(axis=1)


@dataclass(frozen=True)
class LossCurve:
    """One loss against the prediction ŷ, for one target y.

    Attributes:
        loss: The loss at each ŷ of the grid.
        gradient: Its slope d loss / d ŷ there, by tf.GradientTape.
    """

    loss: list[float]
    gradient: list[float]


@dataclass(frozen=True)
class LossPoint:
    """One loss at the learner's prediction ŷ.

    Attributes:
        loss: The loss.
        gradient: Its slope d loss / d ŷ, by tf.GradientTape.
    """

    loss: float
    gradient: float


@dataclass(frozen=True)
class RegressionCurves:
    """What the regression panel plots (`regression_curves`).

    Attributes:
        y_pred: The grid of predictions ŷ.
        curves: Loss name -> its LossCurve over `y_pred`, in the order selected.
        at: Loss name -> its LossPoint at the learner's prediction.
    """

    y_pred: list[float]
    curves: dict[str, LossCurve]
    at: dict[str, LossPoint]


def regression_curves(
    target: float,
    prediction: float,
    selected: Sequence[str],
    delta: float = 1.0,
    span: tuple[float, float] = (-6.0, 6.0),
    points: int = 241,
) -> RegressionCurves:
    """Loss and slope vs the prediction ŷ for one target y, and their values at `prediction`.

    Returns:
        A RegressionCurves of plain lists and floats (small to pickle for a page cache).
    """
    grid = np.linspace(span[0], span[1], points)
    curves, at = {}, {}
    for name in selected:
        loss = get(name, **({"delta": delta} if name == "huber" else {}))
        values, slopes = loss.pointwise(np.full(points + 1, target), np.append(grid, prediction))
        curves[name] = LossCurve(loss=values[:-1].tolist(), gradient=slopes[:-1].tolist())
        at[name] = LossPoint(loss=float(values[-1]), gradient=float(slopes[-1]))
    return RegressionCurves(y_pred=grid.tolist(), curves=curves, at=at)


@dataclass(frozen=True)
class OutlierFits:
    """The outlier demo (`outlier_fits`): the data and each loss's best constant.

    Attributes:
        data: OUTLIER_DATA followed by the learner's outlier.
        fits: Loss name -> the constant prediction that minimizes it over `data`.
        mean: The mean of `data` (where MSE's fit lands).
        median: The median of `data` (where MAE's fit lands).
    """

    data: list[float]
    fits: dict[str, float]
    mean: float
    median: float


def outlier_fits(outlier: float, selected: Sequence[str], delta: float = 1.0) -> OutlierFits:
    """The outlier demo: OUTLIER_DATA plus one adjustable point, and each loss's best constant."""
    data = [*OUTLIER_DATA, float(outlier)]
    fits = {
        name: fit_constant(name, data, **({"delta": delta} if name == "huber" else {}))
        for name in selected
    }
    return OutlierFits(
        data=data, fits=fits, mean=float(np.mean(data)), median=float(np.median(data))
    )


# The slopes the classification view plots, for one sample with label y and p = ŷ = sigmoid(z).
CLASSIFICATION_GRADIENT_LATEX = {
    "binary_crossentropy": {
        "d_probability": r"\frac{\partial L}{\partial \hat{y}} = -\frac{y}{\hat{y}} + "
        r"\frac{1 - y}{1 - \hat{y}}",
        "d_logit": r"\frac{\partial L}{\partial z} = \hat{y} - y",
    },
    "mse": {
        "d_probability": r"\frac{\partial L}{\partial \hat{y}} = 2(\hat{y} - y)",
        "d_logit": r"\frac{\partial L}{\partial z} = 2(\hat{y} - y)\,\hat{y}\,(1 - \hat{y})",
    },
}


@dataclass(frozen=True)
class ClassificationCurve:
    """One loss of a single sample against its predicted probability p of class 1.

    Attributes:
        loss: The loss at each p of the grid.
        d_probability: Its slope d loss / d p there.
        d_logit: Its slope d loss / d z w.r.t. the logit z the model outputs (p = σ(z)).
    """

    loss: list[float]
    d_probability: list[float]
    d_logit: list[float]


@dataclass(frozen=True)
class ClassificationPoint:
    """One loss at the learner's predicted probability p (fields as in ClassificationCurve).

    Attributes:
        loss: The loss.
        d_probability: d loss / d p.
        d_logit: d loss / d z, where p = σ(z).
    """

    loss: float
    d_probability: float
    d_logit: float


@dataclass(frozen=True)
class ClassificationView:
    """What the classification panel plots (`classification_view`).

    Attributes:
        p: The grid of predicted probabilities of class 1.
        curves: "binary_crossentropy" and "mse" -> their ClassificationCurve over `p`.
        at: The same names -> their ClassificationPoint at the learner's probability.
    """

    p: list[float]
    curves: dict[str, ClassificationCurve]
    at: dict[str, ClassificationPoint]


def _probability_slopes(name: str, label: float, probabilities: np.ndarray) -> tuple[list, ...]:
    """Per-sample loss and its slopes w.r.t. the probability p and the logit z (p = σ(z)),
    as three lists: loss, d loss / d p, d loss / d z."""
    loss = get(name)
    logits = tf.constant(np.log(probabilities) - np.log1p(-probabilities))
    labels = np.full((probabilities.size, 1), label)
    with tf.GradientTape() as tape:
        tape.watch(logits)
        p = tf.math.sigmoid(logits)
        values = loss._keras(None)(labels, tf.reshape(p, (-1, 1)))
    by_p, by_z = tape.gradient(values, [p, logits])
    return values.numpy().tolist(), by_p.numpy().tolist(), by_z.numpy().tolist()


def classification_view(
    true_class: int, probability: float, points: int = 199
) -> ClassificationView:
    """Binary cross-entropy vs MSE on a predicted probability p of class 1, for label y.

    Gradients are taken w.r.t. p and w.r.t. the logit z the model actually outputs
    (p = sigmoid(z)); they show why cross-entropy keeps learning when confidently wrong.

    Returns:
        A ClassificationView of plain lists and floats.
    """
    if true_class not in (0, 1) or not 0 < probability < 1:
        raise ValueError("true_class must be 0 or 1 and probability strictly between 0 and 1")
    grid = np.linspace(0.005, 0.995, points)
    curves, at = {}, {}
    for name in ("binary_crossentropy", "mse"):
        loss, by_p, by_z = _probability_slopes(
            name, float(true_class), np.append(grid, probability)
        )
        curves[name] = ClassificationCurve(loss[:-1], by_p[:-1], by_z[:-1])
        at[name] = ClassificationPoint(loss[-1], by_p[-1], by_z[-1])
    return ClassificationView(p=grid.tolist(), curves=curves, at=at)


# Inputs the worked example starts from, per loss: (y_true text, y_pred text).
EXAMPLE_INPUTS = {
    "mse": ("3, -0.5, 2, 7", "2.5, 0, 2, 8"),
    "mae": ("3, -0.5, 2, 7", "2.5, 0, 2, 8"),
    "huber": ("3, -0.5, 2, 7", "2.5, 0, 2, 9.5"),
    "log_cosh": ("3, -0.5, 2, 7", "2.5, 0, 2, 8"),
    "binary_crossentropy": ("1, 0, 1, 0", "0.9, 0.2, 0.6, 0.3"),
    "binary_crossentropy_logits": ("1, 0, 1, 0", "2.2, -1.4, 0.4, -0.8"),
    "categorical_crossentropy": ("1 0 0; 0 1 0; 0 0 1", "0.7 0.2 0.1; 0.1 0.8 0.1; 0.3 0.3 0.4"),
    "sparse_categorical_crossentropy": ("0, 1, 2", "0.7 0.2 0.1; 0.1 0.8 0.1; 0.3 0.3 0.4"),
    "hinge": ("1, -1, 1, -1", "0.8, -0.3, -0.2, -2"),
}


def parse_numbers(text: str, what: str) -> np.ndarray:
    """Numbers typed by the learner: separated by commas or spaces, rows by ';'.

    `what` names the field in the messages (an English label marked with N_, e.g.
    "Predictions"). Returns a 1-D array for one row, a 2-D array for several.

    Raises:
        InvalidDataset: a value is not a number, or the rows have different lengths.
    """
    rows, what = [], Message(what)
    for row in (part for part in str(text).split(";") if part.strip()):
        tokens = row.replace(",", " ").split()
        try:
            rows.append([float(token) for token in tokens])
        except ValueError:
            bad = next(t for t in tokens if not _is_number(t))
            raise InvalidDataset(
                Message("{what}: '{bad}' is not a number.", what=what, bad=bad)
            ) from None
    if not rows:
        raise InvalidDataset(
            Message("{what} is empty: type numbers separated by commas.", what=what)
        )
    if len({len(row) for row in rows}) != 1:
        raise InvalidDataset(
            Message("{what}: every row (separated by ';') needs as many numbers.", what=what)
        )
    values = np.array(rows, dtype=np.float64)
    if not np.all(np.isfinite(values)) or np.any(np.abs(values) > 1e6):
        raise InvalidDataset(
            Message("{what}: use ordinary numbers (at most a million in size).", what=what)
        )
    return values[0] if len(rows) == 1 else values


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _clip(p: float) -> float:
    return min(max(p, EPSILON), 1.0 - EPSILON)


def _n(value: float) -> str:
    """A number inside a written-out term: what the learner typed, to 6 digits."""
    return readable.number(value, 6)


def _term_mse(t, p, _):
    return f"({_n(t)} − {_n(p)})²", (t - p) ** 2


def _term_mae(t, p, _):
    return f"|{_n(t)} − {_n(p)}|", abs(t - p)


def _term_huber(t, p, params):
    delta, error = params["delta"], abs(t - p)
    if error <= delta:
        term = f"½·({_n(t)} − {_n(p)})²"
        return Message("{term}  (|error| ≤ δ)", term=term), 0.5 * error**2
    term = f"{_n(delta)}·|{_n(t)} − {_n(p)}| − ½·{_n(delta)}²"
    return Message("{term}  (|error| > δ)", term=term), delta * error - 0.5 * delta**2


def _term_log_cosh(t, p, _):
    x = abs(p - t)
    # log(cosh x) = |x| + log(1 + e^(-2|x|)) - log 2, which never overflows.
    return f"log(cosh({_n(p)} − {_n(t)}))", x + math.log1p(math.exp(-2 * x)) - math.log(2)


def _term_hinge(t, p, _):
    return f"max(0, 1 − ({_n(t)})·({_n(p)}))", max(0.0, 1.0 - t * p)


def _term_bce(t, p, _):
    q = _clip(p)
    term = f"−[{_n(t)}·log({_n(q)}) + {_n(1 - t)}·log(1 − {_n(q)})]"
    if q != p:
        term = Message("{term}  (ŷ clipped to {value})", term=term, value=readable.number(q, 7))
    return term, -(t * math.log(q) + (1 - t) * math.log(1 - q))


def _term_bce_logits(t, z, _):
    return (
        f"max({_n(z)}, 0) − ({_n(z)})·{_n(t)} + log(1 + e^(−|{_n(z)}|))",
        max(z, 0.0) - z * t + math.log1p(math.exp(-abs(z))),
    )


def _categorical_used(probabilities: Sequence[float]) -> list[float]:
    """The row categorical cross-entropy uses: divided by its sum, then clipped."""
    total = math.fsum(probabilities)
    return [_clip(p / total) for p in probabilities]


def _sparse_used(probabilities: Sequence[float]) -> list[float]:
    """The row sparse cross-entropy uses: clipped, then divided by its sum."""
    clipped = [_clip(p) for p in probabilities]
    total = math.fsum(clipped)
    return [q / total for q in clipped]


def _term_cce(labels, probabilities, _):
    used = _categorical_used(probabilities)
    parts = [
        f"{_n(y)}·log({readable.number(q, 4)})" for y, q in zip(labels, used, strict=True) if y != 0
    ]
    value = -sum(y * math.log(q) for y, q in zip(labels, used, strict=True))
    return f"−({' + '.join(parts) or '0'})", value


def _term_sparse(label, probabilities, _):
    # Keras clips each p, then takes -log of the true class's share of the clipped row.
    clipped = [_clip(p) for p in probabilities]
    total, chosen = math.fsum(clipped), clipped[int(label)]
    share = readable.number(chosen, 4)
    if not _adds_up_to_one(total):
        share = f"{share} ÷ {readable.number(total, 8)}"
    return f"−log({share})", -math.log(chosen / total)


_TERMS = {
    "mse": _term_mse,
    "mae": _term_mae,
    "huber": _term_huber,
    "log_cosh": _term_log_cosh,
    "hinge": _term_hinge,
    "binary_crossentropy": _term_bce,
    "binary_crossentropy_logits": _term_bce_logits,
    "categorical_crossentropy": _term_cce,
    "sparse_categorical_crossentropy": _term_sparse,
}
# The probability row each row-wise loss actually takes the logarithm of.
_USED_ROWS = {
    "categorical_crossentropy": _categorical_used,
    "sparse_categorical_crossentropy": _sparse_used,
}


def _check_pointwise(loss: Loss, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_true.ndim != 1 or y_pred.ndim != 1:
        raise InvalidDataset(Message("Type one row of numbers (no ';') for this loss."))
    if y_true.size != y_pred.size:
        raise InvalidDataset(
            Message(
                "There are {true} true values but {predicted} predictions: give one "
                "prediction per true value.",
                true=readable.grouped(y_true.size),
                predicted=readable.grouped(y_pred.size),
            )
        )
    if loss.name.startswith("binary") and np.any((y_true < 0) | (y_true > 1)):
        raise InvalidDataset(Message("Labels for binary cross-entropy are between 0 and 1."))
    if loss.name == "binary_crossentropy" and np.any((y_pred < 0) | (y_pred > 1)):
        raise InvalidDataset(Message("Predicted probabilities must be between 0 and 1."))


def _check_rows(loss: Loss, y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if np.any(y_pred < 0) or np.any(y_pred.sum(axis=1) <= 0):
        raise InvalidDataset(
            Message("Predicted probabilities must be ≥ 0, with a positive sum per row.")
        )
    if loss.layout == "categorical" and y_true.shape != y_pred.shape:
        raise InvalidDataset(
            Message(
                "The labels have shape {labels} but the predictions {predictions}: give one "
                "one-hot row per predicted row.",
                labels=y_true.shape,
                predictions=y_pred.shape,
            )
        )
    if loss.layout == "sparse":
        classes = y_pred.shape[1]
        if y_true.ndim != 1 or y_true.size != y_pred.shape[0]:
            raise InvalidDataset(Message("Give one class number per predicted row."))
        if np.any((y_true != np.round(y_true)) | (y_true < 0) | (y_true >= classes)):
            raise InvalidDataset(
                Message(
                    "Classes are whole numbers from 0 to {last}.",
                    last=readable.grouped(classes - 1),
                )
            )


def _checked(loss: Loss, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """The parsed inputs in Keras' layout, or InvalidDataset saying what to fix."""
    if loss.layout == "pointwise":
        _check_pointwise(loss, y_true, y_pred)
    else:
        y_pred = np.atleast_2d(y_pred)
        y_true = np.atleast_2d(y_true) if loss.layout == "categorical" else np.ravel(y_true)
        _check_rows(loss, y_true, y_pred)
    if len(y_pred) > 20:
        raise InvalidDataset(
            Message("Keep the worked example to at most {limit} samples.", limit=20)
        )
    return y_true, y_pred


def _adds_up_to_one(total: float) -> bool:
    return abs(total - 1.0) <= ROW_SUM_TOLERANCE


def _show(value, digits: int = 6) -> str:
    if np.ndim(value):
        return ", ".join(readable.number(v, digits) for v in value)
    return readable.number(value, digits)


@dataclass(frozen=True)
class WorkedRow:
    """One sample of the worked example.

    Attributes:
        sample: Its number, from 1.
        y: Its true value (or one-hot row, or class) as shown.
        y_pred: Its prediction (or probability row) as shown.
        term: The arithmetic of its loss term, written out (a Message when it carries
            words, e.g. Huber's "(|error| ≤ δ)": `str()` it where it is shown).
        value: That term's value.
        used: For the cross-entropies over rows, the probability row Keras takes the
            logarithm of (clipped, and divided by the row's sum); "" for the other losses.
    """

    sample: int
    y: str
    y_pred: str
    term: str | Message
    value: float
    used: str = ""


@dataclass(frozen=True)
class WorkedExample:
    """The loss computed by hand next to Keras' number (`worked_example`).

    Attributes:
        rows: One WorkedRow per sample.
        sum: The sum of the terms (math.fsum).
        n: The number of samples.
        mean: sum / n, the loss by hand.
        keras: The loss as keras.losses reports it (Loss.value).
        note: What Keras changed in the inputs (hinge's 0/1 labels, probability rows that
            do not add up to 1) as a Message read in the reader's language, or "".
        rescaled: The numbers (from 1) of the probability rows that do not add up to 1.
    """

    rows: list[WorkedRow]
    sum: float
    n: int
    mean: float
    keras: float
    note: Message | str
    rescaled: tuple[int, ...] = ()


def worked_example(
    name: str, y_true_text: str, y_pred_text: str, delta: float = 1.0
) -> WorkedExample:
    """The loss computed by hand, one sample at a time, next to the number Keras reports.

    Args:
        name: A registered loss.
        y_true_text: True values as typed (see parse_numbers); one-hot rows for categorical
            cross-entropy, class numbers for the sparse variant.
        y_pred_text: Predictions as typed; probability rows for the categorical losses.
        delta: Huber's δ (ignored by the other losses).

    Returns:
        A WorkedExample: one row per sample with its term written out, their sum and mean,
        and Keras' number.

    Raises:
        InvalidDataset: the typed numbers cannot be used with this loss.
    """
    loss = get(name, **({"delta": delta} if name == "huber" else {}))
    y_true, y_pred = _checked(
        loss,
        parse_numbers(y_true_text, N_("True values")),
        parse_numbers(y_pred_text, N_("Predictions")),
    )
    labels, note = y_true, ""
    if name == "hinge" and np.all(np.isin(y_true, (0.0, 1.0))):
        labels = 2.0 * y_true - 1.0
        note = Message("Every label was 0 or 1, so Keras used −1 and +1.")
    rows = [
        _worked_row(name, index, label, prediction, loss.params)
        for index, (label, prediction) in enumerate(zip(labels, y_pred, strict=True), start=1)
    ]
    rescaled = _rescaled_rows(name, y_pred)
    if rescaled:
        note = _rescaled_note(rescaled)
    total = math.fsum(row.value for row in rows)
    return WorkedExample(
        rows=rows,
        sum=total,
        n=len(rows),
        mean=total / len(rows),
        keras=loss.value(y_true, y_pred),
        note=note,
        rescaled=rescaled,
    )


def _worked_row(name: str, index: int, label, prediction, params) -> WorkedRow:
    """One sample of the worked example, its term written out with the learner's numbers."""
    label, prediction = np.asarray(label).tolist(), np.asarray(prediction).tolist()
    term, value = _TERMS[name](label, prediction, params)
    used = _USED_ROWS.get(name)
    shown_used = _show(used(prediction), 4) if used else ""
    return WorkedRow(index, _show(label), _show(prediction), term, value, shown_used)


def _rescaled_note(rescaled: tuple[int, ...]) -> Message:
    if len(rescaled) == 1:
        return Message(
            "Row {row} of ŷ does not add up to 1, so Keras divided each of its probabilities "
            "by the row's sum first (column 'ŷ as Keras uses it'); a softmax's output always "
            "adds up to 1, so in training this changes nothing.",
            row=readable.grouped(rescaled[0]),
        )
    return Message(
        "Rows {rows} of ŷ do not add up to 1, so Keras divided each probability by its row's "
        "sum first (column 'ŷ as Keras uses it'); a softmax's output always adds up to 1, so "
        "in training this changes nothing.",
        rows=", ".join(readable.grouped(index) for index in rescaled),
    )


def _rescaled_rows(name: str, y_pred: np.ndarray) -> tuple[int, ...]:
    """Numbers (from 1) of the probability rows a row-wise loss divides by a sum other than 1."""
    if name not in _USED_ROWS:
        return ()
    totals = [math.fsum(row) for row in np.asarray(y_pred).tolist()]
    return tuple(i for i, total in enumerate(totals, start=1) if not _adds_up_to_one(total))


# The walkthrough of one-hot and integer labels starts from these (class numbers, rows).
LABELS_EXAMPLE = ("2, 0, 1", "0.1 0.2 0.7; 0.6 0.3 0.1; 0.2 0.5 0.3")


@dataclass(frozen=True)
class LabelRow:
    """One sample of the one-hot vs class-number walkthrough (`compare_label_encodings`).

    Attributes:
        sample: Its number, from 1.
        label: Its true class as a number (what sparse cross-entropy takes).
        one_hot: The same class as a one-hot row (what categorical cross-entropy takes).
        y_pred: Its predicted probabilities as shown.
        categorical_term: −Σ y·log ŷ written out over every class, zeros included.
        sparse_term: −log of the true class's probability.
        categorical: This sample's categorical cross-entropy (keras.losses).
        sparse: This sample's sparse categorical cross-entropy (keras.losses).
    """

    sample: int
    label: int
    one_hot: str
    y_pred: str
    categorical_term: str
    sparse_term: str
    categorical: float
    sparse: float


@dataclass(frozen=True)
class LabelComparison:
    """The two encodings of the same labels and the loss each gives (keras.losses).

    Attributes:
        rows: One LabelRow per sample.
        classes: The number of classes (the length of each probability row).
        categorical: Categorical cross-entropy on the one-hot rows (the batch mean).
        sparse: Sparse categorical cross-entropy on the class numbers (the batch mean).
    """

    rows: list[LabelRow]
    classes: int
    categorical: float
    sparse: float


def compare_label_encodings(classes_text: str, y_pred_text: str) -> LabelComparison:
    """The same labels as class numbers and as one-hot rows, and both cross-entropies.

    A one-hot row is 0 everywhere but at the true class, so categorical cross-entropy's
    −Σ y·log ŷ keeps one term, −log ŷ_c: the number sparse cross-entropy takes directly.

    Args:
        classes_text: True classes as typed, e.g. "2, 0, 1" (one per row of y_pred_text).
        y_pred_text: Predicted probability rows as typed, each adding up to 1.

    Returns:
        A LabelComparison whose two losses come from keras.losses.

    Raises:
        InvalidDataset: a value is not a number, a class is out of range, or a row does
            not add up to 1 (a softmax's output always does).

    Example:
        >>> both = compare_label_encodings("1", "0.2 0.8")
        >>> both.rows[0].one_hot, round(both.categorical, 6) == round(both.sparse, 6)
        ('0, 1', True)
    """
    sparse, categorical = get("sparse_categorical_crossentropy"), get("categorical_crossentropy")
    classes, y_pred = _checked(
        sparse,
        parse_numbers(classes_text, N_("Classes")),
        parse_numbers(y_pred_text, N_("Predictions")),
    )
    _check_rows_add_up(y_pred)
    one_hot = np.eye(y_pred.shape[1])[classes.astype(int)]
    per_categorical = categorical.per_sample(one_hot, y_pred)
    per_sparse = sparse.per_sample(classes, y_pred)
    rows = [
        _label_row(i + 1, int(classes[i]), one_hot[i], y_pred[i], per_categorical[i], per_sparse[i])
        for i in range(len(classes))
    ]
    return LabelComparison(
        rows=rows,
        classes=int(y_pred.shape[1]),
        categorical=categorical.value(one_hot, y_pred),
        sparse=sparse.value(classes, y_pred),
    )


def _check_rows_add_up(y_pred: np.ndarray) -> None:
    for index, row in enumerate(y_pred.tolist(), start=1):
        total = math.fsum(row)
        if not _adds_up_to_one(total):
            raise InvalidDataset(
                Message(
                    "Row {row} adds up to {total}, not 1: a model's softmax output always adds "
                    "up to 1, so make each row do so (the Worked example tab shows what Keras "
                    "does with other rows).",
                    row=readable.grouped(index),
                    total=readable.number(total, 6),
                )
            )


def _label_row(index, label, one_hot, y_pred, categorical, sparse) -> LabelRow:
    terms = " + ".join(
        f"{_n(y)}·log({readable.number(p, 4)})" for y, p in zip(one_hot, y_pred, strict=True)
    )
    return LabelRow(
        sample=index,
        label=label,
        one_hot=_show(one_hot),
        y_pred=_show(y_pred),
        categorical_term=f"−({terms})",
        sparse_term=f"−log({readable.number(y_pred[label], 4)})",
        categorical=float(categorical),
        sparse=float(sparse),
    )
