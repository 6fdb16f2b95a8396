from __future__ import annotations

import math

import numpy as np
import pytest

from mien.tracking import ExpressionSmoother, FaceTracker
from mien.tracking.iou import iou_matrix
from tests.helpers import make_faces


def test_iou_by_hand():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 0.0, 1.0]])


def test_ids_follow_moving_faces_and_restart_on_reset():
    tracker = FaceTracker()
    ids = []
    for k in range(10):  # two faces moving towards each other on separate rows
        faces = make_faces([[10 + 8 * k, 0, 60 + 8 * k, 50], [200 - 8 * k, 100, 250 - 8 * k, 150]])
        ids.append(tracker.update(faces, k / 30).track_id.tolist())
    assert ids == [[1, 2]] * 10
    # listed in the other order, the faces keep their ids
    swapped = make_faces([[200 - 80, 100, 250 - 80, 150], [10 + 80, 0, 60 + 80, 50]])
    assert tracker.update(swapped, 10 / 30).track_id.tolist() == [2, 1]
    tracker.reset()
    assert tracker.update(make_faces([[0, 0, 10, 10]]), 0.0).track_id.tolist() == [1]


def test_short_gap_keeps_the_id_long_gap_gives_a_new_one():
    tracker = FaceTracker(max_age_s=0.5)
    box = [[100, 100, 160, 160]]
    assert tracker.update(make_faces(box), 0.0).track_id.tolist() == [1]
    tracker.update(make_faces(np.zeros((0, 4))), 0.1)
    assert tracker.update(make_faces(box), 0.4).track_id.tolist() == [1]  # 0.4 s unseen < 0.5
    assert tracker.update(make_faces(box), 1.5).track_id.tolist() == [2]  # gone 1.1 s: new face


def test_sparse_sampling_keeps_tracks_and_a_stall_ends_them():
    """At --fps 1 on 29.97 fps video frames are 1.001 s apart: more than max_age_s, yet the
    face was seen in every sampled frame, so it keeps its id; it ends after max_missed
    sampled frames without it. At 30 fps, a live source that stalls for minutes ends it."""
    box = [[100, 100, 160, 160]]
    live = FaceTracker()
    for k in range(30):
        assert live.update(make_faces(box), k / 30).track_id.tolist() == [1]
    assert live.update(make_faces(box), 600.0).track_id.tolist() == [2]  # 10 min later
    tracker = FaceTracker()  # max_age_s 1.0, max_missed 2
    box = [[100, 100, 160, 160]]
    ids = [tracker.update(make_faces(box), k * 1.001).track_id.tolist() for k in range(4)]
    assert ids == [[1]] * 4
    for k in (4, 5):  # two sampled frames without the face: still one track
        tracker.update(make_faces(np.zeros((0, 4))), k * 1.001)
    assert tracker.update(make_faces(box), 6 * 1.001).track_id.tolist() == [1]
    for k in (7, 8, 9):  # three: it ended
        tracker.update(make_faces(np.zeros((0, 4))), k * 1.001)
    assert tracker.update(make_faces(box), 10 * 1.001).track_id.tolist() == [2]
    with pytest.raises(ValueError, match="max_missed"):
        FaceTracker(max_missed=-1)


def test_velocity_prediction_bridges_a_missed_detection():
    tracker = FaceTracker(min_iou=0.3)
    for k in range(5):
        tracker.update(make_faces([[20 * k, 0, 20 * k + 40, 40]]), k / 10)
    # two frames missed; the face moved 60 px, its old box no longer overlaps enough by itself
    assert tracker.update(make_faces([[140, 0, 180, 40]]), 0.7).track_id.tolist() == [1]


def test_smoother_time_constant():
    smoother = ExpressionSmoother(tau_s=0.5)
    p0, p1 = np.eye(8, dtype=np.float32)[[6]], np.eye(8, dtype=np.float32)[[3]]
    first = smoother.update(make_faces([[0, 0, 9, 9]], expression=p0, track_id=[1]), 0.0)
    np.testing.assert_allclose(first.smoothed, p0)
    second = smoother.update(make_faces([[0, 0, 9, 9]], expression=p1, track_id=[1]), 0.1)
    alpha = 1 - math.exp(-0.1 / 0.5)
    assert second.smoothed[0, 3] == pytest.approx(alpha, abs=1e-6)
    assert second.smoothed[0, 6] == pytest.approx(1 - alpha, abs=1e-6)
    np.testing.assert_array_equal(second.expression, p1)  # raw kept beside smoothed
    other = smoother.update(make_faces([[0, 0, 9, 9]], expression=p1, track_id=[2]), 0.2)
    np.testing.assert_allclose(other.smoothed, p1)  # a new track starts from its own value


def test_tau_zero_and_bad_arguments():
    p = np.full((1, 8), 1 / 8, np.float32)
    out = ExpressionSmoother(0).update(make_faces([[0, 0, 1, 1]], expression=p, track_id=[1]), 0)
    np.testing.assert_allclose(out.smoothed, p)
    with pytest.raises(ValueError):
        ExpressionSmoother(-1)
    with pytest.raises(ValueError, match="track_id"):
        ExpressionSmoother().update(make_faces([[0, 0, 1, 1]], expression=p), 0)
    with pytest.raises(ValueError):
        FaceTracker(min_iou=0)
