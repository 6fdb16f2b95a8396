from __future__ import annotations

import numpy as np
import pytest

from mien.evaluation.metrics import (
    accuracy,
    confusion_matrix,
    expected_calibration_error,
    fit_temperature,
    macro_f1,
    nll,
    per_class_f1,
    per_class_recall,
    softmax,
)


def test_confusion_recall_f1_by_hand():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 0])
    cm = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [1, 2, 0], [1, 0, 0]])
    np.testing.assert_allclose(per_class_recall(cm), [1 / 2, 2 / 3, 0])
    # class 0: tp 1, fp 2, fn 1 -> 2/5; class 1: tp 2, fp 1, fn 1 -> 4/6; class 2: 0
    np.testing.assert_allclose(per_class_f1(cm), [0.4, 2 / 3, 0.0])
    assert macro_f1(cm) == pytest.approx((0.4 + 2 / 3) / 3)
    assert accuracy(y_true, y_pred) == pytest.approx(0.5)


def test_missing_predictions_count_as_misses():
    cm = np.array([[2, 0], [0, 1]])
    np.testing.assert_allclose(per_class_recall(cm, missing=[0, 1]), [1.0, 0.5])
    assert macro_f1(cm, missing=[0, 1]) == pytest.approx((1.0 + 2 / 3) / 2)


def test_absent_class_is_left_out_of_macro_f1():
    cm = np.array([[3, 0, 0], [0, 0, 0], [1, 0, 1]])
    assert np.isnan(per_class_recall(cm)[1])
    assert macro_f1(cm) == pytest.approx((6 / 7 + 2 / 3) / 2)


def test_ece_by_hand():
    # two bins: conf 0.9 (2 right of 2) and conf 0.6 (1 right of 2) -> 0.5*0.1 + 0.5*0.1
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
    y = np.array([0, 0, 0, 0])
    assert expected_calibration_error(probs, y, n_bins=15) == pytest.approx(0.1)
    assert expected_calibration_error(np.eye(2), np.array([0, 1])) == pytest.approx(0.0)


def test_softmax_rows_sum_to_one_and_temperature_flattens():
    logits = np.array([[2.0, 0.0, -1.0], [1000.0, 0.0, 0.0]])
    p = softmax(logits)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-6)
    assert p[1, 0] == pytest.approx(1.0)
    assert softmax(logits, 4.0)[0].max() < p[0].max()


def test_fit_temperature_recovers_the_true_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2, (20000, 5))
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    y = (rng.random((len(p), 1)) > p.cumsum(1)).sum(1)  # one draw per row from p
    overconfident = true_logits * 2.5  # a model whose logits are 2.5x too sharp
    t = fit_temperature(overconfident, y)
    assert t == pytest.approx(2.5, rel=0.05)
    assert nll(overconfident, y, t) < nll(overconfident, y)


def test_group_accuracy_interval_takes_the_person_as_the_unit():
    from mien.evaluation.bootstrap import T_975, group_accuracy_interval

    # 5 people, 4 photos each, accuracies 1, .75, .5, .25, 0: mean .5, sd .3953, t(4) 2.776445
    correct = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0], bool)
    out = group_accuracy_interval(correct, np.repeat(list("abcde"), 4))
    assert out["n_groups"] == 5 and out["mean"] == 0.5
    half = 2.776445 * np.sqrt(0.15625) / np.sqrt(5)
    assert out["ci"] == pytest.approx((0.5 - half, 0.5 + half))
    assert out["per_group"] == {"a": 1.0, "b": 0.75, "c": 0.5, "d": 0.25, "e": 0.0}
    # every person 50 % right: no spread between people
    same = group_accuracy_interval(np.array([True, False] * 10), np.repeat(np.arange(5), 4))
    assert same["ci"] == (0.5, 0.5)
    assert np.isnan(group_accuracy_interval(correct[:4], ["a"] * 4)["ci"][0])  # one person
    assert group_accuracy_interval(np.array([], bool), [])["n_groups"] == 0
    stats = pytest.importorskip("scipy.stats")
    np.testing.assert_allclose(T_975, stats.t.ppf(0.975, np.arange(1, 31)), atol=6e-7)
    # above 30 persons it was 1.96: 32 persons' intervals were 0.961 of their width
    from mien.evaluation.bootstrap import t_975

    df = [1, 30, 31, 32, 69, 122, 1000, 10**6]
    np.testing.assert_allclose([t_975(k) for k in df], stats.t.ppf(0.975, df), atol=6e-7)
    with pytest.raises(ValueError, match="df >= 1"):
        t_975(0)


def test_macro_f1_rows_matches_macro_f1_with_misses():
    from mien.evaluation.bootstrap import macro_f1_rows

    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, (3, 200))
    y_true[y_true == 4] = 3  # a label no row holds
    y_pred = np.where(rng.random((3, 200)) < 0.6, y_true, rng.integers(-1, 5, (3, 200)))
    rows = macro_f1_rows(y_true, y_pred, 5)
    for t, p, got in zip(y_true, y_pred, rows, strict=True):
        miss = p == -1
        cm = confusion_matrix(t[~miss], p[~miss], 5)
        assert got == pytest.approx(macro_f1(cm, np.bincount(t[miss], minlength=5)))
