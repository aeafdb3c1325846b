"""Forward and backward propagation on a small network, number by number (tutorial §2.5, §3.2).

A network here has one hidden layer and a handful of named parameters (w1, w2, …, b1, …), small
enough to check on paper. `forward` computes every node's value and, per sample, the chain-rule
steps that carry the loss's gradient back to each node and weight, each written as a sum of
products of named factors. `backward` computes the same gradients again as matrix products,
`tape_gradients` with `tf.GradientTape` and `numeric_gradients` with central differences: the
lesson's checks compare the four. Everything is NumPy float64; TensorFlow is imported only
inside `tape_gradients`, so stepping through the lesson never waits for it.

Weight numbering follows the well-known 2-2-2 walk-through (Mazur, "A Step by Step
Backpropagation Example"): for each layer, for each receiving unit, for each sending unit.
So w1: i1→h1, w2: i2→h1, w3: i1→h2, w4: i2→h2, then w5: h1→o1, w6: h2→o1, w7: h1→o2, …

Example:
    >>> from dlcore import backprop
    >>> net = backprop.preset("mazur")
    >>> trace = net.forward()
    >>> round(trace.loss, 9), round(net.backward(trace)["w5"], 9)
    (0.298371109, 0.082167041)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from dlcore import readable
from dlcore.errors import InvalidNetwork
from dlcore.i18n import N_, Message

# Bounds on what a learner may type: big enough to explore, small enough that a float64
# forward pass stays exact to many digits.
WEIGHT_LIMIT = 10.0
VALUE_LIMIT = 10.0
MAX_LEARNING_RATE = 100.0
MAX_TRAINING_STEPS = 5000
# Significant digits of the worked numbers, as in the walk-through the learner checks against.
WORKED_DIGITS = 8
# Step of the five-point central difference: its truncation error (~h⁴) and its rounding error
# (~1e-16 · E / h) are both far below the 1e-9 the checks ask for.
DIFFERENCE_STEP = 1e-4


@dataclass(frozen=True)
class Activation:
    """An activation f with its slope f', both from the values a node already holds.

    Attributes:
        name: Key, e.g. "sigmoid".
        value: f(net) on an array.
        slope: f'(net) on arrays (net, out): sigmoid's is out(1 − out).
        out_latex: The numeric LaTeX of out = f(net), from net's text.
        slope_latex: The numeric LaTeX of f'(net), from the texts of net and out.
    """

    name: str
    value: Callable[[np.ndarray], np.ndarray]
    slope: Callable[[np.ndarray, np.ndarray], np.ndarray]
    out_latex: Callable[[str], str]
    slope_latex: Callable[[float, str, str], str]


def _sigmoid(net: np.ndarray) -> np.ndarray:
    # The tanh form never overflows, whatever a diverging training does to net.
    return 0.5 * (1.0 + np.tanh(0.5 * net))


ACTIVATIONS = {
    "sigmoid": Activation(
        "sigmoid",
        _sigmoid,
        lambda net, out: out * (1.0 - out),
        lambda net: rf"\sigma({net})",
        lambda net, net_text, out_text: rf"{out_text}(1 - {out_text})",
    ),
    "relu": Activation(
        "relu",
        lambda net: np.maximum(net, 0.0),
        # At net = 0 exactly, TensorFlow's ReLU passes no gradient; so does this.
        lambda net, out: (net > 0).astype(np.float64),
        lambda net: rf"\max(0, {net})",
        lambda net, net_text, out_text: "1" if net > 0 else "0",
    ),
    "linear": Activation(
        "linear",
        lambda net: net,
        lambda net, out: np.ones_like(net),
        lambda net: net,
        lambda net, net_text, out_text: "1",
    ),
}

LOSSES = ("half_squared", "mse")


@dataclass(frozen=True)
class Factor:
    """One factor of a chain-rule product: its symbol (LaTeX) and its value."""

    symbol: str
    value: float


@dataclass(frozen=True)
class ForwardStep:
    """One node computed on the way forward.

    Attributes:
        node: Its name, e.g. "net_h1", "out_o2", "E".
        value: Its value.
        latex: How it is computed, with the numbers substituted (every side evaluates to
            `value` to the digits shown).
    """

    node: str
    value: float
    latex: str


@dataclass(frozen=True)
class BackwardStep:
    """One gradient on the way back: ∂E/∂node as a sum over paths of products of factors.

    Attributes:
        node: The node or parameter, e.g. "out_h1", "w5", "b2".
        symbol: LaTeX of the gradient, e.g. \\frac{\\partial E}{\\partial w_{5}}.
        terms: One product of factors per path from the node to the loss.
        value: The gradient: the sum over `terms` of the product of their factors.
        local: The numeric LaTeX of the one new derivative this step needs (e.g. the slope of
            the activation), or "" when every factor is already known.
    """

    node: str
    symbol: str
    terms: tuple[tuple[Factor, ...], ...]
    value: float
    local: str = ""

    @property
    def chain_latex(self) -> str:
        """The chain rule in symbols: ∂E/∂w5 = ∂E/∂out_o1 · ∂out_o1/∂net_o1 · ∂net_o1/∂w5."""
        products = [r" \cdot ".join(f.symbol for f in term) for term in self.terms]
        return f"{self.symbol} = " + " + ".join(products)

    @property
    def numbers_latex(self) -> str:
        """The same product with the numbers substituted, then its value."""
        products = [r" \times ".join(_factor_text(f.value) for f in term) for term in self.terms]
        return f"{self.symbol} = " + " + ".join(products) + f" = {_worked(self.value)}"


@dataclass(frozen=True)
class SampleTrace:
    """Forward and backward steps of one sample.

    Attributes:
        index: Which sample (0-based).
        forward: Every node it computes, in order, ending with its share of the loss.
        backward: Every gradient, from the outputs back to the first layer's weights.
    """

    index: int
    forward: tuple[ForwardStep, ...]
    backward: tuple[BackwardStep, ...]

    def values(self, upto: int | None = None) -> dict[str, float]:
        """Node name -> value for the first `upto` forward steps (all by default)."""
        return {s.node: s.value for s in self.forward[:upto]}

    def gradients(self, upto: int | None = None) -> dict[str, float]:
        """Node or parameter name -> this sample's gradient, for the first `upto` steps."""
        return {s.node: s.value for s in self.backward[:upto]}


