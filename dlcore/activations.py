"""Activation functions for the Activations lesson, computed by TensorFlow.

Every entry of the registry holds the Keras function it uses, its derivative (taken by
`tf.GradientTape`, never written by hand), the LaTeX formulas shown to the learner, its output
range and one line on when to use it. Tests evaluate each LaTeX formula and compare it with what
the code computes, so what the learner reads is what TensorFlow does.

Parameters are bound when the entry is fetched: `get("leaky_relu", alpha=0.1)`.

Example:
    >>> from dlcore import activations
    >>> relu = activations.get("relu")
    >>> relu.value([-1.0, 2.0]).tolist(), relu.derivative([-1.0, 2.0]).tolist()
    ([0.0, 2.0], [0.0, 1.0])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from dlcore.i18n import N_, _
from dlcore.registry import Hyperparameter, Interval, Parametrized, Registry

# Derivatives smaller than this mark a "saturated" region: learning through it nearly stops.
SATURATION_THRESHOLD = 0.01

# SELU's fixed constants (Klambauer et al., 2017), as TensorFlow's tf.nn.selu uses them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@dataclass(frozen=True)
class Activation(Parametrized):
    """One activation function: the Keras code, its formulas and what it is for.

    Attributes:
        name: Registry key, e.g. "leaky_relu".
        title: Display name, e.g. "Leaky ReLU" (a catalogue message: show it as `_(title)`).
        function: The Keras function, called as `function(x, **params)` on a tensor.
        latex: Formula of f(x) in LaTeX; every side of each "=" is the same function.
        derivative_latex: Formula of f'(x) in LaTeX, including the value TF returns at kinks.
        range: Output range in words, e.g. "(0, 1)" (show it as `_(range)`: some have words).
        use: One line on when to use it (a catalogue message: show it as `_(use)`).
        hyperparameters: The parameters it takes (α): symbol, default, the page's range.
        constants: LaTeX symbol of each fixed constant in the formulas, with its value.
        elementwise: False for softmax, which maps a whole vector to a vector.
        params: Bound parameter values, e.g. {"alpha": 0.2}: the defaults unless bound.

    `symbols` (from Parametrized) holds every symbol of the formulas with its value. The
    formulas are shown through `shown_latex` (the words inside their \\text{…} translated).
    """

    name: str
    title: str
    function: Callable[..., tf.Tensor]
    latex: str
    derivative_latex: str
    range: str
    use: str
    hyperparameters: tuple[Hyperparameter, ...] = ()
    constants: Mapping[str, float] = field(default_factory=dict)
    elementwise: bool = True
    params: Mapping[str, float] = field(default_factory=dict)

    kind = "activation"

    def value(self, x) -> np.ndarray:
        """f(x) in float64, computed by the Keras function.

        For softmax, `x` is a vector of logits (or a batch of them, one per row).
        """
        return self._call(_as_tensor(x)).numpy()

    def derivative(self, x) -> np.ndarray:
        """f'(x) in float64, computed by tf.GradientTape through the Keras function.

        Element-wise functions return an array shaped like `x`. Softmax returns its full
        Jacobian d p_i / d z_j: shape (K, K) for a vector of K logits, (B, K, K) for a batch.
        """
        return self.value_and_derivative(x)[1]

    def value_and_derivative(self, x) -> tuple[np.ndarray, np.ndarray]:
        """f(x) and f'(x) from one forward pass under tf.GradientTape (see `derivative`)."""
        x = _as_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = self._call(x)
        if self.elementwise:
            # Each output depends on its own input only, so the gradient of the sum is f'(x).
            grad = tape.gradient(y, x)
            return y.numpy(), np.zeros_like(x.numpy()) if grad is None else grad.numpy()
        if len(x.shape) == 1:
            return y.numpy(), tape.jacobian(y, x).numpy()
        return y.numpy(), tape.batch_jacobian(y, x).numpy()

    def _call(self, x: tf.Tensor) -> tf.Tensor:
        return self.function(x, **self.params)


def _as_tensor(x) -> tf.Tensor:
    return tf.constant(np.asarray(x, dtype=np.float64))


def _alpha(default: float, high: float) -> Hyperparameter:
    """The α of Leaky ReLU and ELU: Keras takes any α >= 0; the page's slider stops at `high`."""
    return Hyperparameter("alpha", "α", default, 0.0, high, symbol=r"\alpha", accepts=Interval(0.0))


