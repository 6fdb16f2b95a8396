"""BlurHold: where a face was a moment ago stays blurred while the detector misses it."""

from __future__ import annotations

import numpy as np
import pytest

from mien.annotate import BlurHold, ExpressionAnnotator
from mien.types import EXPRESSIONS, Faces, FrameResult

BOX = [100.0, 50.0, 200.0, 170.0]  # 100 x 120 px


def test_a_missed_face_is_held_for_hold_s_grown_by_the_margin():
    hold = BlurHold(hold_s=0.5, margin=0.1, margin_per_s=0.0, margin_per_s_unknown=0.0)
    assert hold.update(0.0, [BOX]).shape == (0, 4)  # found: nothing extra
    held = hold.update(0.04, np.zeros((0, 4)))  # missed
    assert held == pytest.approx(np.array([[90.0, 38.0, 210.0, 182.0]]))
    assert hold.update(0.5, np.zeros((0, 4))) == pytest.approx(held)  # 0.5 s after: still
    assert hold.update(0.54, np.zeros((0, 4))).shape == (0, 4)  # 0.54 s after: let go


def test_a_face_found_again_is_not_held_and_one_place_gives_one_box():
    hold = BlurHold()
    for t in (0.0, 0.04, 0.08):  # the same face, moving 2 px a frame
        hold.update(t, [[BOX[0] + 50 * t, BOX[1], BOX[2] + 50 * t, BOX[3]]])
    assert hold.update(0.12, [[106.0, 50.0, 206.0, 170.0]]).shape == (0, 4)  # found again
    held = hold.update(0.16, np.zeros((0, 4)))
    assert len(held) == 1  # four frames of one face: one place, the latest
    # carried on 2 px (its shift per frame), grown by 0.15 + 0.5 x 0.04 s of its 100 px width
    assert held[0, 0] == pytest.approx(106.0 - 17.0) and held[0, 2] == pytest.approx(208.0 + 17.0)
    # a second face elsewhere is held beside it
    hold2 = BlurHold()
    hold2.update(0.0, [BOX, [400.0, 50.0, 480.0, 150.0]])
    assert len(hold2.update(0.04, [BOX])) == 1  # the first found, the second held


def test_time_going_back_forgets_and_bad_settings_are_refused():
    hold = BlurHold()
    hold.update(5.0, [BOX])
    assert hold.update(0.0, np.zeros((0, 4))).shape == (0, 4)  # a new clip
    with pytest.raises(ValueError, match="hold_s"):
        BlurHold(hold_s=-1)
    with pytest.raises(ValueError, match="min_frames"):
        BlurHold(min_frames=-1)
    zero = BlurHold(hold_s=0, min_frames=0)
    zero.update(0.0, [BOX])
    assert zero.update(0.04, np.zeros((0, 4))).shape == (0, 4)


def test_sparse_frames_still_hold_a_face_over_one_missed_frame():
    """With --every 30 analysed frames are 1 s apart, beyond hold_s: the frame before is held
    whatever the gap, the one before that only within hold_s."""
    hold = BlurHold()
    hold.update(0.0, [BOX])
    assert len(hold.update(1.0, np.zeros((0, 4)))) == 1  # the face missed once: held
    assert len(hold.update(2.0, np.zeros((0, 4)))) == 0  # missed again, 2 s on: let go


