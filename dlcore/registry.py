"""Named registries in Keras' style, and the hyperparameters their entries take.

`Registry.get(name)` returns an entry or raises ValueError naming the bad key and the valid
ones; `names()` lists the keys in display order, which is what pages fill select boxes with.
Activations, losses, optimizers and loss surfaces are each one `Registry`.

An entry that takes numbers (Leaky ReLU's α, Huber's δ, Adam's β₁) describes each with a
`Hyperparameter`: its default and the range a control offers (pages read both from here) and
the values it accepts. Such entries are `Parametrized`: `with_params(alpha=0.1)` returns a copy
with the values bound and checked, the same way for every registry.

Example:
    >>> from collections import namedtuple
    >>> Colour = namedtuple("Colour", "name hex")
    >>> colours = Registry("colour", [Colour("red", "#f00"), Colour("blue", "#00f")])
    >>> colours.get("blue").hex, colours.names()
    ('#00f', ('red', 'blue'))
    >>> colours.get("green")
    Traceback (most recent call last):
    ...
    ValueError: Unknown colour 'green'; valid: red, blue
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Generic, Self, TypeVar

from dlcore import readable
from dlcore.i18n import Message

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries looked up by their ``name`` attribute, kept in the order they were given."""

    def __init__(self, kind: str, entries: Iterable[T]):
        """Register ``entries`` (objects with a unique ``name``) as things of ``kind``.

        Args:
            kind: What an entry is, in words for error messages, e.g. "activation".
            entries: The entries, in display order.

        Raises:
            ValueError: Two entries have the same name.
        """
        self.kind = kind
        self._entries: dict[str, T] = {}
        for entry in entries:
            if entry.name in self._entries:
                raise ValueError(f"Two {kind} entries are called {entry.name!r}")
            self._entries[entry.name] = entry

    def get(self, name: object) -> T:
        """The entry called ``name``.

        Raises:
            ValueError: No entry has that name (the message lists the valid ones).
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):  # TypeError: an unhashable key, e.g. a list
            valid = ", ".join(self._entries)
            raise ValueError(f"Unknown {self.kind} {name!r}; valid: {valid}") from None

    def names(self) -> tuple[str, ...]:
        """Every entry's name, in display order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries
        except TypeError:
            return False

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


def is_number(value: object) -> bool:
    """Whether ``value`` is a real number (True and False do not count).

    Example:
        >>> is_number(0.5), is_number(2), is_number(True), is_number("0.5")
        (True, True, False, False)
    """
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


@dataclass(frozen=True)
class Interval:
    """The numbers from ``low`` to ``high``; ``open_low`` leaves ``low`` itself out.

    Example:
        >>> positive = Interval(0.0, open_low=True)
        >>> 0.0 in positive, 1e-9 in positive, str(positive)
        (False, True, '(0, ∞)')
    """

    low: float
    high: float = math.inf
    open_low: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        return above and value <= self.high

    def __str__(self) -> str:
        left = "(" if self.open_low else "["
        right = "∞)" if math.isinf(self.high) else f"{readable.number(self.high, 6)}]"
        return f"{left}{readable.number(self.low, 6)}, {right}"


@dataclass(frozen=True)
class Hyperparameter:
    """One number an entry takes: a Keras keyword argument, its default and its range.

    Attributes:
        name: The keyword, e.g. ``"beta_1"`` or ``"alpha"``.
        label: What the learner sees, e.g. ``"β₁ (memory of the gradient)"``.
        default: Our default (may differ from Keras'; the entry's description says so).
        low: Smallest value a control offers.
        high: Largest value a control offers.
        log: Whether the control should move on a logarithmic scale.
        symbol: Its LaTeX symbol in the entry's formulas, e.g. ``r"\\alpha"`` ("" if none).
        accepts: The values binding accepts, where that is more than [low, high] (Keras takes
            any α ≥ 0 while the page's slider stops at 1); None means [low, high].
    """

    name: str
    label: str
    default: float
    low: float
    high: float
    log: bool = False
    symbol: str = ""
    accepts: Interval | None = None

    @property
    def accepted(self) -> Interval:
        """The values binding accepts."""
        return self.accepts or Interval(self.low, self.high)

    def check(self, value: object, owner: str) -> float:
        """``value`` as a float, or ValueError naming ``owner``, this parameter and its range."""
        if not (is_number(value) and math.isfinite(value) and value in self.accepted):
            raise ValueError(
                Message(
                    "{owner} {name} must be a number in {accepted}, got {value}",
                    owner=owner,
                    name=self.name,
                    accepted=str(self.accepted),
                    value=repr(value),
                )
            )
        return float(value)

    def stops(self, series: tuple[int, ...] = (1, 2, 5)) -> list[float]:
        """The stops of a logarithmic control over [low, high] (see `log_stops`)."""
        return log_stops(self.low, self.high, series)