def _cases(positive: str, negative: str, cut: str = r"x > 0", rest: str = r"x \le 0") -> str:
    return rf"\begin{{cases}} {positive} & {cut} \\ {negative} & {rest} \end{{cases}}"


# The words inside \text{…} of the formulas, shown in the reader's language (every other
# \text{…} is a name, such as ReLU or softplus, and stays as it is).
TEXT_WORDS = (N_("otherwise"),)


def shown_latex(latex: str) -> str:
    r"""A formula as the reader sees it: the words inside \text{…} in the reader's language.

    The registry keeps the English formula (the tests evaluate it); only the words change.

    Example:
        >>> from dlcore.i18n import using
        >>> with using("zh"):
        ...     print(shown_latex(r"0 & \text{otherwise}"))
        0 & \text{其他情况}
    """
    for word in TEXT_WORDS:
        latex = latex.replace(rf"\text{{{word}}}", rf"\text{{{_(word)}}}")
    return latex


_ENTRIES = [
    Activation(
        "sigmoid",
        N_("Sigmoid"),
        lambda x: keras.activations.sigmoid(x),
        r"\sigma(x) = \frac{1}{1 + e^{-x}}",
        r"\sigma'(x) = \sigma(x)\,(1 - \sigma(x))",
        "(0, 1)",
        N_(
            "Output of a yes/no classifier (a probability); avoid in deep hidden layers: "
            "its slope is at most 0.25."
        ),
    ),
    Activation(
        "tanh",
        N_("Tanh"),
        lambda x: keras.activations.tanh(x),
        r"\text{Tanh}(x) = \frac{e^x - e^{-x}}{e^x + e^{-x}}",
        r"\text{Tanh}'(x) = 1 - \tanh^2(x)",
        "(−1, 1)",
        N_("Hidden layers of small or recurrent networks: zero-centred, but it saturates too."),
    ),
    Activation(
        "relu",
        N_("ReLU"),
        lambda x: keras.activations.relu(x),
        r"\text{ReLU}(x) = \max(0, x)",
        r"\text{ReLU}'(x) = " + _cases("1", "0"),
        "[0, ∞)",
        N_("The default for hidden layers: cheap, and its slope is 1 wherever it is active."),
    ),
    Activation(
        "leaky_relu",
        N_("Leaky ReLU"),
        lambda x, alpha: keras.activations.leaky_relu(x, negative_slope=alpha),
        r"\text{LeakyReLU}(x) = " + _cases("x", r"\alpha x"),
        r"\text{LeakyReLU}'(x) = " + _cases("1", r"\alpha"),
        N_("(−∞, ∞) for α > 0"),
        N_("Like ReLU, but a small slope α for x < 0 keeps 'dead' units learning."),
        hyperparameters=(_alpha(0.2, high=1.0),),
    ),
    Activation(
        "elu",
        N_("ELU"),
        lambda x, alpha: keras.activations.elu(x, alpha=alpha),
        r"\text{ELU}(x) = " + _cases("x", r"\alpha\,(e^x - 1)"),
        r"\text{ELU}'(x) = " + _cases("1", r"\alpha\,e^x"),
        "(−α, ∞)",
        N_(
            "ReLU variant whose negative outputs push the mean activation towards zero; smooth "
            "at 0 only when α = 1 (otherwise its slope jumps from α to 1 there)."
        ),
        hyperparameters=(_alpha(1.0, high=3.0),),
    ),
    Activation(
        "selu",
        N_("SELU"),
        lambda x: keras.activations.selu(x),
        r"\text{SELU}(x) = \lambda " + _cases("x", r"\alpha\,(e^x - 1)"),
        # TensorFlow's SELU gradient takes the x >= 0 branch at exactly x = 0.
        r"\text{SELU}'(x) = \lambda " + _cases("1", r"\alpha\,e^x", r"x \ge 0", r"x < 0"),
        "(−λα, ∞) ≈ (−1.758, ∞)",
        N_("Self-normalizing deep dense nets, with the LeCun-normal initializer."),
        constants={r"\lambda": SELU_SCALE, r"\alpha": SELU_ALPHA},
    ),
    Activation(
        "gelu",
        N_("GELU"),
        lambda x: keras.activations.gelu(x, approximate=False),
        r"\text{GELU}(x) = x\,\Phi(x) = "
        r"\frac{x}{2}\left(1 + \operatorname{erf}\left(\frac{x}{\sqrt{2}}\right)\right)",
        r"\text{GELU}'(x) = \Phi(x) + x\,\varphi(x) = "
        r"\frac{1}{2}\left(1 + \operatorname{erf}\left(\frac{x}{\sqrt{2}}\right)\right)"
        r" + \frac{x}{\sqrt{2\pi}}\,e^{-x^2/2}",
        "≈ (−0.17, ∞)",
        N_(
            "Transformers (BERT, GPT): a smooth ReLU that weighs x by how likely it is to be large."
        ),
    ),
    Activation(
        "swish",
        N_("Swish (SiLU)"),
        lambda x: keras.activations.silu(x),
        r"\text{swish}(x) = x\,\sigma(x) = \frac{x}{1 + e^{-x}}",
        r"\text{swish}'(x) = \sigma(x)\,\left(1 + x\,(1 - \sigma(x))\right)",
        "≈ (−0.28, ∞)",
        N_(
            "Deep CNNs such as EfficientNet: smooth, non-monotonic, often a little better than "
            "ReLU."
        ),
    ),
    Activation(
        "softplus",
        N_("Softplus"),
        lambda x: keras.activations.softplus(x),
        r"\text{softplus}(x) = \log(1 + e^x)",
        r"\text{softplus}'(x) = \frac{1}{1 + e^{-x}} = \sigma(x)",
        "(0, ∞)",
        N_("When an output must be positive (a variance, a rate): a smooth ReLU."),
    ),
    Activation(
        "softsign",
        N_("Softsign"),
        lambda x: keras.activations.softsign(x),
        r"\text{softsign}(x) = \frac{x}{1 + |x|}",
        r"\text{softsign}'(x) = \frac{1}{(1 + |x|)^2}",
        "(−1, 1)",
        N_("A tanh look-alike whose tails flatten polynomially, not exponentially."),
    ),
    Activation(
        "hard_sigmoid",
        N_("Hard sigmoid"),
        lambda x: keras.activations.hard_sigmoid(x),
        # Keras 3 computes relu6(x + 3) / 6 (slope 1/6), not the older 0.2 x + 0.5.
        r"\text{hard\_sigmoid}(x) = \frac{\text{ReLU6}(x + 3)}{6} = "
        r"\frac{\min(\max(x + 3, 0), 6)}{6}",
        r"\text{hard\_sigmoid}'(x) = "
        + _cases(r"\frac{1}{6}", "0", r"-3 < x < 3", r"\text{otherwise}"),
        "[0, 1]",
        N_("Mobile networks (MobileNetV3): a cheap piecewise-linear stand-in for the sigmoid."),
    ),
    Activation(
        "linear",
        N_("Linear (identity)"),
        lambda x: keras.activations.linear(x),
        r"f(x) = x",
        r"f'(x) = 1",
        "(−∞, ∞)",
        N_("Output layer of a regression (a price): no bend at all."),
    ),
    Activation(
        "softmax",
        N_("Softmax"),
        lambda x: keras.activations.softmax(x, axis=-1),
        r"\text{softmax}(z)_i = \frac{e^{z_i}}{\sum_{j=1}^{K} e^{z_j}}",
        r"\frac{\partial\,\text{softmax}(z)_i}{\partial z_j} = "
        r"\text{softmax}(z)_i\,\left(\delta_{ij} - \text{softmax}(z)_j\right)",
        N_("(0, 1), summing to 1"),
        N_("Output layer of a classifier with K classes: turns K scores into probabilities."),
        elementwise=False,
    ),
]
_REGISTRY = Registry("activation", _ENTRIES)


