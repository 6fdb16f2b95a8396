"""Class-balanced sampling weights (numpy only, so this runs in CI too)."""

from __future__ import annotations

import numpy as np
import pytest

from mien.training.data import NOT_HAPPINESS, balanced_weights


def test_beta_zero_is_uniform_and_one_equalises_labels():
    labels = np.array([0, 0, 0, 0, 1, NOT_HAPPINESS, NOT_HAPPINESS])
    np.testing.assert_allclose(balanced_weights(labels, 0.0), np.full(7, 1 / 7))
    w = balanced_weights(labels, 1.0)
    assert w.sum() == pytest.approx(1.0)
    for label in (0, 1, NOT_HAPPINESS):
        assert w[labels == label].sum() == pytest.approx(1 / 3)


def test_beta_half_weights_rows_by_inverse_square_root_of_their_count():
    labels = np.array([2] * 100 + [7] * 4)
    w = balanced_weights(labels, 0.5)
    assert w[-1] / w[0] == pytest.approx(5.0)  # sqrt(100 / 4)
