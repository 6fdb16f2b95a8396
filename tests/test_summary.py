"""Per-track summaries weighted by time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mien.errors import DatasetError
from mien.summary import frame_durations, track_summary


def _rows() -> pd.DataFrame:
    """A variable-frame-rate clip: frames at 0, 0.1, 0.2, 0.5, 0.6 s; track 1 in all of them,
    track 2 in the last two, one frame without a face at 0.7 s."""
    rows = []

    def face(t, track, label, p_happy, abstained=False):
        rows.append(
            {"source": "a.mp4", "status": "ok", "timestamp_s": t, "track_id": track,
             "label": label, "p_happiness": p_happy, "p_neutral": 1 - p_happy,
             "ps_happiness": p_happy, "ps_neutral": 1 - p_happy, "smoothed_label": label,
             "abstained": abstained}
        )  # fmt: skip

    for t, label, p in [(0.0, "neutral", 0.2), (0.1, "neutral", 0.3), (0.2, "happiness", 0.9)]:
        face(t, 1, label, p)
    face(0.5, 1, "happiness", 0.8, abstained=True)
    face(0.6, 1, "happiness", 0.7)
    face(0.5, 2, "neutral", 0.1)
    face(0.6, 2, "neutral", 0.1)
    rows.append({"source": "a.mp4", "status": "no_face", "timestamp_s": 0.7, "track_id": None})
    return pd.DataFrame(rows)


def test_frame_durations():
    np.testing.assert_allclose(
        frame_durations([0.0, 0.1, 0.2, 0.5, 0.6]), [0.1, 0.1, 0.3, 0.1, 0.1]
    )
    assert frame_durations([3.0]).tolist() == [0.0] and frame_durations([]).size == 0


def test_track_summary_weighs_frames_by_the_time_they_stand_for():
    s = track_summary(_rows()).set_index("track_id")
    # steps 0.1 0.1 0.3 0.1 0.1, and the frame at 0.7 s takes the median step
    assert s.loc[1, "frames"] == 5 and s.loc[1, "seen_s"] == pytest.approx(0.7)
    assert s.loc[1, "share_happiness"] == pytest.approx(0.5 / 0.7)  # 3 of 5 frames, 5/7 of time
    assert s.loc[1, "label"] == "happiness"
    assert s.loc[1, "mean_happiness"] == pytest.approx((0.02 + 0.03 + 0.27 + 0.08 + 0.07) / 0.7)
    assert s.loc[1, "abstained_share"] == pytest.approx(0.1 / 0.7)
    assert (s.loc[1, "first_s"], s.loc[1, "last_s"]) == (0.0, 0.6)
    assert s.loc[2, "seen_s"] == pytest.approx(0.2) and s.loc[2, "label"] == "neutral"
    assert (s["share_happiness"] + s["share_neutral"]).tolist() == pytest.approx([1.0, 1.0])


def test_track_summary_needs_tracks():
    with pytest.raises(DatasetError, match="no tracked faces"):
        track_summary(_rows().assign(track_id=None))
    with pytest.raises(DatasetError, match="track_id"):
        track_summary(_rows().drop(columns="track_id"))


def test_track_times_frame_by_frame_agree_with_the_table():
    from mien.summary import TrackTimes

    df = _rows()
    times = TrackTimes()
    for t, frame in df.groupby("timestamp_s", sort=True):
        faces = frame[frame["status"] == "ok"]
        times.add(float(t), dict(zip(faces["track_id"].astype(int), faces["label"], strict=True)))
    table = track_summary(df).set_index("track_id")
    got = {k: (label, share, seen) for k, label, share, seen in times.tracks()}
    for k in (1, 2):
        label, share, seen = got[k]
        assert label == table.loc[k, "label"]
        assert share == pytest.approx(table.loc[k, f"share_{label}"])
        assert seen == pytest.approx(table.loc[k, "seen_s"])
    assert [k for k, *_ in times.tracks()] == [1, 2]  # longest seen first


def test_repeated_timestamps_and_unlabelled_rows_count_once_or_not_at_all():
    df = _rows()
    twice = pd.concat([df, df.iloc[[0]]], ignore_index=True)  # track 1 at 0.0 s twice
    assert track_summary(twice).set_index("track_id").loc[1, "seen_s"] == pytest.approx(0.7)
    unlabelled = df.astype({"label": "string", "smoothed_label": "string"})
    unlabelled.loc[0, ["label", "smoothed_label"]] = pd.NA
    s = track_summary(unlabelled).set_index("track_id")
    assert s.loc[1, "frames"] == 4 and s.loc[1, "seen_s"] == pytest.approx(0.6)
    with pytest.raises(DatasetError, match="no expression labels"):
        track_summary(df.drop(columns=[c for c in df if c.startswith("p_")]))


def test_a_tie_goes_to_the_earlier_label_in_both():
    from mien.summary import TrackTimes

    rows = pd.DataFrame(
        {"source": "a.mp4", "status": "ok", "track_id": 1, "timestamp_s": [0.0, 0.5],
         "label": ["neutral", "happiness"], "p_happiness": [0.2, 0.9], "p_neutral": [0.8, 0.1]}
    )  # fmt: skip
    times = TrackTimes(["happiness", "neutral"])  # the model's order
    times.add(0.0, {1: "neutral"})
    times.add(0.5, {1: "happiness"})
    assert times.tracks()[0][1] == track_summary(rows).loc[0, "label"] == "happiness"


def test_a_tie_of_times_summed_from_timestamp_steps_is_still_a_tie():
    """Five neutral then five happiness frames at 5 fps from 1 s: the steps' sums differ in
    their last bits (0.5000000000000001 against 0.5), which decided the label before."""
    from mien.summary import TrackTimes

    t = [1.0 + 0.2 * i for i in range(10)]
    labels = ["neutral"] * 5 + ["happiness"] * 5
    rows = pd.DataFrame(
        {"source": "a.mp4", "status": "ok", "track_id": 1, "timestamp_s": t, "label": labels,
         "p_happiness": [0.1] * 5 + [0.9] * 5, "p_neutral": [0.9] * 5 + [0.1] * 5}
    )  # fmt: skip
    s = track_summary(rows)
    assert s.loc[0, "share_neutral"] != s.loc[0, "share_happiness"]  # not equal to the bit
    assert s.loc[0, "label"] == "happiness"  # the earlier label in the model's order
    times = TrackTimes(["happiness", "neutral"])
    for ts, label in zip(t, labels, strict=True):
        times.add(ts, {1: label})
    assert times.tracks()[0][1] == "happiness"
