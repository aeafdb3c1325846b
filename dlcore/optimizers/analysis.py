"""Reading a race: where each optimizer ended, how fast it got there, and inside Adam."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dlcore.i18n import Message
from dlcore.optimizers.loss_surfaces import Surface, distance_to_nearest_minimum, resolve_surface
from dlcore.optimizers.rules import adam_epsilon_hat, resolve_settings
from dlcore.optimizers.runner import RaceResult


def steps_to_tolerance(result: RaceResult, surface: str | Surface, tolerance: float) -> int | None:
    """The first step k with J(w_k) - J* <= tolerance; None if never (or no minimum J*)."""
    surf = resolve_surface(surface)
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
    surf = resolve_surface(surface)
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
        raise ValueError(Message("not an Adam run: slots are {slots}", slots=sorted(result.slots)))
    hp = resolve_settings("adam", settings)
    m, v = result.slots["momentum"], result.slots["velocity"]
    t = np.arange(1, len(m) + 1, dtype=np.float64)[:, None]
    m_hat = m / (1 - hp["beta_1"] ** t)
    v_hat = v / (1 - hp["beta_2"] ** t)
    eps_hat = adam_epsilon_hat(hp, t)
    rate = hp["learning_rate"] / (np.sqrt(v_hat) + eps_hat)
    update = result.path[:-1] - result.path[1:]
    return AdamTrace(t[:, 0], result.gradients, m, v, m_hat, v_hat, eps_hat[:, 0], rate, update)
