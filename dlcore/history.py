"""Training histories: from Keras' lists per metric to one row per epoch.

Keras' ``History.history`` holds one list per metric (``{"loss": [...], "val_loss": [...]}``);
jobs, charts, tables and CSV downloads want one dict per epoch. Imports nothing from
dlcore, so that jobs, regression and mnist_views all convert the same way without a cycle.

Example:
    >>> epoch_rows({"loss": [0.5, 0.25], "val_loss": [0.6]})
    [{'loss': 0.5, 'val_loss': 0.6}, {'loss': 0.25}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

# A Keras-style history, or rows already (a JobSnapshot's ``history``).
History = Mapping[str, Sequence[float]] | Sequence[Mapping[str, float]]


def epoch_rows(history: History, *, numbered: bool = False) -> list[dict[str, float]]:
    """One dict per epoch, each value a float, from a Keras-style history or from rows.

    A metric whose list is shorter than the longest (logged from a later epoch on, or a run
    stopped half-way) is left out of the rows it has no value for.

    Args:
        history: ``{"loss": [...], ...}`` one list per metric, or a sequence of per-epoch
            dicts (copied, not shared).
        numbered: Start each row with ``"epoch": 1, 2, ...`` (replacing any "epoch" the
            rows already hold), for tables and downloads.

    Returns:
        A list with one new dict per epoch, in epoch order.

    Example:
        >>> epoch_rows([{"epoch": 7, "loss": 1}], numbered=True)
        [{'epoch': 1, 'loss': 1.0}]
    """
    if isinstance(history, Mapping):
        count = max((len(values) for values in history.values()), default=0)
        rows = [
            {name: values[i] for name, values in history.items() if i < len(values)}
            for i in range(count)
        ]
    else:
        rows = list(history)
    if not numbered:
        return [{name: float(value) for name, value in row.items()} for row in rows]
    return [
        {"epoch": i + 1, **{k: float(v) for k, v in row.items() if k != "epoch"}}
        for i, row in enumerate(rows)
    ]