def log_stops(low: float, high: float, series: tuple[int, ...] = (1, 2, 5)) -> list[float]:
    """Every m·10^e (m in ``series``) from ``low`` to ``high``: a logarithmic slider's stops.

    Example:
        >>> log_stops(0.01, 1)
        [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    """
    exponents = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    # Built from text so that the stops are the shortest floats ("0.3", not 0.30000000000000004).
    stops = (float(f"{m}e{e}") for e in exponents for m in series)
    return [value for value in stops if low <= value <= high]


def bind(
    kind: str,
    owner: str,
    hyperparameters: Iterable[Hyperparameter],
    bound: Mapping[str, float],
    changes: Mapping[str, object],
) -> dict[str, float]:
    """``bound`` with ``changes`` applied, each checked against its hyperparameter.

    Args:
        kind: What the owner is, e.g. "activation" (for error messages).
        owner: The owner's name, e.g. "leaky_relu".
        hyperparameters: The parameters the owner takes.
        bound: The values bound so far.
        changes: New values by parameter name.

    Raises:
        ValueError: An unknown parameter (the message lists the valid ones) or a bad value.
    """
    known = {h.name: h for h in hyperparameters}
    values = dict(bound)
    for key, value in changes.items():
        if key not in known:
            raise _unknown_parameter(kind, owner, key, known)
        values[key] = known[key].check(value, owner)
    return values


def _unknown_parameter(kind: str, owner: str, key: object, valid: Iterable[str]) -> ValueError:
    names = ", ".join(valid) or "none"
    return ValueError(f"Unknown parameter {key!r} for {kind} {owner!r}; valid: {names}")


class Parametrized:
    """Binding for frozen dataclass entries with ``name``, ``hyperparameters`` and ``params``.

    ``params`` holds the bound values: each hyperparameter's default unless the entry was made
    with another. They are checked when an entry is made, so every entry is valid. A subclass
    sets ``kind`` (for error messages) and may set ``constants``: fixed symbols of its formulas.
    """

    kind = "entry"
    constants: Mapping[str, float] = MappingProxyType({})

    def __post_init__(self) -> None:
        defaults = {h.name: h.default for h in self.hyperparameters}
        values = bind(self.kind, self.name, self.hyperparameters, defaults, self.params)
        object.__setattr__(self, "params", MappingProxyType(values))

    def with_params(self, **params: float) -> Self:
        """A copy with ``params`` bound; unknown names or bad values raise ValueError."""
        return dataclasses.replace(self, params={**self.params, **params})

    def defaults(self) -> dict[str, float]:
        """Our default value for every hyperparameter."""
        return {h.name: h.default for h in self.hyperparameters}

    def hyperparameter(self, name: str) -> Hyperparameter:
        """The hyperparameter called ``name`` (ValueError naming the valid ones if none)."""
        for hyperparameter in self.hyperparameters:
            if hyperparameter.name == name:
                return hyperparameter
        valid = [h.name for h in self.hyperparameters]
        raise _unknown_parameter(self.kind, self.name, name, valid)

    @property
    def symbols(self) -> dict[str, float]:
        """The value of every symbol in the formulas: the constants, then the bound params."""
        bound = {h.symbol: self.params[h.name] for h in self.hyperparameters if h.symbol}
        return {**self.constants, **bound}
