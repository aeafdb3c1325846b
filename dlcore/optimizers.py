"""Real Keras optimizers racing on 2-D loss surfaces, with their update rules written out.

Every path comes from a real ``keras.optimizers`` object stepping a float64 ``tf.Variable`` of
shape (2,). Keras accepts float64 variables and keeps its slots in the variable's dtype; only
its learning rate is stored as a float32 variable (then cast to float64 when it is used).

Each optimizer's registry entry holds the LaTeX the learner sees and, next to it, a NumPy
transcription of that same LaTeX; the tests step Keras and the transcription side by side.

Example:
    >>> result = race("bowl", {"sgd": {"learning_rate": 0.1}}, start=(2.0, 1.0), steps=50)
    >>> result["sgd"].path.shape
    (51, 2)
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from dlcore.registry import Hyperparameter, Parametrized, Registry, is_number

# Keras optimizers run in float64 (they accept it; see the module docstring).
DTYPE = "float64"
# A path counts as diverged once a coordinate or the loss passes these (or is NaN/inf).
COORDINATE_LIMIT = 1e6
LOSS_LIMIT = 1e12
MAX_STEPS = 2000


def _tf():
    """TensorFlow, imported on first use so that importing dlcore stays cheap."""
    import tensorflow as tf

    return tf


# ---------------------------------------------------------------------------------------------
# Surfaces: each a TensorFlow function of (x, y, c) where c is the bowl's condition number.
# ---------------------------------------------------------------------------------------------


def _bowl(x, y, c):
    return 0.5 * (x * x + c * y * y)


def _rosenbrock(x, y, c):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


def _beale(x, y, c):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y * y * y) ** 2


def _saddle(x, y, c):
    return x * x - y * y


def _himmelblau(x, y, c):
    return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


def _rastrigin(x, y, c):
    tf = _tf()
    two_pi = 2.0 * math.pi
    return 20.0 + x * x - 10.0 * tf.cos(two_pi * x) + y * y - 10.0 * tf.cos(two_pi * y)


@dataclass(frozen=True, kw_only=True)
class _SurfaceDef:
    """What a surface is, built with keywords (a pair may be a range or a start point).

    Attributes:
        name: Registry key, e.g. ``"rosenbrock"``.
        fn: J(x, y, c) on TensorFlow tensors; c is the bowl's condition number.
        label: Display name.
        latex: The formula of J in LaTeX.
        minima: Every known minimum (x, y); none for the saddle.
        min_value: J at the minima, or None when there is no minimum.
        x_range: The plotting box along x, (low, high); also where a start may be picked.
        y_range: The plotting box along y.
        default_start: Where a race starts unless the learner picks another point.
        description: A few sentences on what the surface teaches.
    """

    name: str
    fn: Callable
    label: str
    latex: str
    minima: tuple[tuple[float, float], ...]
    min_value: float | None
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    default_start: tuple[float, float]
    description: str


_SURFACES: Registry[_SurfaceDef] = Registry(
    "surface",
    (
        _SurfaceDef(
            name="bowl",
            fn=_bowl,
            label="Quadratic bowl",
            latex=r"J(x, y) = \tfrac{1}{2}\left(x^2 + \kappa\, y^2\right)",
            minima=((0.0, 0.0),),
            min_value=0.0,
            x_range=(-3.0, 3.0),
            y_range=(-3.0, 3.0),
            default_start=(-2.5, 2.0),
            description="A smooth valley. The condition number κ stretches it: one direction "
            "becomes much steeper than the other, and plain gradient descent starts to zig-zag.",
        ),
        _SurfaceDef(
            name="rosenbrock",
            fn=_rosenbrock,
            label="Rosenbrock",
            latex=r"J(x, y) = (1 - x)^2 + 100\,(y - x^2)^2",
            minima=((1.0, 1.0),),
            min_value=0.0,
            x_range=(-2.0, 2.0),
            y_range=(-1.0, 3.0),
            default_start=(-1.5, 2.0),
            description="A long curved banana-shaped valley: finding the valley is easy, "
            "following it to the minimum at (1, 1) is slow.",
        ),
        _SurfaceDef(
            name="beale",
            fn=_beale,
            label="Beale",
            latex=r"J(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
            minima=((3.0, 0.5),),
            min_value=0.0,
            x_range=(-4.5, 4.5),
            y_range=(-4.5, 4.5),
            default_start=(-1.0, 1.5),
            description="Flat plateaus next to very steep walls; the minimum sits at (3, 0.5).",
        ),
        _SurfaceDef(
            name="saddle",
            fn=_saddle,
            label="Saddle",
            latex=r"J(x, y) = x^2 - y^2",
            minima=(),
            min_value=None,
            x_range=(-2.0, 2.0),
            y_range=(-2.0, 2.0),
            default_start=(-1.8, 0.01),
            description="No minimum at all: it curves up along x and down along y, so the loss "
            "falls forever. The point (0, 0) is a saddle where the gradient is zero; watch who "
            "escapes it.",
        ),
        _SurfaceDef(
            name="himmelblau",
            fn=_himmelblau,
            label="Himmelblau",
            latex=r"J(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2",
            minima=(
                (3.0, 2.0),
                (-2.805118086952745, 3.131312518250573),
                (-3.779310253377747, -3.283185991286169),
                (3.5844283403304917, -1.8481265269644034),
            ),
            min_value=0.0,
            x_range=(-5.0, 5.0),
            y_range=(-5.0, 5.0),
            default_start=(-0.3, -0.9),
            description="Four minima, all with loss 0: which one an optimizer finds depends on "
            "where it starts.",
        ),
        _SurfaceDef(
            name="rastrigin",
            fn=_rastrigin,
            label="Rastrigin",
            latex=r"J(x, y) = 20 + x^2 - 10\cos(2\pi x) + y^2 - 10\cos(2\pi y)",
            minima=((0.0, 0.0),),
            min_value=0.0,
            x_range=(-5.12, 5.12),
            y_range=(-5.12, 5.12),
            default_start=(2.3, -1.7),
            description="An egg-crate of local minima around one global minimum at (0, 0): "
            "gradient methods usually get stuck in the nearest dip.",
        ),
    ),
)


@dataclass(frozen=True)
class Surface:
    """A 2-D loss surface J(x, y) computed by TensorFlow, with its known minima.

    Attributes:
        name: Registry key, e.g. ``"rosenbrock"``.
        condition: The bowl's condition number κ (1.0 for every other surface).
    """

    name: str
    condition: float = 1.0

    @property
    def _def(self) -> _SurfaceDef:
        return _SURFACES.get(self.name)

    label = property(lambda self: self._def.label)
    latex = property(lambda self: self._def.latex)
    minima = property(lambda self: self._def.minima)
    min_value = property(lambda self: self._def.min_value)
    x_range = property(lambda self: self._def.x_range)
    y_range = property(lambda self: self._def.y_range)
    default_start = property(lambda self: self._def.default_start)
    description = property(lambda self: self._def.description)

    @property
    def has_minimum(self) -> bool:
        """Whether the surface has a minimum at all (the saddle has none)."""
        return self.min_value is not None

    def tf_value(self, x, y):
        """J(x, y) on TensorFlow tensors of any (matching) shape."""
        return self._def.fn(x, y, self.condition)

    def value(self, points) -> np.ndarray:
        """J at points of shape (..., 2), computed by TensorFlow in float64."""
        tf = _tf()
        p = tf.constant(np.asarray(points, dtype=np.float64))
        return self.tf_value(p[..., 0], p[..., 1]).numpy()

    def gradient(self, points) -> np.ndarray:
        """∇J at points of shape (..., 2), computed by ``tf.GradientTape`` in float64."""
        tf = _tf()
        p = tf.constant(np.asarray(points, dtype=np.float64))
        with tf.GradientTape() as tape:
            tape.watch(p)
            total = tf.reduce_sum(self.tf_value(p[..., 0], p[..., 1]))
        return tape.gradient(total, p).numpy()


def surfaces() -> tuple[str, ...]:
    """The names of the available surfaces, in display order."""
    return _SURFACES.names()


# The bowl's condition number κ: its default and range, for get_surface and the page's control.
BOWL_CONDITION = Hyperparameter(
    "condition", "Condition number κ (how stretched)", 10.0, 1.0, 1000.0, log=True, symbol=r"\kappa"
)


def get_surface(name: str, condition: float = BOWL_CONDITION.default) -> Surface:
    """The surface called ``name``; ``condition`` (κ, 1–1000) only shapes the bowl.

    Raises:
        ValueError: Unknown name or a condition number outside [1, 1000].
    """
    _SURFACES.get(name)  # ValueError naming the valid surfaces if there is none by this name
    if name != "bowl":
        return Surface(name)
    return Surface(name, BOWL_CONDITION.check(condition, name))


def _resolve_surface(surface: str | Surface) -> Surface:
    if isinstance(surface, Surface):
        return get_surface(surface.name, surface.condition) if surface.name == "bowl" else surface
    return get_surface(surface)  # a name, or ValueError naming the valid ones


@dataclass(frozen=True)
class ContourGrid:
    """A surface sampled on a regular grid for a contour plot.

    Attributes:
        x: Grid abscissae, shape (n,).
        y: Grid ordinates, shape (n,).
        z: J(x, y), shape (n, n), rows follow y.
        level: What to colour: log10(1 + J - J*) when there is a minimum J*, else J itself.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    level: np.ndarray