@dataclass(frozen=True)
class Trace:
    """One forward pass: the loss E and, per sample, its node-by-node steps."""

    loss: float
    samples: tuple[SampleTrace, ...]


@dataclass(frozen=True)
class CheckRow:
    """One parameter's gradient three ways and their largest disagreement."""

    name: str
    chain_rule: float
    tape: float
    finite_difference: float
    frozen: bool

    @property
    def largest_difference(self) -> float:
        values = (self.chain_rule, self.tape, self.finite_difference)
        return max(values) - min(values)


@dataclass(frozen=True)
class GradientChecks:
    """The chain rule beside tf.GradientTape (float64) and central finite differences."""

    rows: tuple[CheckRow, ...]

    @property
    def largest_difference(self) -> float:
        return max(row.largest_difference for row in self.rows)


@dataclass(frozen=True)
class TrainingRun:
    """Gradient descent for several steps.

    Attributes:
        losses: E before the first step, then after each step that stayed finite.
        network: The network after the last finite step.
        outcome: "lowered" (the loss went down), "rose" (the steps overshoot and the loss
            went up) or "overflow" (numbers grew past float64: the run stopped there).
        stopped_at: The step whose result was not finite (overflow only), else None.
    """

    losses: tuple[float, ...]
    network: Network
    outcome: str
    stopped_at: int | None = None


