"""The race: real Keras optimizers stepping float64 variables in one traced loop, with caches.

One traced step loop per surface and set of optimizers (a runner) is kept and reused across
races; finished runs are remembered too, so that a race where one optimizer's settings changed
reruns only that one.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dlcore.optimizers.loss_surfaces import Surface, _tf, resolve_surface, surface_fn
from dlcore.optimizers.rules import OptimizerSpec, get, resolve_settings

# Keras optimizers run in float64 (they accept it; see the package docstring).
DTYPE = "float64"
# A path counts as diverged once a coordinate or the loss passes these (or is NaN/inf).
COORDINATE_LIMIT = 1e6
LOSS_LIMIT = 1e12
MAX_STEPS = 2000


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
        fn = surface_fn(self.surface_name)

        def loss_fn(w):
            return fn(w[0], w[1], condition)

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


def check_start(start, surface: Surface) -> tuple[float, float]:
    """``start`` as two floats, or the surface's default start for None (ValueError if bad)."""
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
    surf = resolve_surface(surface)
    point = check_start(start, surf)
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