def contour_grid(surface: str | Surface, resolution: int = 80) -> ContourGrid:
    """Sample ``surface`` over its plotting box; the log level keeps steep walls readable."""
    surf = _resolve_surface(surface)
    x = np.linspace(*surf.x_range, resolution)
    y = np.linspace(*surf.y_range, resolution)
    xx, yy = np.meshgrid(x, y)
    z = surf.value(np.stack([xx, yy], axis=-1))
    level = np.log10(1.0 + z - surf.min_value) if surf.has_minimum else z
    return ContourGrid(x, y, z, level)


# Colours of the contour picture: low loss is deep blue, high loss is nearly white.
_LOW_RGB = np.array([8.0, 48.0, 107.0])
_HIGH_RGB = np.array([247.0, 251.0, 255.0])


def contour_image(grid: ContourGrid, bands: int = 24) -> np.ndarray:
    """The grid as a banded contour picture, shape (n, n, 3) uint8, top row = largest y.

    A picture rather than a Plotly contour trace because Plotly drops non-scatter traces while
    it animates frames; a layout image stays put. Each band of ``level`` gets one shade and the
    pixels where the band changes are darkened, which draws the contour lines.
    """
    span = np.ptp(grid.level) or 1.0
    band = np.minimum((grid.level - grid.level.min()) / span * bands, bands - 1).astype(int)
    rgb = _LOW_RGB + (_HIGH_RGB - _LOW_RGB) * (band / (bands - 1))[..., None]
    edge = np.zeros(band.shape, dtype=bool)
    edge[:, 1:] |= band[:, 1:] != band[:, :-1]
    edge[1:, :] |= band[1:, :] != band[:-1, :]
    rgb[edge] *= 0.7
    return np.round(rgb[::-1]).astype(np.uint8)