@dataclass(frozen=True)
class Network:
    """A network with one hidden layer, named parameters and its samples.

    Attributes:
        name: The preset it came from.
        sizes: Units of the input, hidden and output layers, e.g. (2, 2, 2).
        activations: Activation names of the hidden and output layers.
        loss: "half_squared": E = (1/n) Σ_samples ½ Σ_outputs (target − out)², the walk-through's
            E for one sample; "mse": Keras' mean squared error over samples and outputs.
        inputs: One row of input values per sample.
        targets: One row of target values per sample.
        parameters: (name, value) of every weight, then every bias, in numbering order.
        shared_biases: True when one bias serves every unit of its layer (b1, b2), as in the
            walk-through; else one bias per unit.
        frozen: Parameters that gradient descent leaves as they are (their gradient is still
            computed and shown).
        learning_rate: The preset's suggested learning rate η.
    """

    name: str
    sizes: tuple[int, int, int]
    activations: tuple[str, str]
    loss: str
    inputs: tuple[tuple[float, ...], ...]
    targets: tuple[tuple[float, ...], ...]
    parameters: tuple[tuple[str, float], ...]
    shared_biases: bool = False
    frozen: frozenset[str] = field(default_factory=frozenset)
    learning_rate: float = 0.5

    def __post_init__(self) -> None:
        if self.loss not in LOSSES or any(a not in ACTIVATIONS for a in self.activations):
            raise ValueError(f"unknown loss or activation in {self.name!r}")
        if [name for name, _ in self.parameters] != parameter_names(self.sizes, self.shared_biases):
            raise ValueError(f"{self.name!r}: parameters must be named in numbering order")
        if any(len(row) != self.sizes[0] for row in self.inputs) or any(
            len(row) != self.sizes[2] for row in self.targets
        ):
            raise ValueError(f"{self.name!r}: inputs or targets do not fit the layer sizes")

    @property
    def weights(self) -> dict[str, float]:
        """Parameter name -> value, weights then biases."""
        return dict(self.parameters)

    @property
    def sample_count(self) -> int:
        return len(self.inputs)

    def with_weights(self, **values: float) -> Network:
        """The same network with some parameters changed, each checked against the limits.

        Raises:
            InvalidNetwork: An unknown name, or a value that is not a number within ±10.
        """
        known = self.weights
        for name, value in values.items():
            if name not in known:
                raise InvalidNetwork(
                    Message("There is no parameter '{name}' in this network.", name=name)
                )
            _check_limit(
                N_("Parameter {name} must be a number from −{limit} to {limit}."),
                value,
                WEIGHT_LIMIT,
                name=name,
            )
        return replace(
            self, parameters=tuple((n, float(values.get(n, v))) for n, v in known.items())
        )

    def with_sample(self, index: int, inputs: Sequence[float], targets: Sequence[float]) -> Network:
        """The same network with sample `index`'s inputs and targets replaced, within ±10.

        Raises:
            InvalidNetwork: A value outside ±10, or the wrong number of values.
        """
        if len(inputs) != self.sizes[0] or len(targets) != self.sizes[2]:
            raise InvalidNetwork(
                Message(
                    "A sample needs {inputs} inputs and {targets} targets.",
                    inputs=self.sizes[0],
                    targets=self.sizes[2],
                )
            )
        for value in (*inputs, *targets):
            _check_limit(
                N_("Every input and target must be a number from −{limit} to {limit}."),
                value,
                VALUE_LIMIT,
            )
        rows = [list(self.inputs), list(self.targets)]
        rows[0][index] = tuple(float(v) for v in inputs)
        rows[1][index] = tuple(float(v) for v in targets)
        return replace(self, inputs=tuple(rows[0]), targets=tuple(rows[1]))

    def forward(self) -> Trace:
        """Every node's value, the loss E and, per sample, the chain-rule steps back to it."""
        nodes = _forward_arrays(self, self._matrices())
        samples = tuple(_sample_trace(self, nodes, k) for k in range(self.sample_count))
        return Trace(loss=float(nodes["E"].sum()), samples=samples)

    def backward(self, trace: Trace | None = None) -> dict[str, float]:
        """∂E/∂parameter for every parameter, by the chain rule written as matrix products.

        `trace` is accepted for symmetry with the lesson's order (forward, then backward); the
        matrices are recomputed from the weights, independently of the trace's scalar steps.
        """
        return _unpack(self, _gradient_matrices(self, self._matrices()))

    def tape_gradients(self) -> dict[str, float]:
        """The same gradients by TensorFlow's automatic differentiation, in float64."""
        import tensorflow as tf

        variables = {n: tf.Variable(v, dtype=tf.float64) for n, v in self.parameters}
        with tf.GradientTape() as tape:
            loss = _tf_loss(self, variables, tf)
        gradients = tape.gradient(loss, list(variables.values()))
        return {n: float(g.numpy()) for n, g in zip(variables, gradients, strict=True)}

    def numeric_gradients(self) -> dict[str, float]:
        """The same gradients by five-point central differences of the loss."""
        result = {}
        for name, value in self.parameters:
            losses = [
                _loss_only(replace(self, parameters=_changed(self.parameters, name, value + d)))
                for d in (
                    2 * DIFFERENCE_STEP,
                    DIFFERENCE_STEP,
                    -DIFFERENCE_STEP,
                    -2 * DIFFERENCE_STEP,
                )
            ]
            result[name] = (-losses[0] + 8 * losses[1] - 8 * losses[2] + losses[3]) / (
                12 * DIFFERENCE_STEP
            )
        return result

    def step(self, learning_rate: float | None = None) -> Network:
        """One gradient-descent step, w ← w − η·∂E/∂w, on every parameter not frozen.

        The result may hold huge or non-finite weights when η is far too large: that is what
        the lesson shows, so it is returned, not refused (see `train` for the verdict).
        """
        rate = _checked_rate(self.learning_rate if learning_rate is None else learning_rate)
        gradients = self.backward()
        with np.errstate(over="ignore", invalid="ignore"):
            moved = tuple(
                (n, v if n in self.frozen else float(v - rate * gradients[n]))
                for n, v in self.parameters
            )
        return replace(self, parameters=moved)

    def train(self, learning_rate: float, steps: int) -> TrainingRun:
        """`steps` gradient-descent steps; stops, and says so, when the numbers overflow."""
        rate = _checked_rate(learning_rate)
        _check_steps(steps)
        names = list(self.weights)
        positions = {
            key: np.vectorize(names.index)(grid)
            for key, grid in _layout(self.sizes, self.shared_biases).items()
        }
        movable = np.array([name not in self.frozen for name in names], dtype=np.float64)
        values, losses = np.array([v for _, v in self.parameters]), []
        previous = values
        for number in range(steps + 1):
            gradients = _gradient_matrices(self, {k: values[i] for k, i in positions.items()})
            if not (math.isfinite(gradients["E"]) and np.isfinite(values).all()):
                return TrainingRun(tuple(losses), self._at(previous), "overflow", number)
            losses.append(gradients["E"])
            if number < steps:
                gradient = np.zeros_like(values)
                for key, where in positions.items():
                    np.add.at(gradient, where.ravel(), gradients[key].ravel())
                previous = values
                with np.errstate(over="ignore", invalid="ignore"):
                    values = values - rate * movable * gradient
        outcome = "lowered" if losses[-1] < losses[0] else "rose"
        return TrainingRun(tuple(losses), self._at(values), outcome)

    def _at(self, values: np.ndarray) -> Network:
        """The same network with every parameter's value taken from `values`, in order."""
        names = [n for n, _ in self.parameters]
        return replace(self, parameters=tuple(zip(names, map(float, values), strict=True)))

    def _matrices(self) -> dict[str, np.ndarray]:
        return _matrices(self.sizes, self.weights, self.shared_biases)


def _check_limit(message: str, value: float, limit: float, **params: object) -> None:
    """Raise InvalidNetwork with `message` (a catalogue id with a {limit} placeholder) unless
    `value` is a number within ±limit."""
    if not isinstance(value, int | float) or not math.isfinite(value) or abs(value) > limit:
        raise InvalidNetwork(Message(message, limit=readable.number(limit), **params))


