"""benchmarks/label_shift.py (an ablation script): the prior correction and its EM estimate."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from tests.helpers import ROOT

spec = importlib.util.spec_from_file_location("label_shift", ROOT / "benchmarks" / "label_shift.py")
ls = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = ls
spec.loader.exec_module(ls)


def _posteriors(x: np.ndarray, means: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Exact posteriors of unit-variance 1-D Gaussian classes under ``prior``."""
    like = np.exp(-0.5 * (x[:, None] - means[None, :]) ** 2)
    p = like * prior
    return p / p.sum(axis=1, keepdims=True)


def test_reweight_is_the_identity_for_the_same_prior_and_bayes_for_another():
    means, source, target = np.array([-2.0, 0.0, 2.0]), np.array([0.5, 0.3, 0.2]), np.ones(3)
    x = np.linspace(-3, 3, 7)
    p = _posteriors(x, means, source)
    np.testing.assert_allclose(ls.reweight(p, source, source), p)
    np.testing.assert_allclose(ls.reweight(p, source, target), _posteriors(x, means, target / 3))


def test_em_recovers_a_shifted_prior():
    rng = np.random.default_rng(0)
    means, source, true = np.array([-2.0, 0.0, 2.0]), np.full(3, 1 / 3), np.array([0.7, 0.2, 0.1])
    y = rng.choice(3, size=20000, p=true)
    x = rng.normal(means[y], 1.0)
    adapted, prior = ls.em_prior(_posteriors(x, means, source), source)
    np.testing.assert_allclose(prior, true, atol=0.02)
    np.testing.assert_allclose(adapted, _posteriors(x, means, prior), atol=1e-9)
    assert prior.sum() == pytest.approx(1.0)


def test_em_per_group_leaves_missing_faces_alone_and_refuses_bad_input():
    p = np.array([[0.6, 0.4], [np.nan, np.nan], [0.2, 0.8]])
    out = ls.by_group(p, np.array(["a", "a", "b"]), np.array([0.5, 0.5]))
    assert np.isnan(out[1]).all()
    np.testing.assert_allclose(out[[0, 2]].sum(axis=1), 1.0)
    np.testing.assert_allclose(out[0], [1.0, 0.0], atol=1e-3)  # one photo: EM puts all mass on it
    with pytest.raises(ValueError, match="without NaN"):
        ls.em_prior(p, np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="without NaN"):
        ls.em_prior(np.empty((0, 2)), np.array([0.5, 0.5]))
