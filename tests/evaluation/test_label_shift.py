"""benchmarks/label_shift.py (an ablation script): the prior correction and its EM estimate."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

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


@pytest.mark.parametrize("source", [(1 / 3, 1 / 3, 1 / 3), (0.1, 0.3, 0.6)])
def test_em_recovers_a_shifted_prior(source):
    rng = np.random.default_rng(0)
    means, source, true = np.array([-2.0, 0.0, 2.0]), np.array(source), np.array([0.7, 0.2, 0.1])
    y = rng.choice(3, size=20000, p=true)
    x = rng.normal(means[y], 1.0)
    adapted, prior = ls.em_prior(_posteriors(x, means, source), source)
    np.testing.assert_allclose(prior, true, atol=0.02)
    np.testing.assert_allclose(adapted, _posteriors(x, means, prior), atol=1e-9)
    assert prior.sum() == pytest.approx(1.0)


def test_reweight_keeps_rows_without_a_face_empty():
    p = np.array([[0.2, 0.8], [np.nan, np.nan]])
    out = ls.reweight(p, np.array([0.5, 0.5]), np.array([0.8, 0.2]))
    np.testing.assert_allclose(out[0], [0.5, 0.5])
    assert np.isnan(out[1]).all()


def test_em_per_group_adapts_each_group_alone_and_refuses_bad_input():
    rng = np.random.default_rng(1)
    means, source = np.array([-2.0, 2.0]), np.array([0.5, 0.5])
    ya, yb = rng.choice(2, 4000, p=[0.9, 0.1]), rng.choice(2, 4000, p=[0.1, 0.9])
    x = np.concatenate([rng.normal(means[ya], 1.0), rng.normal(means[yb], 1.0)])
    p = _posteriors(x, means, source)
    p[5] = np.nan  # a photo without a face
    groups = np.array(["a"] * 4000 + ["b"] * 4000)
    out = ls.by_group(p, groups, source)
    assert np.isnan(out[5]).all()
    for g, true in (("a", [0.9, 0.1]), ("b", [0.1, 0.9])):
        m = (groups == g) & ~np.isnan(out).any(axis=1)
        np.testing.assert_allclose(out[m].mean(axis=0), true, atol=0.02)
    # on one photo EM collapses onto its top class: why EM on a few photos is fragile
    one = ls.by_group(np.array([[0.6, 0.4]]), np.array(["a"]), source)
    np.testing.assert_allclose(one[0], [1.0, 0.0], atol=1e-3)
    with pytest.raises(ValueError, match="without NaN"):
        ls.em_prior(p, source)
    with pytest.raises(ValueError, match="without NaN"):
        ls.em_prior(np.empty((0, 2)), source)


def _parts(labels_per_fold, no_face=()):
    from mien.evaluation.datasets import LabeledDataset
    from mien.evaluation.folds import FoldProbabilities

    parts = []
    for k, labels in enumerate(labels_per_fold):
        subjects = tuple(f"P{k}{i % 2}" for i in range(len(labels)))
        ds = LabeledDataset(
            Path("."),
            tuple(f"{k}/{i}.jpg" for i in range(len(labels))),
            labels,
            {"subject": subjects, "observer_label": labels},
        )
        probs = np.full((len(labels), 7), 1 / 7)
        parts.append(FoldProbabilities(k, sorted(set(subjects)), ds, probs, list(no_face)))
    return parts


def test_variants_true_mix_uses_each_folds_labels_and_ensemble_checks_alignment():
    from mien.evaluation.folds import INTENDED_LABELS

    parts = _parts([("fear", "fear", "anger"), ("happiness", "neutral")])
    sources = [np.ones(7) / 7] * 2
    v = ls.variants(parts, sources)
    assert list(v) == [
        "",
        " + U",
        " + EM fold",
        " + EM performer",
        " + true mix",
        " + centred per performer",
        " + neutral baseline ½",
    ]
    np.testing.assert_allclose(v[" + U"][0].probs, parts[0].probs)  # uniform source: unchanged
    mix = v[" + true mix"][0].probs[0]
    assert INTENDED_LABELS[int(mix.argmax())] == "fear"
    assert mix[INTENDED_LABELS.index("anger")] == pytest.approx(1 / 3, abs=5e-3)
    assert v[" + true mix"][1].probs[0][INTENDED_LABELS.index("neutral")] == pytest.approx(
        0.5, abs=5e-3
    )
    mean = ls.ensemble([parts, parts])
    np.testing.assert_allclose(mean[1].probs, parts[1].probs)
    with pytest.raises(ValueError, match="fold 0: the arms scored different photos or faces"):
        ls.ensemble([parts, _parts([("fear", "fear", "anger"), ("happiness", "neutral")], ["x"])])


def test_centring_takes_out_each_groups_baseline():
    p = np.array([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8], [np.nan, np.nan]])
    out = ls.centre_by_group(p, np.array(["a", "a", "b", "a"]))
    assert np.isnan(out[3]).all()
    np.testing.assert_allclose(out[2], [0.5, 0.5])  # alone in its group: nothing left
    assert out[0, 0] > 0.5 > out[1, 0]  # a's two photos, relative to a's mean
    np.testing.assert_allclose(out[:3].sum(axis=1), 1.0)


def test_neutral_baseline_takes_half_a_performers_own_rest_out_of_their_expressive_photos():
    from mien.evaluation.folds import INTENDED_LABELS

    # fold 0: P00 posed photos 0 and 2 (neutral, fear), P01 photo 1 (neutral)
    parts = _parts([("neutral", "neutral", "fear")])
    logp = np.log(np.full((3, 7), 0.1))
    logp[0, INTENDED_LABELS.index("sadness")] = np.log(0.4)  # P00 rests looking sad
    logp[2, INTENDED_LABELS.index("sadness")] = np.log(0.4)
    parts[0].probs[:] = np.exp(logp) / np.exp(logp).sum(axis=1, keepdims=True)
    out = ls.neutral_baseline(parts)[0].probs
    np.testing.assert_allclose(out[:2], parts[0].probs[:2])  # neutral photos unchanged
    # half of P00's neutral baseline minus everyone's (P00's and P01's neutral photos)
    b_p00 = np.log(parts[0].probs[0])
    b_all = np.log(parts[0].probs[:2]).mean(axis=0)
    want = np.exp(np.log(parts[0].probs[2]) - 0.5 * (b_p00 - b_all))
    np.testing.assert_allclose(out[2], want / want.sum(), rtol=1e-5)
    assert out[2, INTENDED_LABELS.index("sadness")] < parts[0].probs[2, 4]