def names() -> list[str]:
    """Every registered activation, in teaching order (softmax last)."""
    return list(_REGISTRY.names())


def elementwise_names() -> list[str]:
    """The activations that act on each number separately (all but softmax)."""
    return [entry.name for entry in _REGISTRY if entry.elementwise]


def get(name: str, **params: float) -> Activation:
    """The registered activation `name`, with `params` (e.g. alpha=0.1) bound.

    Raises:
        ValueError: `name` is not registered, or a parameter is unknown or invalid.
    """
    entry = _REGISTRY.get(name)
    return entry.with_params(**params) if params else entry


def saturation_intervals(
    x: Sequence[float], slope: Sequence[float], threshold: float = SATURATION_THRESHOLD
) -> list[tuple[float, float]]:
    """The stretches of a sampled curve where |f'(x)| < threshold, as (start, end) pairs.

    Example:
        >>> saturation_intervals([-2, -1, 0, 1, 2], [0.0, 0.0, 0.5, 1.0, 0.001])
        [(-2.0, -1.0), (2.0, 2.0)]
    """
    flat = np.abs(np.asarray(slope, dtype=float)) < threshold
    xs = np.asarray(x, dtype=float)
    intervals, start = [], None
    for index, is_flat in enumerate(flat):
        if is_flat and start is None:
            start = index
        if start is not None and (not is_flat or index == len(flat) - 1):
            end = index if is_flat else index - 1
            intervals.append((float(xs[start]), float(xs[end])))
            start = None
    return intervals