def _check_steps(steps: int) -> None:
    if not 1 <= steps <= MAX_TRAINING_STEPS:
        raise InvalidNetwork(
            Message("The number of steps must be from 1 to {limit}.", limit=MAX_TRAINING_STEPS)
        )


def _checked_rate(rate: float) -> float:
    if not isinstance(rate, int | float) or not 0 < rate <= MAX_LEARNING_RATE:
        raise InvalidNetwork(
            Message(
                "The learning rate must be above 0 and at most {limit}.",
                limit=readable.number(MAX_LEARNING_RATE),
            )
        )
    return float(rate)


def _changed(parameters, name: str, value: float) -> tuple[tuple[str, float], ...]:
    return tuple((n, value if n == name else v) for n, v in parameters)


def parameter_names(sizes: Sequence[int], shared_biases: bool) -> list[str]:
    """w1, w2, … in numbering order, then the biases b1, … (one per layer or one per unit)."""
    inputs, hidden, outputs = sizes
    weights = [f"w{i + 1}" for i in range(inputs * hidden + hidden * outputs)]
    biases = 2 if shared_biases else hidden + outputs
    return weights + [f"b{i + 1}" for i in range(biases)]


def _layout(sizes: Sequence[int], shared_biases: bool) -> dict[str, np.ndarray]:
    """Parameter names arranged as the matrices they fill: W1[j, i] is i_i → h_j's weight."""
    inputs, hidden, outputs = sizes
    names = parameter_names(sizes, shared_biases)
    first = inputs * hidden
    count = first + hidden * outputs
    biases = names[count:]
    return {
        "W1": np.array(names[:first]).reshape(hidden, inputs),
        "W2": np.array(names[first:count]).reshape(outputs, hidden),
        "B1": np.array([biases[0]] * hidden if shared_biases else biases[:hidden]),
        "B2": np.array([biases[1]] * outputs if shared_biases else biases[hidden:]),
    }


def _matrices(sizes, weights: Mapping[str, float], shared_biases: bool) -> dict[str, np.ndarray]:
    layout = _layout(sizes, shared_biases)
    return {key: np.vectorize(weights.get, otypes=[float])(names) for key, names in layout.items()}


def _loss_scale(network: Network) -> tuple[float, int]:
    """E = c · Σ (target − out)² over every sample and output: c and its denominator."""
    n, outputs = network.sample_count, network.sizes[2]
    denominator = 2 * n if network.loss == "half_squared" else n * outputs
    return 1.0 / denominator, denominator


