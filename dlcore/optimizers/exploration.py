"""The one call the Optimizers page makes, and the notes on Keras it shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dlcore import readable
from dlcore.i18n import Message
from dlcore.optimizers.analysis import AdamTrace, EndPoint, end_points, inside_adam
from dlcore.optimizers.loss_surfaces import Surface, resolve_surface
from dlcore.optimizers.runner import COORDINATE_LIMIT, LOSS_LIMIT, RaceResult, check_start, race
from dlcore.registry import is_number

# What Keras does that a textbook does not say; the page shows these, the tests check them.
# Messages: each is read in the learner's language when the page turns it into text.
KERAS_NOTES = (
    Message(
        "Every path is a real `keras.optimizers` object stepping a `tf.Variable` of shape (2,) "
        "in **float64**; the gradient comes from `tf.GradientTape`. Tests check each step "
        "against the formulas shown, written out in NumPy."
    ),
    Message(
        "**Adam's ε.** Keras folds the bias correction into the learning rate, {alpha_t}, and "
        "adds ε to {sqrt_v}. That is the tutorial's formula with {epsilon_hat} in place of ε: "
        "the same unless ε is large.",
        alpha_t=r"$\alpha_t = \alpha\sqrt{1-\beta_2^t}/(1-\beta_1^t)$",
        sqrt_v=r"$\sqrt{v_t}$",
        epsilon_hat=r"$\hat\epsilon_t = \epsilon/\sqrt{1-\beta_2^t}$",
    ),
    Message(
        "**RMSprop, Adagrad and Adadelta** put ε *inside* the square root; Adam and Nadam add "
        "it outside."
    ),
    Message(
        "**Momentum.** Keras' velocity already includes α: v ← μv − αg, then w ← w + v. Its "
        "Nesterov uses the look-ahead form w ← w + μv − αg."
    ),
    Message(
        "**Adagrad** starts its sum at 0.1 (`initial_accumulator_value`). **Adadelta** "
        "originally has no learning rate: α = 1 here (Keras' default is 0.001)."
    ),
    Message(
        "Keras keeps the learning rate as float32 and casts β, μ, ρ, λ through float32, so 0.9 "
        "is really 0.8999999762; the hand-written rules use the same rounded numbers."
    ),
    Message(
        "A run **diverges** at the first step whose loss or position is NaN/∞, "
        "|J| > {loss_limit} or |w| > {coordinate_limit}; its path stops just before that step.",
        loss_limit=readable.number(LOSS_LIMIT),
        coordinate_limit=readable.number(COORDINATE_LIMIT),
    ),
)


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
        raise ValueError(
            Message("tolerance must be a positive number, got {value}", value=repr(tolerance))
        )
    surf = resolve_surface(surface)
    results = race(surf, settings, start, steps)
    adam = inside_adam(results["adam"], settings.get("adam")) if "adam" in results else None
    return Exploration(
        surf, check_start(start, surf), results, end_points(results, surf, tolerance), adam
    )