def _checkerboard(h: int = 240, w: int = 320) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    board = (((yy // 4) + (xx // 4)) % 2 * 255).astype(np.uint8)
    return np.repeat(board[:, :, None], 3, axis=2)


def test_the_annotator_blurs_the_held_boxes_only_when_blurring():
    empty = FrameResult(Faces.empty(), 2, 0.1, (320, 240), "clip", tuple(EXPRESSIONS), 0.4)
    x1, y1, x2, y2 = (int(v) for v in BOX)
    blurred = ExpressionAnnotator(blur_faces=True, caption=False).annotate(
        _checkerboard(), empty, also_blur=[BOX]
    )
    assert blurred[y1:y2, x1:x2].std() < 5  # the 4 px squares are averaged away
    assert blurred[:40, :80].std() > 100  # outside the box untouched
    plain = ExpressionAnnotator(caption=False).annotate(_checkerboard(), empty, also_blur=[BOX])
    assert np.array_equal(plain, _checkerboard())


def test_a_moving_face_is_held_where_it_is_heading_and_the_margin_widens_with_time():
    """A face moving 40 px between analysed frames (--every 10) was held where it was last
    seen, grown by 15 %: its leading half showed sharp."""
    hold = BlurHold(margin=0.0, margin_per_s=0.0)
    hold.update(0.0, [[100.0, 50.0, 188.0, 138.0]])
    hold.update(0.33, [[140.0, 50.0, 228.0, 138.0]])
    (held,) = hold.update(0.66, np.zeros((0, 4)))  # missed: by now about 180-268
    assert held == pytest.approx([140.0, 50.0, 268.0, 138.0], abs=0.5)
    wide = BlurHold(margin=0.15, margin_per_s=0.5, margin_per_s_unknown=2.0)
    wide.update(0.0, [BOX])
    # 1 s on (sparse frames), a face seen once (motion unknown): 0.15 + 2.0 of each side
    (held,) = wide.update(1.0, np.zeros((0, 4)))
    assert held == pytest.approx([-115.0, -208.0, 415.0, 428.0])


def test_a_missed_face_half_under_another_found_one_is_still_held():
    hold = BlurHold()
    hold.update(0.0, [[0.0, 0.0, 100.0, 100.0], [60.0, 0.0, 120.0, 60.0]])
    held = hold.update(0.04, [[0.0, 0.0, 100.0, 100.0]])
    assert len(held) == 1 and held[0, 2] > 120.0  # B's strip beyond A is blurred too


def test_fast_faces_leave_one_held_place_per_face_and_frame_within_hold_s():
    """100 faces moving 60 px a frame (never overlapping their last place) at 30 fps: each
    frame within the last 0.5 s holds each face's place once (15 frames x 100), none older."""
    start = np.stack([np.zeros(100), 100.0 * np.arange(100)], axis=1).astype(np.float32)
    hold = BlurHold()
    for i in range(30):  # one face per 100 px row, each moving right
        xy = start + np.float32([60 * i, 0])
        held = hold.update(i / 30, np.concatenate([xy, xy + 50], axis=1))
    assert len(held) == 15 * 100  # frames 14-28 (t >= 29/30 - 0.5)


def test_with_track_ids_motion_comes_from_the_faces_own_last_two_sightings():
    """A face moving 220 px/s at --every 10 (73 px, over 2/3 of its width, between analysed
    frames) was held where last seen (boxes too far apart to match): 34 % of it sharp. With
    track ids the motion is read between its own sightings, even with a missed frame between."""
    hold = BlurHold(margin=0.0, margin_per_s=0.0)
    hold.update(0.0, [[0.0, 0.0, 105.0, 105.0]], [7])
    hold.update(1 / 3, [[73.0, 0.0, 178.0, 105.0]], [7])
    (held,) = hold.update(2 / 3, np.zeros((0, 4)), np.zeros(0))
    assert held == pytest.approx([73.0, 0.0, 251.0, 105.0], abs=0.5)  # 146-251 by now
    flicker = BlurHold(margin=0.0, margin_per_s=0.0)
    flicker.update(0.0, [[0.0, 0.0, 105.0, 105.0]], [7])
    flicker.update(1 / 3, np.zeros((0, 4)), np.zeros(0))  # missed
    flicker.update(2 / 3, [[146.0, 0.0, 251.0, 105.0]], [7])  # found again, 146 px on
    (held,) = flicker.update(1.0, np.zeros((0, 4)), np.zeros(0))
    assert held == pytest.approx([146.0, 0.0, 324.0, 105.0], abs=0.5)  # 73 px per step


def test_with_track_ids_a_missed_face_over_a_found_one_is_held():
    """A small face 87 % inside a large found one was taken as found again (by the boxes
    alone) and left sharp as it moved out; with ids it is held while its track is missing."""
    hold = BlurHold()
    big, small = [0.0, 0.0, 200.0, 200.0], [150.0, 50.0, 207.0, 107.0]
    hold.update(0.0, [big, small], [1, 2])
    held = hold.update(0.04, [big], [1])
    assert len(held) == 1 and held[0, 2] > 207.0
    assert hold.update(0.08, [big, small], [1, 2]).shape == (0, 4)  # both found: nothing held


def test_a_fast_face_with_a_new_track_id_each_sighting_still_gets_its_motion():
    """At --every 10 a face moving 220 px/s barely overlaps its last box, so the tracker gave
    it a new id each time (1, 2, 3) and no track had two sightings: 34 % of it showed sharp.
    A track new in its frame takes its motion from the nearest box of the frame before."""
    hold = BlurHold(margin=0.0, margin_per_s=0.0)
    hold.update(0.0, [[0.0, 0.0, 105.0, 105.0]], [1])
    hold.update(1 / 3, [[73.0, 0.0, 178.0, 105.0]], [2])
    (held,) = hold.update(2 / 3, np.zeros((0, 4)), np.zeros(0))
    assert held == pytest.approx([73.0, 0.0, 251.0, 105.0], abs=0.5)


def test_a_track_taken_over_by_a_crossing_face_does_not_count_as_found():
    """Face B crossed in front of face A; A was missed and B took A's track id (1), so A's place
    counted as found and 41 % of A showed sharp. Found again now needs the track's new box over
    80 % of the held one."""
    hold = BlurHold()
    a, b = [300.0, 100.0, 390.0, 190.0], [250.0, 110.0, 320.0, 180.0]
    hold.update(0.0, [a, b], [1, 2])
    held = hold.update(1 / 30, [[276.0, 110.0, 346.0, 180.0]], [1])  # B, now called 1
    assert len(held) == 2  # A's place (under id 1) and B's old one (id 2) both held
    assert held[:, 2].max() >= 390.0


def test_held_places_follow_a_change_of_resolution():
    """A stream that changes resolution (960x540 -> 1280x720) kept its held boxes in the old
    pixels: the blur fell up and left of the face, which showed sharp if the detector missed
    it in the first frame of the new size. The held places are now scaled, as the tracker's."""
    hold = BlurHold(hold_s=0.5, margin=0.0, margin_per_s=0.0, margin_per_s_unknown=0.0)
    hold.update(0.0, [BOX], [1], (960, 540))
    hold.update(0.04, [[102.0, 50.0, 202.0, 170.0]], [1], (960, 540))  # moving 2 px a frame
    held = hold.update(0.08, np.zeros((0, 4)), np.zeros(0, np.int64), (1280, 720))
    s = 1280 / 960
    # the last box scaled, reaching 2 px (scaled) further on along its motion
    assert held == pytest.approx(np.array([[102 * s, 50 * s, 204 * s, 170 * s]]), abs=1e-3)
    # without a size the boxes stay as they were (the old behaviour)
    plain = BlurHold(hold_s=0.5, margin=0.0, margin_per_s=0.0, margin_per_s_unknown=0.0)
    plain.update(0.0, [BOX], [1])
    assert plain.update(0.04, np.zeros((0, 4)), np.zeros(0, np.int64)) == pytest.approx(
        np.array([BOX])
    )
    # boxes held without track ids are scaled too
    loose = BlurHold(hold_s=0.5, margin=0.0, margin_per_s=0.0, margin_per_s_unknown=0.0)
    loose.update(0.0, [BOX], image_wh=(640, 360))
    assert loose.update(0.04, np.zeros((0, 4)), image_wh=(320, 180)) == pytest.approx(
        np.array([BOX]) / 2
    )