@dataclass(frozen=True)
class ActivationCurve:
    """One activation sampled over the plotted range.

    Attributes:
        value: f(x) at each sample of the range.
        derivative: f'(x) at each sample, by tf.GradientTape.
        saturated: The (start, end) stretches where |f'(x)| < SATURATION_THRESHOLD.
    """

    value: list[float]
    derivative: list[float]
    saturated: list[tuple[float, float]]


@dataclass(frozen=True)
class ProbeValues:
    """One activation at the probe input x.

    Attributes:
        value: f(x).
        derivative: f'(x), by tf.GradientTape.
    """

    value: float
    derivative: float


@dataclass(frozen=True)
class FunctionView:
    """What the function plot shows (`explore`): curves, saturation and the probe.

    Attributes:
        x: The sampled inputs, from x_min to x_max.
        curves: Activation name -> its curve over `x`, in the order selected.
        probe: Activation name -> its value and slope at the probe input.
    """

    x: list[float]
    curves: dict[str, ActivationCurve]
    probe: dict[str, ProbeValues]


def explore(
    selected: Sequence[str],
    x_min: float,
    x_max: float,
    probe: float,
    params: Mapping[str, Mapping[str, float]] | None = None,
    points: int = 401,
) -> FunctionView:
    """Everything the function plot shows: curves, saturation stretches and the probe values.

    Args:
        selected: Element-wise activation names to overlay.
        x_min: Left end of the plotted input range.
        x_max: Right end; must be greater than x_min.
        probe: The input x at which f(x) and f'(x) are reported as numbers; within
            [x_min, x_max], so that the point drawn at the probe lies on its curve.
        params: Parameters per activation, e.g. {"leaky_relu": {"alpha": 0.1}}.
        points: Number of samples of the curve.

    Returns:
        A FunctionView of plain lists and floats (small to pickle for a page cache).

    Raises:
        ValueError: The range is empty, the probe lies outside it, or an activation is unknown
            or acts on a whole vector.
    """
    if not x_max > x_min:
        raise ValueError(f"x_max ({x_max}) must be greater than x_min ({x_min})")
    if not x_min <= probe <= x_max:
        raise ValueError(f"probe ({probe}) must lie within the plotted range [{x_min}, {x_max}]")
    xs = np.linspace(x_min, x_max, points)
    curves, probes = {}, {}
    for name in selected:
        activation = get(name, **(params or {}).get(name, {}))
        if not activation.elementwise:
            raise ValueError(f"{name} acts on a whole vector; use softmax_view instead")
        values, slopes = activation.value_and_derivative(np.append(xs, probe))
        curves[name] = ActivationCurve(
            value=values[:-1].tolist(),
            derivative=slopes[:-1].tolist(),
            saturated=saturation_intervals(xs, slopes[:-1]),
        )
        probes[name] = ProbeValues(value=float(values[-1]), derivative=float(slopes[-1]))
    return FunctionView(x=xs.tolist(), curves=curves, probe=probes)


def max_abs_derivative(name: str, **params: float) -> float:
    """The largest |f'(x)| over x in [-10, 10] (sampled finely), as TensorFlow computes it."""
    return float(np.max(np.abs(get(name, **params).derivative(np.linspace(-10, 10, 20001)))))