def _forward_arrays(network: Network, m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every node for every sample (rows): net/out of both layers and each sample's share of E."""
    hidden, output = (ACTIVATIONS[a] for a in network.activations)
    x = np.array(network.inputs, dtype=np.float64)
    target = np.array(network.targets, dtype=np.float64)
    scale, _ = _loss_scale(network)
    with np.errstate(over="ignore", invalid="ignore"):
        net_h = x @ m["W1"].T + m["B1"]
        out_h = hidden.value(net_h)
        net_o = out_h @ m["W2"].T + m["B2"]
        out_o = output.value(net_o)
        share = scale * ((target - out_o) ** 2).sum(axis=1)
    return {
        "x": x,
        "t": target,
        "net_h": net_h,
        "out_h": out_h,
        "net_o": net_o,
        "out_o": out_o,
        "E": share,
    }


def _loss_only(network: Network) -> float:
    return float(_forward_arrays(network, network._matrices())["E"].sum())


def _gradient_matrices(network: Network, m: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """∂E/∂W1, ∂E/∂B1, ∂E/∂W2, ∂E/∂B2 as matrices, per unit (shared biases summed later),
    and the loss E they belong to."""
    hidden, output = (ACTIVATIONS[a] for a in network.activations)
    a = _forward_arrays(network, m)
    scale, _ = _loss_scale(network)
    with np.errstate(over="ignore", invalid="ignore"):
        loss = float(a["E"].sum())
        d_net_o = 2 * scale * (a["out_o"] - a["t"]) * output.slope(a["net_o"], a["out_o"])
        d_net_h = (d_net_o @ m["W2"]) * hidden.slope(a["net_h"], a["out_h"])
        return {
            "W2": d_net_o.T @ a["out_h"],
            "B2": d_net_o.sum(axis=0),
            "W1": d_net_h.T @ a["x"],
            "B1": d_net_h.sum(axis=0),
            "E": loss,
        }


def _unpack(network: Network, gradients: dict[str, np.ndarray]) -> dict[str, float]:
    """Parameter name -> gradient; a shared bias collects every unit it feeds."""
    result = dict.fromkeys(network.weights, 0.0)
    for key, names in _layout(network.sizes, network.shared_biases).items():
        for name, value in zip(names.ravel(), gradients[key].ravel(), strict=True):
            result[str(name)] += float(value)
    return result


def _tf_loss(network: Network, variables: Mapping, tf):
    """The loss E as a TensorFlow expression of the parameter variables."""
    layout = _layout(network.sizes, network.shared_biases)

    def matrix(key):
        names = layout[key]
        return tf.reshape(tf.stack([variables[str(n)] for n in names.ravel()]), names.shape)

    functions = {"sigmoid": tf.sigmoid, "relu": tf.nn.relu, "linear": tf.identity}
    hidden, output = (functions[a] for a in network.activations)
    x = tf.constant(network.inputs, dtype=tf.float64)
    target = tf.constant(network.targets, dtype=tf.float64)
    out_h = hidden(tf.matmul(x, matrix("W1"), transpose_b=True) + matrix("B1"))
    out_o = output(tf.matmul(out_h, matrix("W2"), transpose_b=True) + matrix("B2"))
    return _loss_scale(network)[0] * tf.reduce_sum((target - out_o) ** 2)


def _worked(value: float) -> str:
    return readable.latex(value, WORKED_DIGITS)


def _factor_text(value: float) -> str:
    text = _worked(value)
    return f"({text})" if value < 0 or r"\times" in text else text


def _partial(top: str, bottom: str) -> str:
    return rf"\frac{{\partial {top}}}{{\partial {bottom}}}"


def _tex(node: str) -> str:
    """A node's name in LaTeX: net_h1 -> net_{h1}, w5 -> w_{5}."""
    if "_" in node:
        head, tail = node.split("_")
        return f"{head}_{{{tail}}}"
    return f"{node[0]}_{{{node[1:]}}}"


def _sample_trace(network: Network, a: dict[str, np.ndarray], k: int) -> SampleTrace:
    loss_symbol = "E" if network.sample_count == 1 else f"E_{{{k + 1}}}"
    forward = _forward_steps(network, a, k, loss_symbol)
    backward = _backward_steps(network, a, k, loss_symbol)
    return SampleTrace(index=k, forward=forward, backward=backward)


def _forward_steps(network, a, k: int, loss_symbol: str) -> tuple[ForwardStep, ...]:
    """net then out of each hidden unit, of each output unit, then the sample's loss share."""
    layout, weights = _layout(network.sizes, network.shared_biases), network.weights
    steps = []
    for layer, (unit, activation) in enumerate(
        (("h", network.activations[0]), ("o", network.activations[1]))
    ):
        feeding = a["x"][k] if layer == 0 else a["out_h"][k]
        names, biases = layout[f"W{layer + 1}"], layout[f"B{layer + 1}"]
        for j in range(names.shape[0]):
            products = [
                f"{_factor_text(weights[str(w)])} \\times {_factor_text(v)}"
                for w, v in zip(names[j], feeding, strict=True)
            ]
            net = float(a[f"net_{unit}"][k, j])
            out = float(a[f"out_{unit}"][k, j])
            net_sum = " + ".join([*products, _factor_text(weights[str(biases[j])])])
            steps.append(
                ForwardStep(
                    f"net_{unit}{j + 1}", net, f"net_{{{unit}{j + 1}}} = {net_sum} = {_worked(net)}"
                )
            )
            formula = ACTIVATIONS[activation].out_latex(_worked(net))
            sides = f"{formula} = {_worked(out)}" if formula != _worked(net) else _worked(out)
            steps.append(ForwardStep(f"out_{unit}{j + 1}", out, f"out_{{{unit}{j + 1}}} = {sides}"))
    steps.append(ForwardStep("E", float(a["E"][k]), _loss_latex(network, a, k, loss_symbol)))
    return tuple(steps)


def _loss_latex(network: Network, a, k: int, loss_symbol: str) -> str:
    _, denominator = _loss_scale(network)
    squares = [
        f"({_factor_text(t)} - {_factor_text(o)})^2"
        for t, o in zip(a["t"][k], a["out_o"][k], strict=True)
    ]
    return (
        f"{loss_symbol} = \\frac{{1}}{{{denominator}}}(" + " + ".join(squares) + ")"
        f" = {_worked(float(a['E'][k]))}"
    )


def _backward_steps(network, a, k: int, loss_symbol: str) -> tuple[BackwardStep, ...]:
    """Output units, the weights and biases into them, hidden units, the first layer's."""
    scale, denominator = _loss_scale(network)
    steps = []
    for j in range(network.sizes[2]):
        out, target = float(a["out_o"][k, j]), float(a["t"][k, j])
        value = 2 * scale * (out - target)
        coefficient = "" if denominator == 2 else f"\\frac{{2}}{{{denominator}}}"
        local = (
            f"{_partial(loss_symbol, _tex(f'out_o{j + 1}'))} = "
            f"{coefficient}({_factor_text(out)} - {_factor_text(target)}) = {_worked(value)}"
        )
        steps.append(_single(f"out_o{j + 1}", loss_symbol, value, local))
        steps.append(_through_activation(network, a, k, "o", j, loss_symbol, steps[-1]))
    steps += _into_layer(network, a, k, 2, loss_symbol, steps)
    for j in range(network.sizes[1]):
        steps.append(_hidden_out(network, k, j, loss_symbol, steps))
        steps.append(_through_activation(network, a, k, "h", j, loss_symbol, steps[-1]))
    steps += _into_layer(network, a, k, 1, loss_symbol, steps)
    return tuple(steps)


def _single(node: str, loss_symbol: str, value: float, local: str) -> BackwardStep:
    symbol = _partial(loss_symbol, _tex(node))
    return BackwardStep(node, symbol, ((Factor(symbol, value),),), value, local)


def _through_activation(network, a, k, unit: str, j: int, loss_symbol: str, upstream):
    """∂E/∂net = ∂E/∂out · ∂out/∂net, with the activation's slope as the new local factor."""
    layer = 0 if unit == "h" else 1
    activation = ACTIVATIONS[network.activations[layer]]
    net, out = float(a[f"net_{unit}"][k, j]), float(a[f"out_{unit}"][k, j])
    slope = float(activation.slope(np.array(net), np.array(out)))
    out_name, net_name = _tex(f"out_{unit}{j + 1}"), _tex(f"net_{unit}{j + 1}")
    slope_factor = Factor(_partial(out_name, net_name), slope)
    formula = activation.slope_latex(net, _factor_text(net), _factor_text(out))
    sides = formula if formula == _worked(slope) else f"{formula} = {_worked(slope)}"
    local = f"{slope_factor.symbol} = {sides}"
    return BackwardStep(
        f"net_{unit}{j + 1}",
        _partial(loss_symbol, net_name),
        ((Factor(upstream.symbol, upstream.value), slope_factor),),
        upstream.value * slope,
        local,
    )


def _into_layer(network, a, k: int, layer: int, loss_symbol: str, done) -> list[BackwardStep]:
    """The weights into layer `layer` (1: hidden, 2: output), then its biases."""
    unit = "h" if layer == 1 else "o"
    layout = _layout(network.sizes, network.shared_biases)
    feeding = a["x"][k] if layer == 1 else a["out_h"][k]
    by_node = {s.node: s for s in done}
    steps = []
    for j, row in enumerate(layout[f"W{layer}"]):
        net_step = by_node[f"net_{unit}{j + 1}"]
        for i, name in enumerate(row):
            net_name = _tex(f"net_{unit}{j + 1}")
            factors = (
                *net_step.terms[0],
                Factor(_partial(net_name, _tex(str(name))), float(feeding[i])),
            )
            steps.append(_product(str(name), loss_symbol, (factors,)))
    steps.sort(key=lambda s: int(s.node[1:]))
    biases: dict[str, list] = {}
    for j, name in enumerate(layout[f"B{layer}"]):
        net_step = by_node[f"net_{unit}{j + 1}"]
        one = Factor(_partial(_tex(f"net_{unit}{j + 1}"), _tex(str(name))), 1.0)
        biases.setdefault(str(name), []).append((Factor(net_step.symbol, net_step.value), one))
    steps += [_product(n, loss_symbol, tuple(terms)) for n, terms in biases.items()]
    return steps


def _product(node: str, loss_symbol: str, terms) -> BackwardStep:
    value = sum(math.prod(f.value for f in term) for term in terms)
    return BackwardStep(node, _partial(loss_symbol, _tex(node)), tuple(terms), value)


def _hidden_out(network, k: int, j: int, loss_symbol: str, done) -> BackwardStep:
    """∂E/∂out_hj: a sum over the paths through every output unit it feeds."""
    layout = _layout(network.sizes, network.shared_biases)
    weights = network.weights
    by_node = {s.node: s for s in done}
    out_name = _tex(f"out_h{j + 1}")
    terms = []
    for o in range(network.sizes[2]):
        net_step = by_node[f"net_o{o + 1}"]
        weight = Factor(_partial(_tex(f"net_o{o + 1}"), out_name), weights[str(layout["W2"][o, j])])
        terms.append((Factor(net_step.symbol, net_step.value), weight))
    return _product(f"out_h{j + 1}", loss_symbol, tuple(terms))


# The walk-through's 2-2-2 network (Mazur, "A Step by Step Backpropagation Example").
_MAZUR = {
    "sizes": (2, 2, 2),
    "activations": ("sigmoid", "sigmoid"),
    "loss": "half_squared",
    "inputs": ((0.05, 0.10),),
    "targets": ((0.01, 0.99),),
    "parameters": (0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55, 0.35, 0.60),
    "shared_biases": True,
    "learning_rate": 0.5,
}
# XOR: no single line separates its classes, so the hidden layer has to bend the input space.
_XOR = {
    "sizes": (2, 2, 1),
    "activations": ("sigmoid", "sigmoid"),
    "loss": "mse",
    "inputs": ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)),
    "targets": ((0.0,), (1.0,), (1.0,), (0.0,)),
    "parameters": (3.0, 3.5, -2.5, -3.0, 2.0, 2.5, -1.0, 1.5, -1.5),
    "shared_biases": False,
    "learning_rate": 5.0,
}
# Three houses of the regression lesson: area (m²) and price, min-max scaled to [0, 1] as the
# tutorial's §4.2.1 does, through a 1→3→1 cut of its 1→10→1 network (ReLU, then linear).
HOUSES = ((60.0, 200_000.0), (120.0, 410_000.0), (200.0, 780_000.0))


