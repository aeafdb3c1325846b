"""The optimizer registry: how to build each Keras optimizer and how to explain it.

Each entry builds the real Keras optimizer and carries its update rule twice, as LaTeX for the
learner and as a NumPy transcription of that LaTeX for the tests. A transcription maps
(w, g, state, hp, t) -> (new w, new state); t counts steps from 1.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from dlcore.i18n import N_
from dlcore.registry import Hyperparameter, Parametrized, Registry


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
    return Hyperparameter("learning_rate", N_("learning rate α"), default, 1e-5, 10.0, log=True)


_MOMENTUM = Hyperparameter("momentum", N_("momentum μ"), 0.9, 0.0, 0.999)
_EPSILON = Hyperparameter("epsilon", N_("ε (avoids dividing by zero)"), 1e-7, 1e-10, 1.0, log=True)
_BETA_1 = Hyperparameter("beta_1", N_("β₁ (memory of the gradient)"), 0.9, 0.0, 0.999)
_BETA_2 = Hyperparameter("beta_2", N_("β₂ (memory of the squared gradient)"), 0.999, 0.5, 0.9999)


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


def adam_epsilon_hat(hp, t):
    """ε̂_t = ε / sqrt(1 - β₂^t): the ε Keras' Adam effectively adds at step t."""
    return hp["epsilon"] / np.sqrt(1 - hp["beta_2"] ** t)


def _ref_adam_keras(w, g, state, hp, t):
    m, v, m_hat, v_hat = _adam_moments(g, state, hp, t)
    step = hp["learning_rate"] * m_hat / (np.sqrt(v_hat) + adam_epsilon_hat(hp, t))
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
            N_("Gradient descent (SGD)"),
            N_("Step straight downhill, a fixed fraction α of the slope each time."),
            "SGD",
            {},
            (_lr(0.001),),
            (UpdateRule(N_("Gradient descent"), (SEED_GRADIENT_DESCENT,), _ref_sgd),),
        ),
        OptimizerSpec(
            "momentum",
            N_("SGD + momentum"),
            N_(
                "A heavy ball: it keeps a velocity, so it speeds up along a long valley and "
                "smooths out zig-zags."
            ),
            "SGD",
            {},
            (_lr(0.001), _MOMENTUM),
            (
                UpdateRule(
                    N_("Momentum, as Keras computes it (v₀ = 0)"),
                    (_G, r"v_{t+1} = \mu\, v_t - \alpha\, g_t", r"w_{t+1} = w_t + v_{t+1}"),
                    _ref_momentum,
                ),
            ),
        ),
        OptimizerSpec(
            "nesterov",
            N_("Nesterov momentum"),
            N_("Momentum that looks ahead: it corrects course before it overshoots."),
            "SGD",
            {"nesterov": True},
            (_lr(0.001), _MOMENTUM),
            (
                UpdateRule(
                    N_("Nesterov momentum, as Keras computes it (v₀ = 0)"),
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
            N_("RMSprop"),
            N_(
                "Divides each step by a running size of recent gradients: steep directions get "
                "small steps, flat ones big steps."
            ),
            "RMSprop",
            {},
            (
                _lr(0.01),
                Hyperparameter("rho", N_("ρ (memory of the squared gradient)"), 0.9, 0.0, 0.999),
                _EPSILON,
            ),
            (
                UpdateRule(
                    N_("RMSprop, as Keras computes it (s₀ = 0; ε inside the square root)"),
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
            N_("Adagrad"),
            N_(
                "Like RMSprop but it never forgets: the sum of all squared gradients keeps "
                "growing, so its steps keep shrinking."
            ),
            "Adagrad",
            {},
            (_lr(0.5), _EPSILON),
            (
                UpdateRule(
                    N_("Adagrad, as Keras computes it (G₀ = 0.1; ε inside the square root)"),
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
            N_("Adadelta"),
            N_(
                "Sizes each step from the size of its own past steps, so it needs almost no "
                "learning rate (α = 1 is the original method; Keras' default is 0.001)."
            ),
            "Adadelta",
            {},
            (_lr(1.0), Hyperparameter("rho", N_("ρ (memory)"), 0.95, 0.0, 0.999), _EPSILON),
            (
                UpdateRule(
                    N_("Adadelta, as Keras computes it (both averages start at 0)"),
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
            N_("Adam"),
            N_(
                "Momentum and RMSprop together, with a correction for the first steps: the "
                "default choice for deep networks."
            ),
            "Adam",
            {},
            (_lr(0.05), *_ADAM_HP),
            (
                UpdateRule(
                    N_("Adam (as in the tutorial; m₀ = v₀ = 0)"),
                    SEED_ADAM,
                    _ref_adam_seed,
                    exact=False,
                ),
                UpdateRule(
                    N_("What Keras computes: the same, with ε scaled by the bias correction"),
                    (KERAS_ADAM_STEP,),
                    _ref_adam_keras,
                ),
            ),
        ),
        OptimizerSpec(
            "adamw",
            N_("AdamW"),
            N_("Adam plus weight decay: every step also shrinks the weights a little towards 0."),
            "AdamW",
            {},
            (
                _lr(0.05),
                *_ADAM_HP,
                Hyperparameter("weight_decay", N_("weight decay λ"), 0.004, 0.0, 1.0),
            ),
            (
                UpdateRule(
                    N_("AdamW, as Keras computes it (m̂, v̂ as in Adam)"),
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
            N_("Nadam"),
            N_("Adam with Nesterov's look-ahead applied to its momentum."),
            "Nadam",
            {},
            (_lr(0.05), *_ADAM_HP),
            (
                UpdateRule(
                    N_("Nadam, as Keras computes it (Dozat's momentum schedule; m₀ = v₀ = 0)"),
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
