"""The geometry of benchmarks/landmark_fusion.py (an ablation script): alignment and the head."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

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