def _scaled(values: Sequence[float]) -> tuple[float, ...]:
    low, high = min(values), max(values)
    return tuple((v - low) / (high - low) for v in values)


_HOUSES = {
    "sizes": (1, 3, 1),
    "activations": ("relu", "linear"),
    "loss": "mse",
    "inputs": tuple((x,) for x in _scaled([h[0] for h in HOUSES])),
    "targets": tuple((y,) for y in _scaled([h[1] for h in HOUSES])),
    "parameters": (0.8, -0.6, 0.5, 0.6, 0.4, 0.7, 0.1, 0.5, -0.1, 0.05),
    "shared_biases": False,
    "learning_rate": 0.1,
}
_PRESETS = {"mazur": _MAZUR, "xor": _XOR, "houses": _HOUSES}
# Only the walk-through keeps its biases fixed by default, as the post does.
_FROZEN_BIASES_BY_DEFAULT = {"mazur"}


def presets() -> list[str]:
    """The preset networks, in the lesson's order."""
    return list(_PRESETS)


def preset(name: str, train_biases: bool | None = None) -> Network:
    """A preset network; `train_biases` lets gradient descent move the biases too.

    Raises:
        ValueError: `name` is not a preset (the message lists them).
    """
    if name not in _PRESETS:
        raise ValueError(f"unknown network {name!r}; choose one of {', '.join(_PRESETS)}")
    spec = dict(_PRESETS[name])
    names = parameter_names(spec["sizes"], spec["shared_biases"])
    spec["parameters"] = tuple(zip(names, spec["parameters"], strict=True))
    if train_biases is None:
        train_biases = name not in _FROZEN_BIASES_BY_DEFAULT
    frozen = frozenset() if train_biases else frozenset(n for n in names if n.startswith("b"))
    return Network(name=name, frozen=frozen, **spec)


