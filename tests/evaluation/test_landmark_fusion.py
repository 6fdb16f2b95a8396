"""The geometry of benchmarks/landmark_fusion.py (an ablation script): alignment and the head."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from tests.helpers import ROOT

spec = importlib.util.spec_from_file_location(
    "landmark_fusion", ROOT / "benchmarks" / "landmark_fusion.py"
)
lf = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = lf  # dataclasses look their module up
spec.loader.exec_module(lf)


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    a = np.radians(degrees)
    return points @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])


def test_align_undoes_translation_scale_and_rotation_but_not_a_mirror():
    rng = np.random.default_rng(0)
    shape = rng.normal(size=(30, 2))
    ref = shape - shape.mean(0)
    ref /= np.linalg.norm(ref)
    moved = np.stack([3.5 * _rotate(shape, 25) + [40, -7], 0.2 * _rotate(shape, -60) + [1, 2]])
    np.testing.assert_allclose(lf.align(moved, ref), np.stack([ref, ref]), atol=1e-9)
    mirrored = shape * [-1, 1]  # a mirror image is a different shape, not a rotation of it
    assert np.abs(lf.align(mirrored[None], ref)[0] - ref).max() > 0.05


def test_head_learns_a_shape_difference_and_abstains_without_landmarks():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(20, 2))
    open_mouth = base.copy()
    open_mouth[:5, 1] += 1.0  # five points moved: the class's shape
    y = np.repeat([0, 1], 60)
    shapes = np.where(y[:, None, None] == 1, open_mouth, base) + rng.normal(0, 0.05, (120, 20, 2))
    posed = np.stack(
        [
            _rotate(s, a) * k
            for s, a, k in zip(
                shapes, rng.uniform(-30, 30, 120), rng.uniform(0.5, 3, 120), strict=True
            )
        ]
    )
    head = lf.LandmarkHead(3, components=8).fit(posed, y)
    test = np.stack([_rotate(base, 10) * 2, _rotate(open_mouth, -10), np.full((20, 2), np.nan)])
    lp = head.log_probs(test)
    assert lp[:2].argmax(1).tolist() == [0, 1]
    np.testing.assert_allclose(np.exp(lp[:2]).sum(1), 1.0, atol=1e-9)
    assert lp[:2, 2].max() < np.log(0.05)  # a class with no example stays unlikely
    np.testing.assert_array_equal(lp[2], 0.0)  # no landmarks: no opinion
    fused = lf.fuse(np.array([[0.6, 0.3, 0.1]]), lp[2:])
    np.testing.assert_allclose(fused, np.log([[0.6, 0.3, 0.1]]))


def test_a_folds_head_never_trains_on_that_fold(monkeypatch):
    rng = np.random.default_rng(2)
    points = [rng.normal(size=(6, 10, 2)) for _ in range(4)]
    labels = [np.full(6, j, np.int64) for j in range(4)]  # fold j's photos all have label j
    extra = (rng.normal(size=(3, 10, 2)), np.full(3, 5, np.int64))
    seen = []
    monkeypatch.setattr(lf.LandmarkHead, "fit", lambda self, p, y, w: seen.append((p, y, w)))
    for k in range(4):
        lf.head_without(k, points, labels, 6)
        lf.head_without(k, points, labels, 6, extra=extra)
    for k in range(4):
        for p, y, _ in seen[2 * k : 2 * k + 2]:
            assert k not in set(y.tolist())
            assert not any(np.array_equal(p[i], points[k][0]) for i in range(len(p)))
        p, y, w = seen[2 * k + 1]  # with extra faces: the folds' rows weigh 5, the others 1
        np.testing.assert_array_equal(w, [lf.TAIWANESE_WEIGHT] * 18 + [1.0] * 3)
        assert y[-3:].tolist() == [5, 5, 5]


def test_whitened_features_and_few_rows():
    rng = np.random.default_rng(3)
    shapes = rng.normal(size=(200, 15, 2))
    head = lf.LandmarkHead(2, components=6).fit(shapes, rng.integers(0, 2, 200))
    z = head._features(shapes)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-9)
    np.testing.assert_allclose(z.std(0), 1.0, atol=1e-9)  # unit variance on its training rows
    # fewer rows than components: no component is whitened out of its rank
    few = lf.LandmarkHead(2, components=64).fit(shapes[:5], np.array([0, 1, 0, 1, 0]))
    assert few.basis.shape[1] <= 4 and np.abs(few.log_probs(shapes[:5])).max() < 50
    with pytest.raises(ValueError, match="2 or more"):
        lf.LandmarkHead(2).fit(np.full((3, 15, 2), np.nan), np.zeros(3, np.int64))


def test_set_accuracy_uses_the_sets_labels_and_counts_missing_faces_wrong():
    names = ("anger", "happiness", "neutral", "contempt")
    scores = np.array(
        [[0.1, 0.2, 0.3, 0.9], [0.5, 0.1, 0.2, 0.0], [np.nan] * 4, [0.0, 0.7, 0.2, 0.1]]
    )
    # contempt is not in the set: row 0's argmax over the set's labels is neutral
    labels = ("neutral", "anger", "anger", "happiness")
    assert lf._set_accuracy(scores, names, labels) == 0.75