def layer_gradients(
    name: str, n_layers: int, width: int = 32, batch: int = 64, seed: int = 0, **params: float
) -> np.ndarray:
    """How big the gradient is at each layer of a deep random network, relative to the last.

    Builds `n_layers` dense layers of `width` units (no bias) with Keras' default
    Glorot-uniform initial weights, drawn with NumPy from `seed` so that every activation
    gets the same network, feeds a batch of standard-normal inputs, and lets
    tf.GradientTape backpropagate the batch mean of the summed outputs.

    Returns:
        An array of length n_layers: the norm of d loss / d W_k for layer k = 1 (next to the
        input) .. n_layers (the output), divided by the norm at the output layer.
    """
    if not 1 <= int(n_layers) <= 200:
        raise ValueError(f"n_layers must be between 1 and 200, got {n_layers!r}")
    activation = get(name, **params)
    rng = np.random.default_rng(seed)
    limit = np.sqrt(6.0 / (width + width))
    weights = [tf.Variable(rng.uniform(-limit, limit, (width, width))) for _ in range(n_layers)]
    inputs = tf.constant(rng.standard_normal((batch, width)))
    with tf.GradientTape() as tape:
        hidden = inputs
        for kernel in weights:
            hidden = activation._call(hidden @ kernel)
        loss = tf.reduce_mean(tf.reduce_sum(hidden, axis=1))
    norms = np.array([float(tf.norm(g)) for g in tape.gradient(loss, weights)])
    return norms / norms[-1]


@dataclass(frozen=True)
class DepthCurve:
    """One activation through a deep network (see `layer_gradients`).

    Attributes:
        relative_gradient: The gradient norm at layer 1..N divided by the last layer's.
        max_slope: The largest slope max|f'(x)| (`max_abs_derivative`).
        slope_factor: max_slope^(N - 1): the most the slopes alone let through N layers.
    """

    relative_gradient: list[float]
    max_slope: float
    slope_factor: float


@dataclass(frozen=True)
class VanishingView:
    """What the vanishing-gradient panel shows (`vanishing_view`).

    Attributes:
        layer: Layer numbers 1..N (1 is next to the input).
        curves: Activation name -> its DepthCurve, in the order selected.
    """

    layer: list[int]
    curves: dict[str, DepthCurve]


def vanishing_view(selected: Sequence[str], n_layers: int) -> VanishingView:
    """The vanishing-gradient panel: per activation, the relative gradient at every layer,
    the largest slope max|f'| and the chain-rule factor max|f'|^(n_layers - 1) it allows."""
    curves = {}
    for name in selected:
        slope = max_abs_derivative(name)
        curves[name] = DepthCurve(
            relative_gradient=layer_gradients(name, n_layers).tolist(),
            max_slope=slope,
            slope_factor=slope ** (n_layers - 1),
        )
    return VanishingView(layer=list(range(1, n_layers + 1)), curves=curves)


# The formula `softmax` computes, as the page shows it.
SOFTMAX_TEMPERATURE_LATEX = r"p_i = \frac{e^{z_i / T}}{\sum_{j=1}^{K} e^{z_j / T}}"


def softmax(logits: Sequence[float], temperature: float = 1.0) -> np.ndarray:
    """Probabilities from logits with a temperature: keras softmax of logits / temperature.

    Example:
        >>> softmax([0.0, 0.0]).tolist()
        [0.5, 0.5]
    """
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    scaled = np.asarray(logits, dtype=np.float64) / float(temperature)
    return get("softmax").value(scaled)


@dataclass(frozen=True)
class SoftmaxView:
    """What the softmax panel shows (`softmax_view`).

    Attributes:
        probabilities: softmax(z / T), one per class.
        probabilities_t1: softmax(z) at T = 1, for comparison.
        jacobian: d p_i / d z_j at the tempered logits z / T (row i, column j), by
            tf.GradientTape.
    """

    probabilities: list[float]
    probabilities_t1: list[float]
    jacobian: list[list[float]]


def softmax_view(logits: Sequence[float], temperature: float) -> SoftmaxView:
    """The softmax panel: probabilities at this temperature and at T = 1, plus the Jacobian
    d p_i / d z_j (of the tempered logits) computed by tf.GradientTape."""
    scaled = np.asarray(logits, dtype=np.float64) / float(temperature)
    return SoftmaxView(
        probabilities=softmax(logits, temperature).tolist(),
        probabilities_t1=softmax(logits, 1.0).tolist(),
        jacobian=get("softmax").derivative(scaled).tolist(),
    )