def contour_png(surface: str | Surface, resolution: int = 300) -> bytes:
    """``contour_image`` of the surface sampled at ``resolution``², encoded as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(contour_image(contour_grid(surface, resolution))).save(buffer, format="PNG")
    return buffer.getvalue()


def distance_to_nearest_minimum(surface: str | Surface, point) -> float | None:
    """Euclidean distance from ``point`` to the closest known minimum (None: no minimum)."""
    surf = _resolve_surface(surface)
    if not surf.minima:
        return None
    gaps = np.asarray(surf.minima) - np.asarray(point, dtype=np.float64)
    return float(np.min(np.linalg.norm(gaps, axis=1)))


# ---------------------------------------------------------------------------------------------
# Optimizers: each entry builds the real Keras optimizer and carries its update rule twice,
# as LaTeX for the learner and as a NumPy transcription of that LaTeX for the tests.
# A transcription maps (w, g, state, hp, t) -> (new w, new state); t counts steps from 1.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateRule:
    """An update rule shown to the learner, with the NumPy code that computes it.

    Attributes:
        title: A caption for the formula.
        latex: One LaTeX string per line.
        reference: NumPy transcription ``(w, g, state, hp, t) -> (w_next, state)``.
        exact: True when Keras computes exactly this; False for the textbook form that
            Keras only approximates (the tests bound the difference).
    """

    title: str
    latex: tuple[str, ...]
    reference: Callable = field(repr=False)
    exact: bool = True


@dataclass(frozen=True)
class OptimizerSpec(Parametrized):
    """A registry entry: how to build the Keras optimizer and how to explain it.

    Attributes:
        name: Registry key, e.g. ``"momentum"``.
        label: Display name, e.g. ``"SGD + momentum"``.
        summary: One sentence on how it moves.
        keras_class: The ``keras.optimizers`` class, e.g. ``"SGD"``.
        fixed_kwargs: Keyword arguments that make it this optimizer, e.g. ``nesterov=True``.
        hyperparameters: Its controls, learning rate first.
        rules: Its update rules, in LaTeX and in NumPy.
        params: Bound hyperparameter values: our defaults unless bound (``with_params``).
    """

    name: str
    label: str
    summary: str
    keras_class: str
    fixed_kwargs: Mapping[str, object]
    hyperparameters: tuple[Hyperparameter, ...]
    rules: tuple[UpdateRule, ...]
    params: Mapping[str, float] = field(default_factory=dict)

    kind = "optimizer"

    def build(self, learning_rate, **settings):
        """A fresh ``keras.optimizers`` object: the fixed arguments, the bound params, then
        ``settings`` (not checked again), with ``learning_rate`` (a number or a schedule)."""
        import keras

        keras_class = getattr(keras.optimizers, self.keras_class)
        kwargs = {**self.fixed_kwargs, **self.params, **settings, "learning_rate": learning_rate}
        return keras_class(**kwargs)


def _lr(default: float) -> Hyperparameter:
    return Hyperparameter("learning_rate", "learning rate α", default, 1e-5, 10.0, log=True)


_MOMENTUM = Hyperparameter("momentum", "momentum μ", 0.9, 0.0, 0.999)
_EPSILON = Hyperparameter("epsilon", "ε (avoids dividing by zero)", 1e-7, 1e-10, 1.0, log=True)
_BETA_1 = Hyperparameter("beta_1", "β₁ (memory of the gradient)", 0.9, 0.0, 0.999)
_BETA_2 = Hyperparameter("beta_2", "β₂ (memory of the squared gradient)", 0.999, 0.5, 0.9999)


def _float32(value: float) -> float:
    """``value`` rounded to the nearest float32, as Keras stores it."""
    return float(np.float32(value))


# Keras' Adagrad starts its accumulator at 0.1 (initial_accumulator_value), stored as float32.
ADAGRAD_INITIAL_ACCUMULATOR = _float32(0.1)
# Keras' Nadam casts its 0.96 through float32 inside update_step, not in its running product.
_NADAM_DECAY_IN_STEP = _float32(0.96)
_NADAM_DECAY_IN_PRODUCT = 0.96

# The tutorial's (seed's) formulas, character for character.
SEED_GRADIENT_DESCENT = r"w_{t+1} = w_t - \alpha \nabla_w J(w_t)"
SEED_ADAM = (
    r"m_t = \beta_1 m_{t-1} + (1 - \beta_1) \nabla_w J(w_t)",
    r"v_t = \beta_2 v_{t-1} + (1 - \beta_2) (\nabla_w J(w_t))^2",
    r"\hat{m}_t = \frac{m_t}{1 - \beta_1^t}",
    r"\hat{v}_t = \frac{v_t}{1 - \beta_2^t}",
    r"w_{t+1} = w_t - \alpha \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}",
)
KERAS_ADAM_STEP = (
    r"w_{t+1} = w_t - \alpha \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \hat{\epsilon}_t},"
    r"\qquad \hat{\epsilon}_t = \frac{\epsilon}{\sqrt{1 - \beta_2^t}}"
)


def _ref_sgd(w, g, state, hp, t):
    return w - hp["learning_rate"] * g, state


def _ref_momentum(w, g, state, hp, t):
    velocity = hp["momentum"] * state.get("v", 0.0) - hp["learning_rate"] * g
    return w + velocity, {"v": velocity}


def _ref_nesterov(w, g, state, hp, t):
    velocity = hp["momentum"] * state.get("v", 0.0) - hp["learning_rate"] * g
    return w + hp["momentum"] * velocity - hp["learning_rate"] * g, {"v": velocity}


def _ref_rmsprop(w, g, state, hp, t):
    s = hp["rho"] * state.get("s", 0.0) + (1 - hp["rho"]) * g**2
    return w - hp["learning_rate"] * g / np.sqrt(s + hp["epsilon"]), {"s": s}


def _ref_adagrad(w, g, state, hp, t):
    total = state.get("G", ADAGRAD_INITIAL_ACCUMULATOR) + g**2
    return w - hp["learning_rate"] * g / np.sqrt(total + hp["epsilon"]), {"G": total}


def _ref_adadelta(w, g, state, hp, t):
    rho, eps = hp["rho"], hp["epsilon"]
    eg2 = rho * state.get("Eg2", 0.0) + (1 - rho) * g**2
    delta = -np.sqrt(state.get("Ed2", 0.0) + eps) / np.sqrt(eg2 + eps) * g
    ed2 = rho * state.get("Ed2", 0.0) + (1 - rho) * delta**2
    return w + hp["learning_rate"] * delta, {"Eg2": eg2, "Ed2": ed2}


def _adam_moments(g, state, hp, t):
    """m_t, v_t and their bias-corrected m̂_t, v̂_t (the first four seed lines)."""
    m = hp["beta_1"] * state.get("m", 0.0) + (1 - hp["beta_1"]) * g
    v = hp["beta_2"] * state.get("v", 0.0) + (1 - hp["beta_2"]) * g**2
    return m, v, m / (1 - hp["beta_1"] ** t), v / (1 - hp["beta_2"] ** t)


def _ref_adam_seed(w, g, state, hp, t):
    m, v, m_hat, v_hat = _adam_moments(g, state, hp, t)
    return w - hp["learning_rate"] * m_hat / (np.sqrt(v_hat) + hp["epsilon"]), {"m": m, "v": v}


def _adam_epsilon_hat(hp, t):
    return hp["epsilon"] / np.sqrt(1 - hp["beta_2"] ** t)


def _ref_adam_keras(w, g, state, hp, t):
    m, v, m_hat, v_hat = _adam_moments(g, state, hp, t)
    step = hp["learning_rate"] * m_hat / (np.sqrt(v_hat) + _adam_epsilon_hat(hp, t))
    return w - step, {"m": m, "v": v}


def _ref_adamw(w, g, state, hp, t):
    decayed = w - hp["learning_rate"] * hp["weight_decay"] * w
    moved, state = _ref_adam_keras(decayed, g, state, hp, t)
    return moved, state


def _nadam_mu(hp, t, decay=_NADAM_DECAY_IN_STEP):
    return hp["beta_1"] * (1 - 0.5 * decay**t)


def _ref_nadam(w, g, state, hp, t):
    b1, b2 = hp["beta_1"], hp["beta_2"]
    mu_t, mu_next = _nadam_mu(hp, t), _nadam_mu(hp, t + 1)
    product = state.get("Pi", 1.0) * _nadam_mu(hp, t, _NADAM_DECAY_IN_PRODUCT)
    m = b1 * state.get("m", 0.0) + (1 - b1) * g
    v = b2 * state.get("v", 0.0) + (1 - b2) * g**2
    m_hat = mu_next * m / (1 - product * mu_next) + (1 - mu_t) * g / (1 - product)
    v_hat = v / (1 - b2**t)
    w_next = w - hp["learning_rate"] * m_hat / (np.sqrt(v_hat) + hp["epsilon"])
    return w_next, {"m": m, "v": v, "Pi": product}


_G = r"g_t = \nabla_w J(w_t)"
_ADAM_HP = (_BETA_1, _BETA_2, _EPSILON)

_OPTIMIZERS: Registry[OptimizerSpec] = Registry(
    "optimizer",
    (
        OptimizerSpec(
            "sgd",
            "Gradient descent (SGD)",
            "Step straight downhill, a fixed fraction α of the slope each time.",
            "SGD",
            {},
            (_lr(0.001),),
            (UpdateRule("Gradient descent", (SEED_GRADIENT_DESCENT,), _ref_sgd),),
        ),
        OptimizerSpec(
            "momentum",
            "SGD + momentum",
            "A heavy ball: it keeps a velocity, so it speeds up along a long valley and "
            "smooths out zig-zags.",
            "SGD",
            {},
            (_lr(0.001), _MOMENTUM),
            (
                UpdateRule(
                    "Momentum, as Keras computes it (v₀ = 0)",
                    (_G, r"v_{t+1} = \mu\, v_t - \alpha\, g_t", r"w_{t+1} = w_t + v_{t+1}"),
                    _ref_momentum,
                ),
            ),
        ),
        OptimizerSpec(
            "nesterov",
            "Nesterov momentum",
            "Momentum that looks ahead: it corrects course before it overshoots.",
            "SGD",
            {"nesterov": True},
            (_lr(0.001), _MOMENTUM),
            (
                UpdateRule(
                    "Nesterov momentum, as Keras computes it (v₀ = 0)",
                    (
                        _G,
                        r"v_{t+1} = \mu\, v_t - \alpha\, g_t",
                        r"w_{t+1} = w_t + \mu\, v_{t+1} - \alpha\, g_t",
                    ),
                    _ref_nesterov,
                ),
            ),
        ),
        OptimizerSpec(
            "rmsprop",
            "RMSprop",
            "Divides each step by a running size of recent gradients: steep directions get "
            "small steps, flat ones big steps.",
            "RMSprop",
            {},
            (
                _lr(0.01),
                Hyperparameter("rho", "ρ (memory of the squared gradient)", 0.9, 0.0, 0.999),
                _EPSILON,
            ),
            (
                UpdateRule(
                    "RMSprop, as Keras computes it (s₀ = 0; ε inside the square root)",
                    (
                        _G,
                        r"s_t = \rho\, s_{t-1} + (1 - \rho)\, g_t^2",
                        r"w_{t+1} = w_t - \frac{\alpha\, g_t}{\sqrt{s_t + \epsilon}}",
                    ),
                    _ref_rmsprop,
                ),
            ),
        ),
        OptimizerSpec(
            "adagrad",
            "Adagrad",
            "Like RMSprop but it never forgets: the sum of all squared gradients keeps "
            "growing, so its steps keep shrinking.",
            "Adagrad",
            {},
            (_lr(0.5), _EPSILON),
            (
                UpdateRule(
                    "Adagrad, as Keras computes it (G₀ = 0.1; ε inside the square root)",
                    (
                        _G,
                        r"G_t = G_{t-1} + g_t^2",
                        r"w_{t+1} = w_t - \frac{\alpha\, g_t}{\sqrt{G_t + \epsilon}}",
                    ),
                    _ref_adagrad,
                ),
            ),
        ),
        OptimizerSpec(
            "adadelta",
            "Adadelta",
            "Sizes each step from the size of its own past steps, so it needs almost no "
            "learning rate (α = 1 is the original method; Keras' default is 0.001).",
            "Adadelta",
            {},
            (_lr(1.0), Hyperparameter("rho", "ρ (memory)", 0.95, 0.0, 0.999), _EPSILON),
            (
                UpdateRule(
                    "Adadelta, as Keras computes it (both averages start at 0)",
                    (
                        _G,
                        r"E[g^2]_t = \rho\, E[g^2]_{t-1} + (1 - \rho)\, g_t^2",
                        r"\Delta w_t = -\frac{\sqrt{E[\Delta w^2]_{t-1} + \epsilon}}"
                        r"{\sqrt{E[g^2]_t + \epsilon}}\, g_t",
                        r"E[\Delta w^2]_t = \rho\, E[\Delta w^2]_{t-1} + (1 - \rho)\, \Delta w_t^2",
                        r"w_{t+1} = w_t + \alpha\, \Delta w_t",
                    ),
                    _ref_adadelta,
                ),
            ),
        ),
        OptimizerSpec(
            "adam",
            "Adam",
            "Momentum and RMSprop together, with a correction for the first steps: the "
            "default choice for deep networks.",
            "Adam",
            {},
            (_lr(0.05), *_ADAM_HP),
            (
                UpdateRule(
                    "Adam (as in the tutorial; m₀ = v₀ = 0)", SEED_ADAM, _ref_adam_seed, exact=False
                ),
                UpdateRule(
                    "What Keras computes: the same, with ε scaled by the bias correction",
                    (KERAS_ADAM_STEP,),
                    _ref_adam_keras,
                ),
            ),
        ),
        OptimizerSpec(
            "adamw",
            "AdamW",
            "Adam plus weight decay: every step also shrinks the weights a little towards 0.",
            "AdamW",
            {},
            (
                _lr(0.05),
                *_ADAM_HP,
                Hyperparameter("weight_decay", "weight decay λ", 0.004, 0.0, 1.0),
            ),
            (
                UpdateRule(
                    "AdamW, as Keras computes it (m̂, v̂ as in Adam)",
                    (
                        r"w_{t+1} = w_t - \alpha \lambda\, w_t - \alpha \frac{\hat{m}_t}"
                        r"{\sqrt{\hat{v}_t} + \hat{\epsilon}_t},"
                        r"\qquad \hat{\epsilon}_t = \frac{\epsilon}{\sqrt{1 - \beta_2^t}}",
                    ),
                    _ref_adamw,
                ),
            ),
        ),
        OptimizerSpec(
            "nadam",
            "Nadam",
            "Adam with Nesterov's look-ahead applied to its momentum.",
            "Nadam",
            {},
            (_lr(0.05), *_ADAM_HP),
            (
                UpdateRule(
                    "Nadam, as Keras computes it (Dozat's momentum schedule; m₀ = v₀ = 0)",
                    (
                        _G,
                        r"\mu_t = \beta_1 \left(1 - \tfrac{1}{2}\, 0.96^{\,t}\right),"
                        r"\qquad \Pi_t = \prod_{i=1}^{t} \mu_i",
                        r"m_t = \beta_1 m_{t-1} + (1 - \beta_1)\, g_t,"
                        r"\qquad v_t = \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2",
                        r"\hat{m}_t = \frac{\mu_{t+1}\, m_t}{1 - \Pi_t\, \mu_{t+1}}"
                        r" + \frac{(1 - \mu_t)\, g_t}{1 - \Pi_t},"
                        r"\qquad \hat{v}_t = \frac{v_t}{1 - \beta_2^t}",
                        r"w_{t+1} = w_t - \alpha \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}",
                    ),
                    _ref_nadam,
                ),
            ),
        ),
    ),
)


# What Keras does that a textbook does not say; the page shows these, the tests check them.
KERAS_NOTES = (
    "Every path is a real `keras.optimizers` object stepping a `tf.Variable` of shape (2,) in "
    "**float64**; the gradient comes from `tf.GradientTape`. Tests check each step against the "
    "formulas shown, written out in NumPy.",
    "**Adam's ε.** Keras folds the bias correction into the learning rate, "
    r"$\alpha_t = \alpha\sqrt{1-\beta_2^t}/(1-\beta_1^t)$, and adds ε to $\sqrt{v_t}$. That is "
    r"the tutorial's formula with $\hat\epsilon_t = \epsilon/\sqrt{1-\beta_2^t}$ in place of ε: "
    "the same unless ε is large.",
    "**RMSprop, Adagrad and Adadelta** put ε *inside* the square root; Adam and Nadam add it "
    "outside.",
    "**Momentum.** Keras' velocity already includes α: v ← μv − αg, then w ← w + v. Its "
    "Nesterov uses the look-ahead form w ← w + μv − αg.",
    "**Adagrad** starts its sum at 0.1 (`initial_accumulator_value`). **Adadelta** originally "
    "has no learning rate: α = 1 here (Keras' default is 0.001).",
    "Keras keeps the learning rate as float32 and casts β, μ, ρ, λ through float32, so 0.9 is "
    "really 0.8999999762; the hand-written rules use the same rounded numbers.",
    f"A run **diverges** at the first step whose loss or position is NaN/∞, |J| > {LOSS_LIMIT:g} "
    f"or |w| > {COORDINATE_LIMIT:g}; its path stops just before that step.",
)


def names() -> tuple[str, ...]:
    """The names of the available optimizers, in display order."""
    return _OPTIMIZERS.names()


def get(name: str) -> OptimizerSpec:
    """The registry entry for optimizer ``name``.

    Raises:
        ValueError: Unknown name (the message lists the valid ones).
    """
    return _OPTIMIZERS.get(name)


def resolve_settings(name: str, kwargs: Mapping[str, float] | None) -> dict[str, float]:
    """The full, validated keyword arguments of optimizer ``name`` (defaults filled in).

    Raises:
        ValueError: Unknown optimizer, unknown keyword, or a value out of its range.
    """
    resolved = get(name).with_params(**(kwargs or {})).params
    # Keras keeps the learning rate in a float32 variable and casts the other numbers through
    # float32 in places (tf.cast of a Python float); rounding them here once means Keras and
    # the hand-written rules see exactly the same numbers everywhere.
    return {key: _float32(value) for key, value in resolved.items()}


def build(name: str, learning_rate, **settings: float):
    """A fresh Keras optimizer ``name``, as the Optimizers page describes it.

    Every hyperparameter not in ``settings`` takes our default, which for the optimizers the
    models use is Keras' own, except the "momentum" entry's momentum μ = 0.9.

    Args:
        name: A registered optimizer, e.g. ``"momentum"``.
        learning_rate: A number or a ``keras.optimizers.schedules`` schedule, passed unchanged.
        **settings: Other hyperparameters, e.g. ``beta_1=0.8``, each checked against its range.

    Raises:
        ValueError: Unknown optimizer, unknown setting, or a value out of its range.
    """
    return get(name).with_params(**settings).build(learning_rate)


def constructor_code(name: str, learning_rate: str) -> str:
    """The call that ``build(name, ...)`` makes, as a learner would type it.

    Arguments equal to Keras' own defaults are left out, so the code stays short and shows
    what differs (the momentum of "momentum").

    Args:
        name: A registered optimizer.
        learning_rate: The code of the learning rate, e.g. ``"0.01"`` or ``"learning_rate"``.

    Example:
        >>> constructor_code("momentum", "0.01")
        'SGD(learning_rate=0.01, momentum=0.9)'
    """
    import inspect

    import keras

    spec = get(name)
    keras_defaults = inspect.signature(getattr(keras.optimizers, spec.keras_class)).parameters
    settings = {**spec.fixed_kwargs, **spec.params}
    del settings["learning_rate"]
    shown = [f"{k}={v!r}" for k, v in settings.items() if keras_defaults[k].default != v]
    return f"{spec.keras_class}({', '.join([f'learning_rate={learning_rate}', *shown])})"


# ---------------------------------------------------------------------------------------------
# The race: one traced step loop per optimizer configuration, reused across races.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaceResult:
    """One optimizer's run.

    Attributes:
        path: Points w_0 (the start), w_1, ..., shape (steps + 1, 2); when the run diverged it
            stops before the first bad point, shape (diverged_at, 2). Never NaN or inf.
        losses: J(w_k) for every point of ``path``.
        diverged_at: The first step k whose point or loss was NaN/inf or huge, else None.
        gradients: ∇J(w_k) used for step k+1, shape (len(path) - 1, 2).
        slots: The Keras optimizer's own state after each step, read from its variables,
            e.g. ``{"momentum": ..., "velocity": ...}`` for Adam, each (len(path) - 1, 2).
    """

    path: np.ndarray
    losses: np.ndarray
    diverged_at: int | None
    gradients: np.ndarray
    slots: dict[str, np.ndarray]


def _state_variables(optimizer) -> list:
    """Every Keras variable the optimizer keeps, including ones it does not list (Nadam's
    running product), so that a reused optimizer can be reset to its fresh state."""
    import keras

    found = list(optimizer.variables)
    for value in vars(optimizer).values():
        if isinstance(value, keras.Variable) and all(value is not v for v in found):
            found.append(value)
    return found


def _slot_name(variable_name: str) -> str:
    # Keras names slots after the model variable ("w_momentum" or "w_0_momentum").
    return re.sub(r"^w(_\d+)?_", "", variable_name)


class _Racer:
    """One Keras optimizer with its own float64 variable, resettable to a fresh start."""

    def __init__(self, spec: OptimizerSpec, fixed: Mapping[str, float]):
        tf = _tf()
        self.variable = tf.Variable(tf.zeros(2, DTYPE), name="w")
        self.optimizer = spec.build(1e-3, **fixed)
        self.optimizer.build([self.variable])
        self._state = _state_variables(self.optimizer)
        self._fresh = [v.numpy() for v in self._state]
        self.slots = [v for v in self.optimizer.variables if v.shape == (2,)]
        self.slot_names = [_slot_name(v.name) for v in self.slots]

    def reset(self, learning_rate: float) -> None:
        """Back to the state of a newly built optimizer, with this learning rate."""
        for variable, fresh in zip(self._state, self._fresh, strict=True):
            variable.assign(fresh)
        self.optimizer.learning_rate = learning_rate

    def arrays(self, steps):
        """Empty records for a run: points, losses, gradients and slot values."""
        tf = _tf()
        return (
            tf.TensorArray(DTYPE, size=steps + 1, element_shape=(2,)),
            tf.TensorArray(DTYPE, size=steps + 1, element_shape=()),
            tf.TensorArray(DTYPE, size=steps, element_shape=(2,)),
            tf.TensorArray(DTYPE, size=steps, element_shape=(len(self.slots), 2)),
        )

    def step(self, k, loss_fn, records):
        """Record w_k, J(w_k) and the gradient, let Keras step, then record its slots."""
        tf = _tf()
        path, losses, grads, slots = records
        with tf.GradientTape() as tape:
            loss = loss_fn(self.variable)
        grad = tape.gradient(loss, self.variable)
        path = path.write(k, self.variable.read_value())
        losses, grads = losses.write(k, loss), grads.write(k, grad)
        with tf.control_dependencies([path.flow, losses.flow, grads.flow]):
            self.optimizer.apply([grad], [self.variable])
        values = [tf.convert_to_tensor(slot) for slot in self.slots]
        values = tf.stack(values) if values else tf.zeros((0, 2), DTYPE)
        return path, losses, grads, slots.write(k, values)

    def finish(self, steps, loss_fn, records):
        path, losses, grads, slots = records
        path = path.write(steps, self.variable.read_value())
        losses = losses.write(steps, loss_fn(self.variable))
        return path.stack(), losses.stack(), grads.stack(), slots.stack()


class _Runner:
    """Several Keras optimizers raced in one traced loop on one surface.

    The learning rates are Keras variables and the start, step count and the bowl's condition
    number are tensors, so changing them reuses the traced loop; the surface and the other
    hyperparameters are baked into the trace, so they belong to the runner's key. One function
    for the whole race matters under Streamlit: it calls ``keras.backend.clear_session()``
    after every script run, which empties TensorFlow's kernel cache, so each traced function
    is instantiated again (~0.1-0.2 s) on its first call of the next run.
    """

    def __init__(self, surface_name: str, members: tuple[tuple[str, tuple], ...]):
        tf = _tf()
        self.surface_name = surface_name
        self.racers = [_Racer(get(name), dict(fixed)) for name, fixed in members]
        self.lock = threading.Lock()
        # Graph mode, not XLA: tracing costs ~0.1 s per optimizer here while an XLA compile
        # costs ~1 s, and a traced 200-step loop already runs in a few milliseconds.
        self._loop = tf.function(self._run_loop, autograph=False)

    def _run_loop(self, condition, start, steps):
        tf = _tf()
        surface_fn = _SURFACES.get(self.surface_name).fn

        def loss_fn(w):
            return surface_fn(w[0], w[1], condition)

        for racer in self.racers:
            racer.variable.assign(start)

        def body(k, records):
            return k + 1, [
                r.step(k, loss_fn, rec) for r, rec in zip(self.racers, records, strict=True)
            ]

        initial = [racer.arrays(steps) for racer in self.racers]
        _, records = tf.while_loop(lambda k, _: k < steps, body, (tf.constant(0), initial))
        return [r.finish(steps, loss_fn, rec) for r, rec in zip(self.racers, records, strict=True)]

    def run(self, surface: Surface, start, steps: int, learning_rates: list[float]) -> list:
        """Reset every optimizer, then race ``steps`` steps; NumPy records per optimizer."""
        tf = _tf()
        with self.lock:
            for racer, learning_rate in zip(self.racers, learning_rates, strict=True):
                racer.reset(learning_rate)
            outputs = self._loop(
                tf.constant(surface.condition, DTYPE),
                tf.constant(start, DTYPE),
                tf.constant(steps, tf.int32),
            )
        return [[o.numpy() for o in racer_outputs] for racer_outputs in outputs]


_RUNNERS: OrderedDict[tuple, _Runner] = OrderedDict()
_RUNNERS_LOCK = threading.Lock()
_MAX_RUNNERS = 32


def _runner(surface_name: str, members: tuple[tuple[str, tuple], ...]) -> _Runner:
    """The cached runner for this surface and these (optimizer, fixed settings) members."""
    key = (surface_name, members)
    with _RUNNERS_LOCK:
        if key in _RUNNERS:
            _RUNNERS.move_to_end(key)
            return _RUNNERS[key]
        runner = _RUNNERS[key] = _Runner(surface_name, members)
        while len(_RUNNERS) > _MAX_RUNNERS:
            _RUNNERS.popitem(last=False)
        return runner


def _first_divergence(path: np.ndarray, losses: np.ndarray) -> int | None:
    """The first index whose point or loss is not finite or beyond the limits."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(losses) | (np.abs(losses) > LOSS_LIMIT)
        bad |= ~np.all(np.isfinite(path), axis=1) | np.any(np.abs(path) > COORDINATE_LIMIT, axis=1)
    hits = np.flatnonzero(bad)
    return int(hits[0]) if hits.size else None