def gradient_checks(network: Network) -> GradientChecks:
    """Every parameter's gradient by the chain rule, by tf.GradientTape and by differences."""
    chain, tape, numeric = (
        network.backward(),
        network.tape_gradients(),
        network.numeric_gradients(),
    )
    rows = tuple(
        CheckRow(n, chain[n], tape[n], numeric[n], n in network.frozen) for n in network.weights
    )
    return GradientChecks(rows)


# One sigmoid neuron, by hand: hours of practice (x, centred) and the share of a class that
# passed (y). The best (w, b) is near (1.2, −0.7), inside the sliders' ±4.
NEURON_POINTS = ((-2.0, 0.05), (-1.0, 0.15), (0.0, 0.3), (1.0, 0.65), (2.0, 0.85), (3.0, 0.95))
NEURON_LIMIT = 4.0


@dataclass(frozen=True)
class NeuronFit:
    """A sigmoid neuron a = σ(w·x + b) on NEURON_POINTS, with its loss L (MSE).

    Attributes:
        w, b: Its weight and bias.
        z: w·x + b for each point.
        a: σ(z) for each point: the neuron's predictions.
        loss: L = (1/n) Σ (y − a)².
        z_latex, a_latex: Per point, the numeric LaTeX of z and of a.
        miss_latex: Per point, the numeric LaTeX of its squared miss (y − a)².
        loss_latex: The numeric LaTeX of L as the mean of the squared misses (3 digits each,
            so that the six fit on one line).
        curve_x, curve_a: The neuron's prediction over the points' range, for a chart.
    """

    w: float
    b: float
    z: tuple[float, ...]
    a: tuple[float, ...]
    loss: float
    z_latex: tuple[str, ...]
    a_latex: tuple[str, ...]
    miss_latex: tuple[str, ...]
    loss_latex: str
    curve_x: tuple[float, ...]
    curve_a: tuple[float, ...]


@dataclass(frozen=True)
class NeuronPath:
    """Gradient descent on (w, b) from the learner's guess: every point visited and its loss."""

    w: tuple[float, ...]
    b: tuple[float, ...]
    loss: tuple[float, ...]


@dataclass(frozen=True)
class NeuronSurface:
    """The loss L over a grid of (w, b): loss[i][j] is at b[i], w[j]."""

    w: tuple[float, ...]
    b: tuple[float, ...]
    loss: tuple[tuple[float, ...], ...]


def _neuron_arrays() -> tuple[np.ndarray, np.ndarray]:
    points = np.array(NEURON_POINTS)
    return points[:, 0], points[:, 1]


def neuron_fit(w: float, b: float) -> NeuronFit:
    """The neuron's predictions and loss at (w, b), with the numbers substituted.

    Raises:
        InvalidNetwork: w or b is not a number within ±4.

    Example:
        >>> round(neuron_fit(0.0, 0.0).loss, 6)
        0.11875
    """
    _check_limit(N_("The weight w must be a number from −{limit} to {limit}."), w, NEURON_LIMIT)
    _check_limit(N_("The bias b must be a number from −{limit} to {limit}."), b, NEURON_LIMIT)
    x, y = _neuron_arrays()
    z = w * x + b
    a = _sigmoid(z)
    loss = float(np.mean((y - a) ** 2))
    text = readable.latex
    misses = (y - a) ** 2
    squares = " + ".join(text(m, 3) for m in misses)
    curve = np.linspace(x.min() - 1, x.max() + 1, 81)
    return NeuronFit(
        w=w,
        b=b,
        z=tuple(z.tolist()),
        a=tuple(a.tolist()),
        loss=loss,
        z_latex=tuple(
            f"z = {_factor(w)} \\times {_factor(v)} + {_factor(b)} = {text(zv)}"
            for v, zv in zip(x, z, strict=True)
        ),
        a_latex=tuple(f"a = \\sigma({text(zv)}) = {text(av)}" for zv, av in zip(z, a, strict=True)),
        miss_latex=tuple(
            f"(y - a)^2 = ({text(t)} - {text(p)})^2 = {text(m)}"
            for t, p, m in zip(y, a, misses, strict=True)
        ),
        loss_latex=f"L = \\frac{{1}}{{{len(x)}}}({squares}) = {text(loss)}",
        curve_x=tuple(curve.tolist()),
        curve_a=tuple(_sigmoid(w * curve + b).tolist()),
    )


