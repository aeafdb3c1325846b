"""Metrics against hand-computed values, a brute-force reference and the displayed formulas."""

from __future__ import annotations

import numpy as np
import pytest

from dlcore import metrics

# Three classes; worked out by hand below.
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
Y_PRED = np.array([0, 1, 0, 1, 1, 2, 0, 2, 2])


def test_confusion_matrix_by_hand():
    expected = [[2, 1, 0], [0, 2, 0], [1, 0, 3]]
    assert metrics.confusion_matrix(Y_TRUE, Y_PRED, num_classes=3).tolist() == expected


def test_report_by_hand():
    report = metrics.classification_report(Y_TRUE, Y_PRED, num_classes=3)
    np.testing.assert_allclose(report.precision, [2 / 3, 2 / 3, 1.0])
    np.testing.assert_allclose(report.recall, [2 / 3, 1.0, 3 / 4])
    np.testing.assert_allclose(report.f1, [2 / 3, 0.8, 6 / 7])
    assert report.support.tolist() == [3, 2, 4]
    assert report.accuracy == pytest.approx(7 / 9)
    assert report.macro["precision"] == pytest.approx(7 / 9)
    assert report.macro["recall"] == pytest.approx((2 / 3 + 1 + 3 / 4) / 3)
    assert report.weighted["precision"] == pytest.approx(22 / 27)
    assert report.weighted["recall"] == pytest.approx(report.accuracy)  # always, by definition
    assert metrics.accuracy(Y_TRUE, Y_PRED, num_classes=3) == pytest.approx(7 / 9)


def test_class_never_predicted_scores_zero_without_a_warning():
    y_true = np.array([0, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1])  # 2 is never predicted; 3 does not occur at all
    with np.errstate(all="raise"):
        report = metrics.classification_report(y_true, y_pred, num_classes=4)
    assert report.precision.tolist() == [1.0, pytest.approx(1 / 3), 0.0, 0.0]
    assert report.recall.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert report.f1[2] == 0.0 and report.f1[3] == 0.0
    assert report.support.tolist() == [1, 1, 2, 0]
    assert report.macro["recall"] == pytest.approx(0.5)  # the absent class counts as 0


def _brute_force(y_true, y_pred, k):
    cm = np.zeros((k, k), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        cm[t, p] += 1
    precision, recall = [], []
    for c in range(k):
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == c and p != c)
        precision.append(tp / (tp + fp) if tp + fp else 0.0)
        recall.append(tp / (tp + fn) if tp + fn else 0.0)
    return cm, np.array(precision), np.array(recall)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_against_a_brute_force_loop(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 10, 500)
    # A decent classifier: mostly right, sometimes a random class, never predicts 9.
    y_pred = np.where(rng.random(500) < 0.7, y_true, rng.integers(0, 10, 500)) % 9
    cm, precision, recall = _brute_force(y_true.tolist(), y_pred.tolist(), 10)
    report = metrics.classification_report(y_true, y_pred)
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred), cm)
    np.testing.assert_allclose(report.precision, precision)
    np.testing.assert_allclose(report.recall, recall)
    f1 = [2 * p * r / (p + r) if p + r else 0.0 for p, r in zip(precision, recall, strict=True)]
    np.testing.assert_allclose(report.f1, f1)
    assert report.accuracy == pytest.approx(np.mean(y_true == y_pred))


def test_formulas_shown_match_the_numbers():
    """The page shows METRIC_FORMULAS; TP, FP, FN counted straight from the labels."""
    assert "TP + FP" in metrics.METRIC_FORMULAS["precision"]
    assert "TP + FN" in metrics.METRIC_FORMULAS["recall"]
    truth, guess = Y_TRUE, Y_PRED
    report = metrics.classification_report(truth, guess, num_classes=3)
    for c in range(3):
        tp = np.sum((truth == c) & (guess == c))
        fp = np.sum((truth != c) & (guess == c))
        fn = np.sum((truth == c) & (guess != c))
        p, r = tp / (tp + fp), tp / (tp + fn)
        assert report.precision[c] == pytest.approx(p)
        assert report.recall[c] == pytest.approx(r)
        assert report.f1[c] == pytest.approx(2 * p * r / (p + r))


def test_most_confused_pairs():
    cm = np.array([[50, 3, 0], [7, 40, 3], [1, 0, 60]])
    assert metrics.most_confused_pairs(cm, top_k=3) == [(1, 0, 7), (0, 1, 3), (1, 2, 3)]
    assert metrics.most_confused_pairs(cm, top_k=10) == [(1, 0, 7), (0, 1, 3), (1, 2, 3), (2, 0, 1)]
    assert metrics.most_confused_pairs(np.diag([5, 5]), top_k=3) == []


def test_cell_indices_list_the_images_of_one_cell():
    assert metrics.cell_indices(Y_TRUE, Y_PRED, 2, 0).tolist() == [6]
    assert metrics.cell_indices(Y_TRUE, Y_PRED, 0, 0).tolist() == [0, 2]
    assert metrics.cell_indices(Y_TRUE, Y_PRED, 1, 2).tolist() == []
    cm = metrics.confusion_matrix(Y_TRUE, Y_PRED, num_classes=3)
    for t in range(3):
        for p in range(3):
            assert len(metrics.cell_indices(Y_TRUE, Y_PRED, t, p)) == cm[t, p]


def test_misclassified_examples_with_their_top3():
    probabilities = np.array(
        [
            [0.7, 0.2, 0.1, 0.0],  # true 0: right
            [0.1, 0.3, 0.6, 0.0],  # true 1: read as 2
            [0.05, 0.05, 0.1, 0.8],  # true 3: right
            [0.5, 0.1, 0.15, 0.25],  # true 2: read as 0
        ]
    )
    wrong = metrics.misclassified([0, 1, 3, 2], probabilities)
    assert [(w.index, w.true_label, w.predicted_label) for w in wrong] == [(1, 1, 2), (3, 2, 0)]
    assert wrong[1].top3 == ((0, 0.5), (3, 0.25), (2, 0.15))
    assert len(metrics.misclassified([0, 1, 3, 2], probabilities, limit=1)) == 1


@pytest.mark.parametrize(
    "y_true, y_pred",
    [([0, 1], [0]), ([0, 10], [0, 1]), ([0.5, 1.0], [0, 1]), ([[0, 1]], [[0, 1]]), ([-1], [0])],
)
def test_bad_labels_are_refused(y_true, y_pred):
    with pytest.raises(ValueError):
        metrics.confusion_matrix(y_true, y_pred)


def test_no_examples_gives_zeros():
    empty = np.array([], dtype=int)
    assert metrics.confusion_matrix(empty, empty).sum() == 0
    assert metrics.accuracy(empty, empty) == 0.0
    assert metrics.classification_report(empty, empty).macro["f1"] == 0.0