def _to_result(slot_names: list[str], path, losses, grads, slots) -> RaceResult:
    diverged_at = _first_divergence(path, losses)
    n = len(path) if diverged_at is None else diverged_at
    named = {name: _frozen(slots[: max(n - 1, 0), i]) for i, name in enumerate(slot_names)}
    return RaceResult(
        _frozen(path[:n]), _frozen(losses[:n]), diverged_at, _frozen(grads[: max(n - 1, 0)]), named
    )


def _frozen(array: np.ndarray) -> np.ndarray:
    copy = np.array(array)
    copy.flags.writeable = False
    return copy


# Finished runs are remembered, so that a race where only one optimizer's settings changed
# reruns only that one (their arrays are read-only, so sharing them is safe). Their own lock:
# a lookup never waits while a runner is being built under the runners' lock.
_RESULTS: OrderedDict[tuple, RaceResult] = OrderedDict()
_RESULTS_LOCK = threading.Lock()
_MAX_RESULTS = 256


def _check_start(start, surface: Surface) -> tuple[float, float]:
    point = surface.default_start if start is None else start
    values = np.asarray(point, dtype=np.float64).reshape(-1)
    if values.shape != (2,) or not np.all(np.isfinite(values)):
        raise ValueError(f"start must be two finite numbers (x, y), got {start!r}")
    return float(values[0]), float(values[1])


