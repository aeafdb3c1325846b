"""How good is a classifier, and where does it go wrong: confusion matrix, precision, recall, F1.

NumPy only, so the evaluation works (and is tested) without TensorFlow. Labels are whole
numbers 0..num_classes-1; rows of the confusion matrix are the true classes, columns the
predicted ones (the convention of the tutorial and of scikit-learn).

The formulas shown to the learner live in `METRIC_FORMULAS`, next to the code that
computes them; a test checks one against the other. `formula(name)` is one of them in the
reader's language (the words inside ``\\text{…}`` are messages; the math stays). A class
that was never predicted has no precision (0 / 0): it is reported as 0, without a warning;
likewise recall for a class absent from the labels, and F1 when precision and recall are
both 0.

Example:
    >>> y_true = np.array([0, 0, 1, 1, 2])
    >>> y_pred = np.array([0, 1, 1, 1, 1])
    >>> confusion_matrix(y_true, y_pred, num_classes=3).tolist()
    [[1, 1, 0], [0, 2, 0], [0, 1, 0]]
    >>> report = classification_report(y_true, y_pred, num_classes=3)
    >>> report.precision.round(2).tolist(), report.recall.tolist()
    ([1.0, 0.5, 0.0], [0.5, 1.0, 0.0])
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from dlcore.i18n import N_, Message, _

NUM_CLASSES = 10

# LaTeX shown on the page; TP, FP and FN are counted per class from the confusion matrix.
METRIC_FORMULAS = {
    "accuracy": r"\text{accuracy} = \frac{\text{correct predictions}}{\text{all predictions}}",
    "precision": r"\text{precision} = \frac{TP}{TP + FP}",
    "recall": r"\text{recall} = \frac{TP}{TP + FN}",
    "f1": r"F_1 = \frac{2 \cdot \text{precision} \cdot \text{recall}}"
    r"{\text{precision} + \text{recall}}",
}


# The words inside \text{…} of METRIC_FORMULAS, for the catalogue (see formula()).
FORMULA_WORDS = (
    N_("accuracy"),
    N_("correct predictions"),
    N_("all predictions"),
    N_("precision"),
    N_("recall"),
)
_TEXT = re.compile(r"\\text\{([^{}]*)\}")


def formula(name: str) -> str:
    """``METRIC_FORMULAS[name]`` with the words inside ``\\text{…}`` in the reader's language.

    >>> formula("recall")
    '\\\\text{recall} = \\\\frac{TP}{TP + FN}'
    """
    return _TEXT.sub(lambda m: r"\text{" + _(m.group(1)) + "}", METRIC_FORMULAS[name])


@dataclass(frozen=True)
class ClassificationReport:
    """Per-class precision, recall, F1 and support, with their macro and weighted averages.

    Attributes:
        precision, recall, f1: float arrays of shape (num_classes,).
        support: int array (num_classes,): how many examples of each class there are.
        accuracy: Share of all examples predicted correctly.
        macro: Unweighted mean over classes of precision, recall and F1.
        weighted: Mean over classes weighted by support.
    """

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray
    accuracy: float
    macro: dict[str, float]
    weighted: dict[str, float]


@dataclass(frozen=True)
class Misclassified:
    """One wrongly classified example with the model's three most likely classes."""

    index: int
    true_label: int
    predicted_label: int
    top3: tuple[tuple[int, float], ...]  # (class, probability), most likely first


def _labels(values: object, name: str, num_classes: int) -> np.ndarray:
    """Validate a 1-D array of whole-number labels in [0, num_classes)."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            Message(
                "{name} must be a 1-D array of labels, got shape {shape}",
                name=name,
                shape=str(array.shape),
            )
        )
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(
            Message(
                "{name} must hold whole-number labels, got dtype {dtype}",
                name=name,
                dtype=str(array.dtype),
            )
        )
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(Message("{name} must lie in 0..{last}", name=name, last=num_classes - 1))
    return array.astype(np.int64)


def _pair(y_true, y_pred, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate true and predicted labels together: same length."""
    true, pred = _labels(y_true, "y_true", num_classes), _labels(y_pred, "y_pred", num_classes)
    if len(true) != len(pred):
        raise ValueError(
            Message(
                "y_true has {true} labels but y_pred has {pred}", true=len(true), pred=len(pred)
            )
        )
    return true, pred