def _factor(value: float) -> str:
    text = readable.latex(float(value))
    return f"({text})" if value < 0 else text


def _neuron_loss_and_slopes(w, b) -> tuple:
    """L and its slopes ∂L/∂w, ∂L/∂b (arrays of w and b broadcast together)."""
    x, y = _neuron_arrays()
    w, b = np.asarray(w)[..., None], np.asarray(b)[..., None]
    a = _sigmoid(w * x + b)
    error = (a - y) * a * (1 - a) * 2 / x.size
    return ((a - y) ** 2).mean(axis=-1), (error * x).sum(axis=-1), error.sum(axis=-1)


def neuron_descent(w: float, b: float, learning_rate: float, steps: int) -> NeuronPath:
    """Gradient descent on L from (w, b): `steps` steps of size `learning_rate`.

    Raises:
        InvalidNetwork: a start outside ±4, a learning rate outside (0, 100] or a step
            count outside 1 to 5000.
    """
    neuron_fit(w, b)  # checks the start
    rate = _checked_rate(learning_rate)
    _check_steps(steps)
    path_w, path_b, losses = [float(w)], [float(b)], []
    for _ in range(steps):
        loss, slope_w, slope_b = _neuron_loss_and_slopes(path_w[-1], path_b[-1])
        losses.append(float(loss))
        path_w.append(path_w[-1] - rate * float(slope_w))
        path_b.append(path_b[-1] - rate * float(slope_b))
    losses.append(float(_neuron_loss_and_slopes(path_w[-1], path_b[-1])[0]))
    return NeuronPath(tuple(path_w), tuple(path_b), tuple(losses))


def neuron_surface(points: int = 61) -> NeuronSurface:
    """L over a `points` × `points` grid spanning the sliders' range of w and b."""
    grid = np.linspace(-NEURON_LIMIT, NEURON_LIMIT, points)
    w, b = np.meshgrid(grid, grid)
    loss = _neuron_loss_and_slopes(w, b)[0]
    return NeuronSurface(
        tuple(grid.tolist()), tuple(grid.tolist()), tuple(map(tuple, loss.tolist()))
    )


_LOSS_CODE = {
    "half_squared": "0.5 * tf.reduce_sum((target - out) ** 2) / {n}  # E = ½ Σ (target − out)²",
    "mse": "tf.reduce_mean((target - out) ** 2)  # E: mean squared error",
}


def keras_code(network: Network, learning_rate: float | None = None) -> str:
    """The network in tf.keras, with one gradient-descent step through tf.GradientTape.

    Runnable as it is; the variables `loss`, `gradients` and `model` hold what the lesson
    shows (Keras keeps kernel[i, j] for the weight from unit i to unit j, the transpose of
    this module's W[j, i]).
    """
    m = network._matrices()
    rate = network.learning_rate if learning_rate is None else learning_rate
    sizes, (hidden, output) = network.sizes, network.activations
    loss = _LOSS_CODE[network.loss].format(n=network.sample_count).replace(" / 1 ", " ")
    keep_biases = bool(network.frozen)
    update = (
        '    if "kernel" in variable.path:  # the biases stay fixed, as in the walk-through\n'
        "        variable.assign_sub(learning_rate * gradient)  # update: w ← w − η·∂E/∂w\n"
        if keep_biases
        else "    variable.assign_sub(learning_rate * gradient)  # update: w ← w − η·∂E/∂w\n"
    )
    shared = (
        "# The walk-through shares one bias per layer; Keras gives each unit its own, set equal.\n"
        if network.shared_biases
        else ""
    )
    return (
        "import keras\nimport numpy as np\nimport tensorflow as tf\n\n"
        f"x = np.array({[list(row) for row in network.inputs]})\n"
        f"target = np.array({[list(row) for row in network.targets]})\n"
        "model = keras.Sequential([\n"
        f'    keras.Input(shape=({sizes[0]},), dtype="float64"),\n'
        f'    keras.layers.Dense({sizes[1]}, activation="{hidden}", dtype="float64"),\n'
        f'    keras.layers.Dense({sizes[2]}, activation="{output}", dtype="float64"),\n'
        "])\n"
        f"{shared}"
        "model.set_weights([\n"
        f"    np.array({m['W1'].T.tolist()}),\n    np.array({m['B1'].tolist()}),\n"
        f"    np.array({m['W2'].T.tolist()}),\n    np.array({m['B2'].tolist()}),\n"
        "])\n"
        f"learning_rate = {rate!r}\n\n\n"
        "def loss_of(out):\n"
        f"    return {loss}\n\n\n"
        "with tf.GradientTape() as tape:\n"
        "    out = model(x)  # forward\n"
        "    loss = loss_of(out)  # loss\n"
        "gradients = tape.gradient(loss, model.trainable_variables)  # backward\n"
        "for variable, gradient in zip(model.trainable_variables, gradients):\n"
        f"{update}"
        'print("E before:", float(loss), "after:", float(loss_of(model(x))))\n'
    )