def race(
    surface: str | Surface,
    settings: Mapping[str, Mapping[str, float] | None],
    start=None,
    steps: int = 200,
) -> dict[str, RaceResult]:
    """Run each named Keras optimizer from ``start`` for ``steps`` steps on ``surface``.

    Args:
        surface: A surface name (see ``surfaces()``) or a ``Surface`` from ``get_surface``.
        settings: Optimizer name -> its keyword arguments, e.g.
            ``{"adam": {"learning_rate": 0.05}, "sgd": {}}`` (missing ones take defaults).
        start: (x, y) to start from; None uses the surface's default start.
        steps: Number of optimizer steps, 1 to 2000.

    Returns:
        Optimizer name -> RaceResult, in the order of ``settings``.

    Raises:
        ValueError: Unknown surface, optimizer or setting, or a bad start or step count.
    """
    surf = _resolve_surface(surface)
    point = _check_start(start, surf)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be an integer from 1 to {MAX_STEPS}, got {steps!r}")
    plans = {name: resolve_settings(name, kwargs) for name, kwargs in settings.items()}
    keys = {
        name: (name, tuple(sorted(kw.items())), surf, point, steps) for name, kw in plans.items()
    }
    with _RESULTS_LOCK:
        known = {name: _RESULTS[key] for name, key in keys.items() if key in _RESULTS}
    todo = {name: kwargs for name, kwargs in plans.items() if name not in known}
    fresh = _run_fresh(todo, surf, point, steps) if todo else {}
    with _RESULTS_LOCK:
        for name, result in fresh.items():
            _RESULTS[keys[name]] = result
        while len(_RESULTS) > _MAX_RESULTS:
            _RESULTS.popitem(last=False)
    return {name: known[name] if name in known else fresh[name] for name in plans}