def confusion_matrix(y_true, y_pred, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Count every (true, predicted) pair: entry [i, j] is how many i's were read as j.

    Returns:
        An int64 array of shape (num_classes, num_classes); the diagonal holds the hits.
    """
    true, pred = _pair(y_true, y_pred, num_classes)
    flat = np.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def accuracy(y_true, y_pred, num_classes: int = NUM_CLASSES) -> float:
    """Share of examples whose predicted label equals the true one (0 for no examples)."""
    true, pred = _pair(y_true, y_pred, num_classes)
    return float(np.mean(true == pred)) if len(true) else 0.0


def _safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, with 0 where the denominator is 0 (and no warning)."""
    numerator = numerator.astype(np.float64)
    out = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def report_from_confusion(confusion: np.ndarray) -> ClassificationReport:
    """Per-class precision, recall, F1 and support from a confusion matrix (rows = true)."""
    confusion = np.asarray(confusion, dtype=np.int64)
    hits = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _safe_ratio(hits, predicted)  # TP / (TP + FP)
    recall = _safe_ratio(hits, support)  # TP / (TP + FN)
    f1 = _safe_ratio(2 * precision * recall, precision + recall)
    total = int(support.sum())
    scores = {"precision": precision, "recall": recall, "f1": f1}
    weights = support / total if total else np.zeros(len(support))
    return ClassificationReport(
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
        accuracy=float(hits.sum() / total) if total else 0.0,
        macro={name: float(values.mean()) for name, values in scores.items()},
        weighted={name: float(values @ weights) for name, values in scores.items()},
    )


def classification_report(y_true, y_pred, num_classes: int = NUM_CLASSES) -> ClassificationReport:
    """Per-class precision, recall, F1 and support, with macro and weighted averages."""
    return report_from_confusion(confusion_matrix(y_true, y_pred, num_classes))


def most_confused_pairs(confusion: np.ndarray, top_k: int = 5) -> list[tuple[int, int, int]]:
    """The off-diagonal cells with the most examples, as (true, predicted, count).

    Ties are broken by (true, predicted) order; cells with no example are left out.
    """
    confusion = np.asarray(confusion)
    errors = confusion.copy()
    np.fill_diagonal(errors, 0)
    rows, cols = np.nonzero(errors)
    order = sorted(zip(rows.tolist(), cols.tolist(), strict=True), key=lambda c: -errors[c])
    return [(t, p, int(errors[t, p])) for t, p in order[: max(top_k, 0)]]


def cell_indices(y_true, y_pred, true_label: int, predicted_label: int) -> np.ndarray:
    """Indices of the examples in one confusion cell: true class i, predicted class j."""
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    if true.shape != pred.shape:
        raise ValueError(
            Message(
                "y_true has shape {true} but y_pred has {pred}",
                true=str(true.shape),
                pred=str(pred.shape),
            )
        )
    return np.flatnonzero((true == true_label) & (pred == predicted_label))


def top_k(probabilities: np.ndarray, k: int = 3) -> list[tuple[int, float]]:
    """The k most likely classes of one probability vector, as (class, probability)."""
    probabilities = np.asarray(probabilities)
    order = np.argsort(-probabilities, kind="stable")[:k]
    return [(int(c), float(probabilities[c])) for c in order]


def misclassified(
    y_true, probabilities: np.ndarray, limit: int | None = None
) -> list[Misclassified]:
    """Every wrongly classified example (in index order) with its top-3 probabilities.

    Args:
        y_true: True labels, shape (n,).
        probabilities: The model's class probabilities, shape (n, num_classes).
        limit: Return at most this many (None: all).
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2 or len(probabilities) != len(np.asarray(y_true)):
        raise ValueError(
            Message(
                "probabilities must have shape (n, classes) with n = len(y_true); "
                "got {shape} for {count} labels",
                shape=str(probabilities.shape),
                count=len(np.asarray(y_true)),
            )
        )
    true = _labels(y_true, "y_true", probabilities.shape[1])
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != true)[:limit]
    return [
        Misclassified(int(i), int(true[i]), int(predicted[i]), tuple(top_k(probabilities[i])))
        for i in wrong
    ]