def _run_fresh(plans: dict, surface: Surface, start, steps: int) -> dict[str, RaceResult]:
    """Race ``plans`` (optimizer -> full settings) in one traced loop."""
    members = tuple(
        (name, tuple(sorted((k, v) for k, v in kw.items() if k != "learning_rate")))
        for name, kw in plans.items()
    )
    runner = _runner(surface.name, members)
    rates = [kw["learning_rate"] for kw in plans.values()]
    records = runner.run(surface, start, steps, rates)
    return {
        name: _to_result(racer.slot_names, *record)
        for name, racer, record in zip(plans, runner.racers, records, strict=True)
    }


# ---------------------------------------------------------------------------------------------
# Reading a race: end points, inside Adam, and the one call the page makes.
# ---------------------------------------------------------------------------------------------


def steps_to_tolerance(result: RaceResult, surface: str | Surface, tolerance: float) -> int | None:
    """The first step k with J(w_k) - J* <= tolerance; None if never (or no minimum J*)."""
    surf = _resolve_surface(surface)
    if not surf.has_minimum:
        return None
    hits = np.flatnonzero(result.losses - surf.min_value <= tolerance)
    return int(hits[0]) if hits.size else None


@dataclass(frozen=True)
class EndPoint:
    """One row of the end-point table.

    Attributes:
        optimizer: Registry name.
        final_loss: J at the last (finite) point.
        distance_to_minimum: Distance from that point to the nearest known minimum, or None.
        steps_to_tolerance: First step within the tolerance of the minimum loss, or None.
        diverged_at: Step where the run blew up, or None.
    """

    optimizer: str
    final_loss: float
    distance_to_minimum: float | None
    steps_to_tolerance: int | None
    diverged_at: int | None


def end_points(
    results: Mapping[str, RaceResult], surface: str | Surface, tolerance: float = 1e-3
) -> list[EndPoint]:
    """The end-point table of a race, one row per optimizer in race order."""
    surf = _resolve_surface(surface)
    return [
        EndPoint(
            name,
            float(result.losses[-1]),
            distance_to_nearest_minimum(surf, result.path[-1]),
            steps_to_tolerance(result, surf, tolerance),
            result.diverged_at,
        )
        for name, result in results.items()
    ]


@dataclass(frozen=True)
class AdamTrace:
    """What happens inside Adam, step by step (row i is step t = i + 1).

    Attributes:
        t: Step numbers 1..n.
        gradient: g_t, shape (n, 2).
        m: m_t read from Keras' "momentum" slot; v: v_t from its "velocity" slot.
        m_hat: m_t / (1 - β₁^t); v_hat: v_t / (1 - β₂^t).
        epsilon_hat: ε / sqrt(1 - β₂^t), the ε Keras effectively uses at step t.
        effective_learning_rate: α / (sqrt(v̂_t) + ε̂_t) per coordinate: the step per unit of m̂.
        update: w_t - w_{t+1} taken from the Keras path itself.
    """

    t: np.ndarray
    gradient: np.ndarray
    m: np.ndarray
    v: np.ndarray
    m_hat: np.ndarray
    v_hat: np.ndarray
    epsilon_hat: np.ndarray
    effective_learning_rate: np.ndarray
    update: np.ndarray


def inside_adam(result: RaceResult, settings: Mapping[str, float] | None = None) -> AdamTrace:
    """Open up one Adam run: its moments, their bias corrections and the effective step.

    Args:
        result: The Adam entry of ``race(...)`` (its slots hold Keras' m_t and v_t).
        settings: The Adam keyword arguments used for that run (defaults filled in).

    Raises:
        ValueError: ``result`` has no Adam slots, or unknown settings.
    """
    if not {"momentum", "velocity"} <= set(result.slots):
        raise ValueError(f"not an Adam run: slots are {sorted(result.slots)}")
    hp = resolve_settings("adam", settings)
    m, v = result.slots["momentum"], result.slots["velocity"]
    t = np.arange(1, len(m) + 1, dtype=np.float64)[:, None]
    m_hat = m / (1 - hp["beta_1"] ** t)
    v_hat = v / (1 - hp["beta_2"] ** t)
    eps_hat = _adam_epsilon_hat(hp, t)
    rate = hp["learning_rate"] / (np.sqrt(v_hat) + eps_hat)
    update = result.path[:-1] - result.path[1:]
    return AdamTrace(t[:, 0], result.gradients, m, v, m_hat, v_hat, eps_hat[:, 0], rate, update)


@dataclass(frozen=True)
class Exploration:
    """Everything the Optimizers page shows about one race, from one call (plain arrays;
    pickles small: the contour picture depends only on the surface, see ``contour_png``).

    Attributes:
        surface: The surface raced on.
        start: The start point.
        results: Optimizer name -> RaceResult.
        table: The end-point table.
        adam: Inside-Adam trace when Adam raced, else None.
    """

    surface: Surface
    start: tuple[float, float]
    results: dict[str, RaceResult]
    table: list[EndPoint]
    adam: AdamTrace | None


def explore(
    surface: str | Surface,
    settings: Mapping[str, Mapping[str, float] | None],
    start=None,
    steps: int = 200,
    tolerance: float = 1e-3,
) -> Exploration:
    """Race the optimizers and read the race: end points and inside Adam.

    Raises:
        ValueError: As ``race``, or a tolerance that is not a positive number.
    """
    if not (is_number(tolerance) and tolerance > 0):
        raise ValueError(f"tolerance must be a positive number, got {tolerance!r}")
    surf = _resolve_surface(surface)
    results = race(surf, settings, start, steps)
    adam = inside_adam(results["adam"], settings.get("adam")) if "adam" in results else None
    return Exploration(
        surf, _check_start(start, surf), results, end_points(results, surf, tolerance), adam
    )
