"""Per-track summaries weighted by time."""

from __future__ import annotations

import io
from pathlib import Path

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


def test_a_frame_before_damaged_data_stands_for_the_time_up_to_it():
    t = np.array([0.0, 0.1, 0.2, 0.5, 0.6])
    np.testing.assert_allclose(frame_durations(t, [0.3]), [0.1, 0.1, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(frame_durations(t, [0.5]), frame_durations(t))  # at the frame
    np.testing.assert_allclose(frame_durations(t, [0.25, 0.4]), [0.1, 0.1, 0.05, 0.1, 0.1])


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


def test_a_video_without_a_tracked_face_keeps_a_row():
    empty = [{"source": "b.mp4", "status": "no_face", "timestamp_s": t, "track_id": None}
             for t in (0.0, 0.1)]  # fmt: skip
    failed = [{"source": "c.mp4", "status": "error", "timestamp_s": None, "track_id": None}]
    s = track_summary(pd.concat([_rows(), pd.DataFrame(empty + failed)], ignore_index=True))
    assert s["source"].tolist() == ["a.mp4", "a.mp4", "b.mp4"]  # a failed video has no time
    assert str(s["track_id"].dtype) == "Int64" and s["track_id"].isna().tolist()[2]
    b = s.iloc[2]
    assert (b["part"], b["frames"], b["seen_s"], b["tied_labels"]) == (0, 0, 0.0, "")
    assert pd.isna(b["label"])
    assert np.isnan(b["share_happiness"]) and np.isnan(b["mean_happiness"])
    assert np.isnan(b["first_s"]) and np.isnan(b["abstained_share"])
    assert str(track_summary(_rows())["track_id"].dtype) == "Int64"  # whatever the rows hold


def test_summary_command_counts_videos_without_a_tracked_face_apart(tmp_path):
    from typer.testing import CliRunner

    from mien.cli.main import app

    results, out = tmp_path / "rows.csv", tmp_path / "tracks.csv"
    empty = pd.DataFrame([{"source": "b.mp4", "status": "no_face", "timestamp_s": 0.0}])
    pd.concat([_rows(), empty], ignore_index=True).to_csv(results, index=False)
    result = CliRunner().invoke(app, ["summary", str(results), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 tracks and 1 source without a face" in result.stderr
    table = pd.read_csv(out, keep_default_na=False)
    assert table["track_id"].tolist() == ["1", "2", ""]


def test_still_images_and_failed_inputs_are_named_not_listed_as_videos(tmp_path):
    from typer.testing import CliRunner

    from mien.cli.main import app
    from mien.summary import untimed_sources

    photo = {"source": "p.jpg", "status": "ok", "timestamp_s": 0.0, "track_id": None,
             "label": "happiness", "p_happiness": 0.9, "p_neutral": 0.1}  # fmt: skip
    failed = {"source": "cut.mp4", "status": "error", "error": "no 'moov' box"}
    rows = pd.concat([_rows(), pd.DataFrame([photo, failed])], ignore_index=True)
    assert untimed_sources(rows) == (["p.jpg"], {"cut.mp4": "no 'moov' box"})
    assert track_summary(rows)["source"].tolist() == ["a.mp4", "a.mp4"]
    results, out = tmp_path / "rows.csv", tmp_path / "tracks.csv"
    rows.to_csv(results, index=False)
    result = CliRunner().invoke(app, ["summary", str(results), "-o", str(out)])
    assert result.exit_code == 0, result.output
    err = result.stderr.replace("\n", " ")
    assert "wrote 2 tracks to" in err and "left out: 1 still image" in err
    assert "not in the table: cut.mp4 could not be read (no 'moov' box)" in err
    # rows of only a failed video: it is named there too (the error spoke of still images)
    rows.iloc[:0].pipe(lambda e: pd.concat([e, pd.DataFrame([failed])])).to_csv(
        results, index=False
    )
    result = CliRunner().invoke(app, ["summary", str(results)])
    err = result.stderr.replace("\n", " ")
    assert result.exit_code == 1 and "cut.mp4 could not be read (no 'moov' box)" in err


def test_window_columns_that_only_look_like_outputs_are_carried(tmp_path):
    from mien.summary import window_summary

    windows = pd.DataFrame({"start_s": [0.0], "end_s": [0.3], "mean_f0": ["210"], "share_x": ["a"]})
    got = window_summary(_rows(), windows)
    assert got["mean_f0"].tolist() == ["210"] and got["share_x"].tolist() == ["a"]


def test_a_window_names_its_video_by_an_absolute_path_of_a_relative_source(tmp_path, monkeypatch):
    from mien.summary import window_summary

    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    rows = _rows().assign(source="../a.mp4")
    other = _rows().assign(source="b.mp4")
    windows = pd.DataFrame({"source": [str(tmp_path / "a.mp4")], "start_s": [0.0], "end_s": [0.3]})
    got = window_summary(pd.concat([rows, other], ignore_index=True), windows)
    assert set(got["source"]) == {"../a.mp4"} and got["seen_s"].sum() == pytest.approx(0.3)


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
    got = {line.track_id: (line.label, line.share, line.seen_s) for line in times.tracks()}
    for k in (1, 2):
        label, share, seen = got[k]
        assert label == table.loc[k, "label"]
        assert share == pytest.approx(table.loc[k, f"share_{label}"])
        assert seen == pytest.approx(table.loc[k, "seen_s"])
    assert [line.track_id for line in times.tracks()] == [1, 2]  # longest seen first


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
    line = times.tracks()[0]
    table = track_summary(rows)
    assert line.label == table.loc[0, "label"] == "happiness"
    assert line.tied_labels == ("neutral",) and table.loc[0, "tied_labels"] == "neutral"
    assert line.text() == "#1 happiness 50% of 1.0 s (tied with neutral)"


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
    # the table's steps are rounded to the nanosecond, so its sums now agree to the bit;
    # TrackTimes (below) still adds raw steps
    assert s.loc[0, "share_neutral"] == s.loc[0, "share_happiness"]
    assert s.loc[0, "label"] == "happiness"  # the earlier label in the model's order
    assert s.loc[0, "tied_labels"] == "neutral"
    times = TrackTimes(["happiness", "neutral"])
    for ts, label in zip(t, labels, strict=True):
        times.add(ts, {1: label})
    assert times.tracks()[0][1:2] == ("happiness",)
    assert times.tracks()[0].tied_labels == ("neutral",)


def _joined(second_id: int) -> pd.DataFrame:
    """Two recordings joined end to end: 5 frames at 0-0.4 s of a happy face (track 1), then
    the clock goes back to 0 for 5 frames of a neutral one (track ``second_id``)."""
    rows = []
    for i in range(10):
        happy = i < 5
        rows.append(
            {"source": "j.ts", "status": "ok", "frame_index": i, "timestamp_s": (i % 5) / 10,
             "track_id": 1 if happy else second_id, "label": "happiness" if happy else "neutral",
             "p_happiness": 0.9 if happy else 0.1, "p_neutral": 0.1 if happy else 0.9}
        )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("second_id", [2, 1])
def test_a_clock_that_goes_back_starts_a_part_timed_on_its_own(second_id):
    """Joined recordings: the second part's rows were dropped as repeats of the first's
    timestamps (track 1 was 'happiness 100 % of 0.5 s'). Track ids now differ across the jump
    (the tracker goes on counting); rows of an older run with one id still count both parts."""
    from mien.summary import TrackTimes

    df = _joined(second_id)
    s = track_summary(df).set_index("track_id")
    if second_id == 2:
        assert s.loc[1, "seen_s"] == pytest.approx(0.5) and s.loc[1, "label"] == "happiness"
        assert s.loc[2, "seen_s"] == pytest.approx(0.5) and s.loc[2, "label"] == "neutral"
        assert s.loc[2, "frames"] == 5
    else:  # one id on both sides (an older run's rows): a row per part
        parts = track_summary(df).set_index(["part", "track_id"])
        assert parts.loc[(0, 1), "label"] == "happiness" and parts.loc[(1, 1), "label"] == "neutral"
        assert parts["seen_s"].tolist() == pytest.approx([0.5, 0.5])
        return
    times = TrackTimes(["happiness", "neutral"])
    for row in df.itertuples():
        times.add(row.timestamp_s, {row.track_id: row.label})
    for line in times.tracks():
        assert line.seen_s == pytest.approx(s.loc[line.track_id, "seen_s"])
        assert line.label == s.loc[line.track_id, "label"]
        assert line.share == pytest.approx(s.loc[line.track_id, f"share_{line.label}"])


def test_per_frame_values_by_default_smoothed_and_abstained_on_request():
    df = _rows()
    df["ps_happiness"] = 0.5  # a smoother's lagging view
    df["ps_neutral"] = 0.5
    df["smoothed_label"] = "neutral"
    raw = track_summary(df).set_index("track_id")
    assert raw.loc[1, "label"] == "happiness"  # the per-frame labels, no lag
    assert raw.loc[1, "mean_happiness"] == pytest.approx((0.02 + 0.03 + 0.27 + 0.08 + 0.07) / 0.7)
    smooth = track_summary(df, smoothed=True).set_index("track_id")
    assert smooth.loc[1, "label"] == "neutral" and smooth.loc[1, "mean_happiness"] == 0.5
    # track 1's frame at 0.5 s abstained: its 0.1 s leaves the label, shares and means
    kept = track_summary(df, skip_abstained=True).set_index("track_id")
    assert kept.loc[1, "seen_s"] == pytest.approx(0.7)  # still the time seen
    assert kept.loc[1, "share_happiness"] == pytest.approx(0.4 / 0.6)
    assert kept.loc[1, "mean_happiness"] == pytest.approx((0.02 + 0.03 + 0.27 + 0.07) / 0.6)
    assert kept.loc[1, "abstained_share"] == pytest.approx(0.1 / 0.7)
    all_out = df.assign(abstained=True)
    gone = track_summary(all_out, skip_abstained=True).set_index("track_id")
    assert gone.loc[1, "label"] is None and np.isnan(gone.loc[1, "share_happiness"])
    with pytest.raises(DatasetError, match="abstained"):
        track_summary(df.drop(columns="abstained"), skip_abstained=True)


def test_track_line_words_abstention_and_ties():
    from mien.summary import TrackTimes

    times = TrackTimes(["happiness", "neutral"])
    times.add(0.0, {1: "happiness"}, abstained={1})
    times.add(0.2, {1: "happiness"}, abstained={1})
    times.add(0.4, {1: "neutral"})
    times.add(0.6, {})
    (line,) = times.tracks()
    assert line.abstained_share == pytest.approx(0.4 / 0.6)
    assert line.text() == "#1 happiness 67% of 0.6 s (67% abstained)"


def test_parts_follow_row_order_and_take_nullable_dtypes():
    """Two runs' rows appended (the frame index restarts) are two parts, not one interleaved
    run; nullable and pyarrow columns (read_csv(dtype_backend=...)) no longer crash."""
    run = _joined(2).iloc[:5]  # one run: 5 frames, 0-0.4 s, track 1
    twice = pd.concat([run, run.assign(track_id=2)], ignore_index=True)
    s = track_summary(twice).set_index("track_id")
    assert s.loc[1, "seen_s"] == pytest.approx(0.5) and s.loc[2, "seen_s"] == pytest.approx(0.5)
    assert s["part"].tolist() == [0, 1]
    for frame in (twice.convert_dtypes(), twice.convert_dtypes(dtype_backend="pyarrow")):
        got = track_summary(frame).set_index("track_id")
        assert got.loc[1, "seen_s"] == pytest.approx(0.5) and got.loc[2, "frames"] == 5
    same_ids = track_summary(pd.concat([run, run], ignore_index=True))  # both runs' track 1
    assert same_ids[["part", "track_id", "frames"]].values.tolist() == [[0, 1, 5], [1, 1, 5]]
    without = twice.drop(columns="frame_index")  # no frame index: one part, repeats dropped
    assert track_summary(without).set_index("track_id").loc[2, "seen_s"] == pytest.approx(0.5)


def test_a_repeated_timestamp_counts_its_first_row_in_both():
    from mien.summary import TrackTimes

    rows = pd.DataFrame(
        {"source": "a.mp4", "status": "ok", "track_id": 1, "timestamp_s": [0.0, 0.1, 0.1, 0.2],
         "label": "neutral", "p_neutral": 1.0, "abstained": [False, False, True, False]}
    )  # fmt: skip
    table = track_summary(rows)
    times = TrackTimes(["neutral"])
    for row in rows.itertuples():
        times.add(row.timestamp_s, {1: row.label}, {1} if row.abstained else set())
    assert times.tracks()[0].abstained_share == table.loc[0, "abstained_share"] == 0.0


def test_a_hole_in_time_is_not_time_seen():
    """2 s of a face, nothing analysed for 30 s, 2 s of another: the last frame before the
    hole stood for 30 s ('#1 neutral 100% of 32.0 s'); it now stands for one ordinary step."""
    from mien.summary import TrackTimes

    t = [i / 10 for i in range(20)] + [32.0 + i / 10 for i in range(20)]
    rows = pd.DataFrame(
        {"source": "hole.mp4", "status": "ok", "frame_index": range(40), "timestamp_s": t,
         "track_id": [1] * 20 + [2] * 20, "label": ["neutral"] * 20 + ["happiness"] * 20,
         "p_neutral": 1.0, "p_happiness": 0.0}
    )  # fmt: skip
    s = track_summary(rows).set_index("track_id")
    assert s["seen_s"].tolist() == pytest.approx([2.0, 2.0])
    times = TrackTimes(["happiness", "neutral"])
    for row in rows.itertuples():
        times.add(row.timestamp_s, {row.track_id: row.label})
    assert [line.seen_s for line in times.tracks()] == pytest.approx([2.0, 2.0])
    np.testing.assert_allclose(frame_durations([0.0, 0.1, 0.2, 15.0, 15.1]), [0.1] * 5)
    # a frame a variable-frame-rate file holds on screen for 4.8 s stands for all of it
    np.testing.assert_allclose(
        frame_durations([0.0, 0.1, 0.2, 5.0, 5.1]), [0.1, 0.1, 4.8, 0.1, 0.1]
    )


@pytest.mark.parametrize(
    "t",
    [
        [1.0 + 1.9 * (i > 0) + 0.1 * i for i in range(30)],  # a burst dropped: 2 s, then 0.1 s
        [i / 10 for i in range(20)] + [2.0 + 2.0 * k for k in range(1, 11)],  # then 2 s apart
        list(np.cumsum(np.random.default_rng(0).choice([0.04, 0.1, 0.5, 1.5, 6.0], 60))),
    ],
)
def test_holes_are_judged_as_the_tracker_does_in_both(t):
    """The hole rule used the whole source's median: a static face in a file that slows to a
    frame every 2 s (the tracker keeps its id) counted each 2 s as 0.1 s, and `watch`'s
    line (the median so far) disagreed with track_summary on an early long step."""
    from mien.summary import TrackTimes

    rows = pd.DataFrame(
        {"source": "v.mp4", "status": "ok", "frame_index": range(len(t)), "timestamp_s": t,
         "track_id": 1, "label": "neutral", "p_neutral": 1.0}
    )  # fmt: skip
    table = track_summary(rows)
    times = TrackTimes(["neutral"])
    for ts in t:
        times.add(ts, {1: "neutral"})
    assert times.tracks()[0].seen_s == pytest.approx(table.loc[0, "seen_s"])
    if t[1] - t[0] > 1.5:  # the early 2 s step: not a hole by the steps seen so far
        assert table.loc[0, "seen_s"] == pytest.approx(2.0 + 0.1 * 28 + 0.1)
    if len(t) == 30 and t[-1] == 22.0:  # 2 s steps: holes until the tracker's median adapts
        kept = frame_durations(np.asarray(t))[-3:]
        # the last: the median of the last 16 steps, the step where the clip ends (the whole
        # clip's median, 0.1 s, made it depend on the frame rate long before)
        assert kept.tolist() == pytest.approx([2.0, 2.0, 2.0])


def test_window_summary_counts_the_time_each_frame_spends_inside_each_window():
    from mien.summary import window_summary

    windows = pd.DataFrame(
        {"start_s": [0.15, 0.72, 0.8], "end_s": [0.55, 0.78, 1.0],
         "utterance": ["so how was it", "hm", "after the clip"]}
    )  # fmt: skip
    w = window_summary(_rows(), windows)
    assert w["window"].tolist() == [0, 0, 1, 2]
    assert w["utterance"].tolist() == ["so how was it"] * 2 + ["hm", "after the clip"]
    one = w[(w["window"] == 0) & (w["track_id"] == 1)].iloc[0]
    # track 1: the frame at 0.1 s counts 0.05 s (neutral), the one at 0.2 s all its 0.3 s,
    # and the one at 0.5 s 0.05 s (happiness, abstained)
    assert one["analysed_s"] == pytest.approx(0.4) and one["seen_s"] == pytest.approx(0.4)
    assert one["share_happiness"] == pytest.approx(0.35 / 0.4) and one["label"] == "happiness"
    assert one["abstained_share"] == pytest.approx(0.05 / 0.4)
    assert one["mean_happiness"] == pytest.approx((0.3 * 0.05 + 0.9 * 0.3 + 0.8 * 0.05) / 0.4)
    assert (one["first_s"], one["last_s"], one["frames"]) == (0.1, 0.5, 3)
    two = w[(w["window"] == 0) & (w["track_id"] == 2)].iloc[0]
    assert two["seen_s"] == pytest.approx(0.05) and two["label"] == "neutral"
    # analysed, but no face in it: a row without a track
    hm = w[w["window"] == 1].iloc[0]
    assert pd.isna(hm["track_id"]) and hm["analysed_s"] == pytest.approx(0.06)
    assert hm["seen_s"] == 0 and hm["frames"] == 0 and pd.isna(hm["label"])
    # past the last analysed frame's time: nothing analysed
    after = w[w["window"] == 2].iloc[0]
    assert after["analysed_s"] == 0 and pd.isna(after["part"]) and pd.isna(after["track_id"])
    assert str(w["track_id"].dtype) == "Int64" and (w["source"] == "a.mp4").all()


def test_window_summary_shares_add_up_to_the_track_summary_over_the_whole_clip():
    from mien.summary import window_summary

    whole = track_summary(_rows()).set_index("track_id")
    halves = window_summary(_rows(), pd.DataFrame({"start_s": [-1, 0.33], "end_s": [0.33, 9]}))
    seen = halves.dropna(subset=["track_id"]).groupby("track_id")["seen_s"].sum()
    assert seen.to_dict() == pytest.approx(whole["seen_s"].to_dict())


def test_window_summary_finds_each_window_s_video_by_the_end_of_its_path():
    from mien.summary import window_summary

    rows = pd.concat(
        [_rows().assign(source="p1/session.mp4"), _rows().assign(source="p2/session.mp4")]
    )
    w = window_summary(rows, pd.DataFrame(
        {"source": ["p2/session.mp4", "p1/session.mp4"], "start_s": [0, 0], "end_s": [1, 1]}
    ))  # fmt: skip
    assert w.drop_duplicates("window")["source"].tolist() == ["p2/session.mp4", "p1/session.mp4"]
    with pytest.raises(DatasetError, match="could be any of"):
        window_summary(
            rows, pd.DataFrame({"source": ["session.mp4"], "start_s": [0], "end_s": [1]})
        )
    with pytest.raises(DatasetError, match="none of the rows' sources"):
        window_summary(rows, pd.DataFrame({"source": ["p3.mp4"], "start_s": [0], "end_s": [1]}))
    with pytest.raises(DatasetError, match="give the windows a source column"):
        window_summary(rows, pd.DataFrame({"start_s": [0], "end_s": [1]}))


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        ({"start_s": [0.0]}, "without the column"),
        ({"start_s": [0.5], "end_s": [0.4]}, "window 0: end_s 0.4 is before start_s 0.5"),
        ({"start_s": [0.0, float("nan")], "end_s": [1, 2]}, "window 1: start_s nan"),
        ({"start_s": ["soon"], "end_s": [1]}, "must be numbers of seconds"),
        ({"start_s": [0], "end_s": [1], "label": ["x"]}, r"\['label'\].*rename"),
        ({"start_s": [0], "end_s": [1], "share_happiness": [1]}, "rename"),
        ({"start_s": [0], "end_s": [1], "x1": [1]}, "rename"),
    ],
)
def test_window_summary_refuses_windows_it_cannot_read(windows, message):
    from mien.summary import window_summary

    with pytest.raises(DatasetError, match=message):
        window_summary(_rows(), pd.DataFrame(windows))


def test_track_summary_gives_each_track_s_median_box():
    rows = _rows().assign(x1=10.0, y1=20.0, x2=50.0, y2=70.0)
    rows.loc[0, "x1"] = 30.0
    s = track_summary(rows).set_index("track_id")
    assert s.loc[1, ["x1", "y1", "x2", "y2"]].tolist() == [10.0, 20.0, 50.0, 70.0]


def test_summary_command_writes_tracks_and_windows(tmp_path):
    from typer.testing import CliRunner

    from mien.cli.main import app

    runner = CliRunner()
    results = tmp_path / "rows.csv"
    _rows().to_csv(results, index=False)
    printed = runner.invoke(app, ["summary", str(results)])
    assert printed.exit_code == 0, printed.output
    tracks = pd.read_csv(io.StringIO(printed.stdout))
    assert tracks["track_id"].tolist() == [1, 2]
    assert tracks["seen_s"].tolist() == pytest.approx([0.7, 0.2])
    windows = tmp_path / "utterances.csv"
    windows.write_text('start_s,end_s,text\n0.15,0.55,"so, how was it"\n0.72,0.78,hm\n')
    out = tmp_path / "by_window.parquet"
    args = ["summary", str(results), "--windows", str(windows), "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "wrote 3 window rows" in result.stderr
    table = pd.read_parquet(out)
    assert table["text"].tolist() == ["so, how was it"] * 2 + ["hm"]
    assert table["seen_s"].tolist() == pytest.approx([0.4, 0.05, 0.0])


def test_summary_command_exit_codes(tmp_path):
    from typer.testing import CliRunner

    from mien.cli.main import app

    runner = CliRunner()
    results = tmp_path / "rows.csv"
    _rows().to_csv(results, index=False)
    still = tmp_path / "photos.csv"
    _rows().assign(track_id=None).to_csv(still, index=False)
    bad = tmp_path / "bad_windows.csv"
    bad.write_text("start_s,end_s\n2,1\n")
    cases = [
        (["summary", str(still)], 1, "no tracked faces"),
        (["summary", str(results), "--windows", str(bad)], 2, "end_s 1 is before start_s 2"),
        (["summary", str(results), "--windows", str(tmp_path / "none.csv")], 2, "cannot be read"),
        (["summary", str(results), "-o", str(tmp_path / "t.xlsx")], 2, "use a .csv"),
        (["summary", str(bad)], 2, str(bad)),
    ]
    for args, code, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == code, (args, result.output)
        assert message in result.stderr, (args, result.stderr)


def test_window_summary_columns_do_not_depend_on_what_the_windows_found():
    from mien.summary import window_summary

    rows = _rows().assign(x1=1.0, y1=2.0, x2=3.0, y2=4.0)
    seen = window_summary(rows, pd.DataFrame({"start_s": [0.0], "end_s": [0.3]}))
    # the first window past the analysed time, or every window, or none at all
    late_first = window_summary(rows, pd.DataFrame({"start_s": [5.0, 0.0], "end_s": [6, 0.3]}))
    none_seen = window_summary(rows, pd.DataFrame({"start_s": [5.0], "end_s": [6.0]}))
    empty = window_summary(rows, pd.DataFrame({"start_s": [], "end_s": []}))
    columns = list(seen.columns)
    assert columns[:7] == ["window", "start_s", "end_s", "source", "model", "part", "analysed_s"]
    assert {"share_happiness", "mean_neutral", "abstained_share", "x1", "y2"} <= set(columns)
    for table in (late_first, none_seen, empty):
        assert list(table.columns) == columns
    assert empty.empty and str(empty["track_id"].dtype) == "Int64"
    assert late_first["seen_s"].tolist() == pytest.approx([0.0, 0.3])


@pytest.mark.parametrize(
    "named",
    ["a.mp4", "./a.mp4", " data/a.mp4 ", "/home/me/data/a.mp4", "C:\\me\\data\\a.mp4", "", None],
)
def test_window_summary_matches_a_source_by_either_end_of_its_path(named):
    from mien.summary import window_summary

    rows = _rows().assign(source="data/a.mp4")
    w = window_summary(rows, pd.DataFrame({"source": [named], "start_s": [0], "end_s": [1]}))
    assert w["source"].unique().tolist() == ["data/a.mp4"]
    assert w["seen_s"].sum() == pytest.approx(0.9)


def test_window_summary_counts_videos_not_still_images_and_wants_a_source_for_several():
    from mien.summary import window_summary

    still = {"source": "photo.jpg", "status": "ok", "timestamp_s": 0.0, "track_id": None,
             "label": "neutral", "p_happiness": 0.1, "p_neutral": 0.9}  # fmt: skip
    mixed = pd.concat([_rows(), pd.DataFrame([still])], ignore_index=True)
    w = window_summary(mixed, pd.DataFrame({"start_s": [0.0], "end_s": [1.0]}))
    assert set(w["source"]) == {"a.mp4"} and w["seen_s"].sum() == pytest.approx(0.9)
    two = pd.concat([_rows(), _rows().assign(source="b.mp4")], ignore_index=True)
    with pytest.raises(DatasetError, match="window 0: no source, and the rows hold 2 videos"):
        window_summary(two, pd.DataFrame({"source": [""], "start_s": [0], "end_s": [1]}))


@pytest.mark.parametrize("bound", ["1_0", True, "True", " "])
def test_window_summary_reads_bounds_strictly(bound):
    from mien.summary import window_summary

    with pytest.raises(DatasetError, match="must be numbers of seconds"):
        window_summary(_rows(), pd.DataFrame({"start_s": [0], "end_s": [bound]}))


def _summary_cli(tmp_path, windows_text: str, *more: str, rows: pd.DataFrame | None = None):
    from typer.testing import CliRunner

    from mien.cli.main import app

    results = tmp_path / "rows.csv"
    (_rows() if rows is None else rows).to_csv(results, index=False)
    windows = tmp_path / "windows.csv"
    windows.write_bytes(windows_text.encode("utf-8"))
    return CliRunner().invoke(app, ["summary", str(results), "--windows", str(windows), *more])


def test_summary_command_carries_window_cells_as_written(tmp_path):
    text = "\ufeffstart_s, end_s ,trial,note,ok\n 0.0 ,0.3,007,NA,TRUE\n0.3,0.9,008,None,\n"
    result = _summary_cli(tmp_path, text)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout), dtype=str, keep_default_na=False)
    assert list(table.columns[:6]) == ["window", "start_s", "end_s", "trial", "note", "ok"]
    first = table.drop_duplicates("window")
    assert first["trial"].tolist() == ["007", "008"] and first["note"].tolist() == ["NA", "None"]
    assert first["ok"].tolist() == ["TRUE", ""] and first["start_s"].tolist() == ["0", "0.3"]


def test_summary_command_with_no_windows_writes_the_header(tmp_path):
    result = _summary_cli(tmp_path, "start_s,end_s,text\n")
    assert result.exit_code == 0, result.output
    header = result.stdout.strip().split(",")
    assert header[:5] == ["window", "start_s", "end_s", "text", "source"]
    assert "share_happiness" in header and len(result.stdout.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("start_s;end_s\n0;1\n", "one column 'start_s;end_s': the file must be comma-separated"),
        ("start_s,end_s,text\n0,1,so, how\n", "quote a cell holding a comma"),
        ("begin,end\n0,1\n", "columns found: 'begin', 'end'"),
        ("start_s,end_s\n0,1_0\n", "must be numbers of seconds"),
    ],
)
def test_summary_command_names_what_is_wrong_with_the_windows(tmp_path, text, message):
    result = _summary_cli(tmp_path, text)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 3  # one message, wrapped at most


def test_summary_command_warns_of_windows_outside_the_analysed_time(tmp_path):
    result = _summary_cli(tmp_path, "start_s,end_s\n0,0.3\n0.75,0.78\n10,20\n30,40\n")
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    # the last frame, at 0.7 s, stands for the usual step: a window at 0.75 s lies inside
    assert "2 of 4 windows lie outside their video's analysed time" in said
    assert "to the end of the last one's time, a.mp4: 0 s to 0.8 s)" in said
    quiet = _summary_cli(tmp_path, "start_s,end_s\n0,0.3\n")
    assert "outside" not in quiet.stderr


def test_summary_command_says_when_smoothed_values_are_missing(tmp_path):
    plain = _rows().drop(columns=["smoothed_label", "ps_happiness", "ps_neutral"])
    result = _summary_cli(tmp_path, "start_s,end_s\n0,1\n", "--smoothed", rows=plain)
    assert result.exit_code == 0, result.output
    assert "no smoothed columns" in " ".join(result.stderr.split())
    assert "no smoothed" not in _summary_cli(tmp_path, "start_s,end_s\n0,1\n", "--smoothed").stderr


@pytest.mark.parametrize("which", ["rows.csv", "windows.csv"])
def test_summary_command_never_writes_over_an_input(tmp_path, which):
    result = _summary_cli(tmp_path, "start_s,end_s\n0,1\n", "-o", str(tmp_path / which))
    assert result.exit_code == 2 and "it would overwrite an input" in result.stderr
    assert (tmp_path / "windows.csv").read_text() == "start_s,end_s\n0,1\n"
    assert pd.read_csv(tmp_path / "rows.csv")["source"].eq("a.mp4").all()


def test_read_windows_reads_a_spreadsheet_s_export(tmp_path):
    from mien.summary import TimeWindowsError, read_windows

    path = tmp_path / "w.csv"
    path.write_bytes(b'\xef\xbb\xbf start_s ,end_s,text\r\n0,1,"so, um"\r\n,,\r\n2,3,NA\r\n,,\r\n')
    table = read_windows(path)
    assert list(table.columns) == ["start_s", "end_s", "text"]
    assert table.to_dict("list") == {"start_s": ["0", "2"], "end_s": ["1", "3"],
                                     "text": ["so, um", "NA"]}  # fmt: skip
    path.write_text("start_s,end_s,text\n0,1,a\n2,3,so, um\n")
    with pytest.raises(TimeWindowsError, match="line 3 has 4 cells, the header 3: quote a cell"):
        read_windows(path)
    path.write_bytes("start_s,end_s,text\n0,1,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(TimeWindowsError, match="not UTF-8"):
        read_windows(path)
    with pytest.raises(TimeWindowsError, match="cannot be read") as missing:
        read_windows(tmp_path / "none.csv")
    assert "quote" not in str(missing.value)


def test_summary_command_blames_the_file_at_fault(tmp_path):
    no_label = _rows().drop(columns="label")
    result = _summary_cli(tmp_path, "start_s,end_s\n0,1\n", rows=no_label)
    assert result.exit_code == 2 and "rows.csv: rows without the column(s) ['label']" in (
        " ".join(result.stderr.split()).replace(str(tmp_path) + "/", "")
    )
    no_abstained = _rows().drop(columns="abstained")
    result = _summary_cli(tmp_path, "start_s,end_s\n0,1\n", "--skip-abstained", rows=no_abstained)
    said = " ".join(result.stderr.split())
    assert result.exit_code == 2 and "rows.csv: --skip-abstained needs" in said
    result = _summary_cli(tmp_path, "start_s,end_s\n2,1\n")
    said = result.stderr
    assert "--windows " in said and "windows.csv: window 0 (line 2): end_s 1" in said


def test_summary_command_keeps_a_window_on_a_failed_video_and_says_so(tmp_path):
    failed = {"source": "broken.mp4", "status": "error", "error": "cut off", "timestamp_s": None,
              "track_id": None}  # fmt: skip
    rows = pd.concat([_rows(), pd.DataFrame([failed])], ignore_index=True)
    text = "source,start_s,end_s\nbroken.mp4,0,1\na.mp4,0,1\n"
    result = _summary_cli(tmp_path, text, rows=rows)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.stdout))
    broken = table[table["source"] == "broken.mp4"]
    assert len(broken) == 1 and broken["analysed_s"].tolist() == [0.0]
    assert table.loc[table["source"] == "a.mp4", "seen_s"].sum() == pytest.approx(0.9)
    said = " ".join(result.stderr.split())
    assert "1 window(s) name 1 source(s) with no analysed frame (failed in analysis?): " in said
    assert "broken.mp4" in said and "lie outside" not in said  # one warning, not two


def test_summary_command_does_not_call_a_one_frame_video_outside(tmp_path):
    one = _rows()[_rows()["timestamp_s"] == 0.0]
    result = _summary_cli(tmp_path, "start_s,end_s\n0,0.2\n", rows=one)
    assert result.exit_code == 0, result.output
    assert "outside" not in result.stderr
    assert pd.read_csv(io.StringIO(result.stdout))["frames"].tolist() == [1]


@pytest.mark.parametrize("suffix", [".csv", ".json", ".jsonl"])
def test_summary_command_keeps_a_long_clock_s_times(tmp_path, suffix):
    rows = _rows().assign(timestamp_s=_rows()["timestamp_s"] + 95443.717678)
    out = tmp_path / f"w{suffix}"
    text = "start_s,end_s\n95443.7176781,95443.717679\n95443.717678,95444.417678\n"
    result = _summary_cli(tmp_path, text, "-o", str(out), rows=rows)
    assert result.exit_code == 0, result.output
    if suffix == ".csv":
        table = pd.read_csv(out, dtype={"start_s": str, "first_s": str})
    else:
        table = pd.read_json(out, lines=suffix == ".jsonl", dtype={"start_s": str})
    assert table["start_s"].astype(str).tolist()[:1] == ["95443.7176781"]
    assert table["first_s"].astype(str).tolist()[0] == "95443.717678"
    assert table.loc[table["window"] == 1, "seen_s"].sum() == pytest.approx(0.9, abs=1e-6)


def test_summary_command_warns_of_rows_read_in_several_parts(tmp_path):
    indexed = _rows().assign(frame_index=lambda d: (d["timestamp_s"] * 10).round().astype(int))
    in_order = indexed.sort_values("frame_index", kind="stable")  # as mien writes them
    result = _summary_cli(tmp_path, "start_s,end_s\n0,1\n", rows=in_order)
    assert result.exit_code == 0 and "goes back" not in result.stderr
    by_track = in_order.sort_values(["track_id", "timestamp_s"])
    result = _summary_cli(tmp_path, "start_s,end_s\n0,1\n", rows=by_track)
    said = " ".join(result.stderr.split())
    assert "goes back in a.mp4 (2 parts)" in said and "sort them by source and frame_index" in said


def test_summary_command_never_writes_into_the_parts_it_reads(tmp_path):
    from typer.testing import CliRunner

    from mien.cli.main import app

    (tmp_path / "parts").mkdir()
    _rows().to_parquet(tmp_path / "parts" / "a.parquet")
    out = tmp_path / "parts" / "summary.parquet"
    result = CliRunner().invoke(app, ["summary", str(tmp_path / "parts"), "-o", str(out)])
    assert result.exit_code == 2 and "inside the folder of results read" in result.stderr
    assert not out.exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_summary_command_on_a_full_disk_says_so(tmp_path):
    import subprocess
    import sys

    results = tmp_path / "rows.csv"
    _rows().to_csv(results, index=False)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "mien", "summary", str(results)], stdout=full,
            stderr=subprocess.PIPE, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "could not write to standard output" in done.stderr


def test_the_last_frame_stands_for_the_step_where_the_clip_ends_in_both():
    """A clip at 20 fps that goes on at 10 fps: its last frame stands for 0.1 s, not the whole
    clip's median 0.05 s (a new user's trial: a track seen only at the end lost 0.05 s)."""
    from mien.summary import TrackTimes

    t = [k * 0.05 for k in range(40)] + [2.0 + k * 0.1 for k in range(20)]
    assert frame_durations(np.asarray(t))[-1] == pytest.approx(0.1)
    times = TrackTimes()
    for k, ts in enumerate(t):
        times.add(ts, {2: "neutral"} if k >= 45 else {})
    assert times.tracks()[0].seen_s == pytest.approx(1.5)


def test_read_windows_refuses_headers_it_cannot_map_and_names_lines(tmp_path):
    from mien.summary import TimeWindowsError, read_windows, window_summary

    path = tmp_path / "w.csv"
    path.write_text("start_s,end_s,text, text\n0,1,a,b\n")
    with pytest.raises(TimeWindowsError, match=r"named twice in the header: \['text'\]"):
        read_windows(path)
    path.write_text("start_s,end_s,\n0,1,\n")  # a trailing comma: no column
    assert list(read_windows(path).columns) == ["start_s", "end_s"]
    path.write_text("start_s,end_s,\n0,1,x\n")
    with pytest.raises(TimeWindowsError, match="column 3 has cells but no name"):
        read_windows(path)
    path.write_bytes(b"start_s,end_s,text\n" + b"0,1,ok\n" * 20000 + b"2,3,caf\xe9\n")
    with pytest.raises(TimeWindowsError, match="at byte 140026"):
        read_windows(path)  # the offset in the file, not in a reader's chunk
    path.write_text("start_s,end_s\n0,1\n\n,\n2,x\n")
    with pytest.raises(TimeWindowsError, match=r"window 1 \(line 5\): start_s '2' and end_s 'x'"):
        window_summary(_rows(), read_windows(path))


def test_window_summary_keeps_columns_whatever_their_names():
    from mien.summary import window_summary

    w = window_summary(_rows(), pd.DataFrame({"start_s": [0.0], "end_s": [1.0], 5: ["five"]}))
    assert w[5].tolist() == ["five", "five"]


def test_window_summary_takes_the_source_that_matches_most_of_a_longer_path():
    from mien.summary import window_summary

    rows = pd.concat([_rows(), _rows().assign(source="sub/a.mp4")], ignore_index=True)
    w = window_summary(
        rows, pd.DataFrame({"source": ["/home/me/sub/a.mp4"], "start_s": [0], "end_s": [1]})
    )
    assert set(w["source"]) == {"sub/a.mp4"}
    two = pd.concat([_rows().assign(source=f"{d}/a.mp4") for d in ("sub", "top")])
    with pytest.raises(DatasetError, match="could be any of"):  # shorter: either could be it
        window_summary(two, pd.DataFrame({"source": ["a.mp4"], "start_s": [0], "end_s": [1]}))


def test_summaries_keep_times_on_a_long_clock_free_of_float_noise():
    from mien.summary import window_summary

    shifted = _rows().assign(timestamp_s=_rows()["timestamp_s"] + 95443.717678)
    s = track_summary(shifted).set_index("track_id")
    assert s.loc[1, "seen_s"] == 0.7 and s.loc[1, "first_s"] == 95443.717678
    w = window_summary(shifted, pd.DataFrame({"start_s": [95443.867678], "end_s": [95444.0]}))
    assert w["analysed_s"].iloc[0] == 0.132322


def test_summary_command_warns_of_parts_without_a_track(tmp_path):
    """Rows sorted by track put the no_face rows last: a second part without a face, which
    made the absence count as time seen, with no warning (a second trial)."""
    absent = {3, 4}
    rows = pd.DataFrame(
        [{"source": "a.mp4", "status": "no_face" if k in absent else "ok", "frame_index": k,
          "timestamp_s": k / 10, "track_id": None if k in absent else 1,
          "label": None if k in absent else "neutral", "p_neutral": None if k in absent else 1.0}
         for k in range(10)]
    )  # fmt: skip
    assert track_summary(rows)["seen_s"].tolist() == pytest.approx([0.8])
    by_track = rows.sort_values("track_id", kind="stable", na_position="last")
    result = _summary_cli(tmp_path, "start_s,end_s\n0,1\n", rows=by_track)
    assert "goes back in a.mp4 (2 parts)" in " ".join(result.stderr.split())


def test_summary_command_warns_of_a_csv_without_its_last_line_break(tmp_path):
    from typer.testing import CliRunner

    from mien.cli.main import app

    results = tmp_path / "rows.csv"
    _rows().to_csv(results, index=False)
    results.write_text(results.read_text().rstrip("\n"))
    result = CliRunner().invoke(app, ["summary", str(results)])
    assert result.exit_code == 0 and "does not end with a line break" in result.stderr


def test_summary_command_into_a_closed_pipe_is_quiet(tmp_path):
    import subprocess
    import sys

    results = tmp_path / "rows.csv"
    pd.concat([_rows().assign(source=f"{k}.mp4") for k in range(400)]).to_csv(results, index=False)
    done = subprocess.run(
        f"{sys.executable} -m mien summary {results} | head -c 10 > /dev/null; "
        "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.stderr == "" and done.returncode == 0


def _one_neutral_face(times: list[float]) -> pd.DataFrame:
    """Rows of one neutral face, track 1 of ``a.mp4``, at ``times``."""
    return pd.DataFrame(
        [{"source": "a.mp4", "status": "ok", "frame_index": k, "timestamp_s": t, "track_id": 1,
          "label": "neutral", "p_neutral": 1.0}
         for k, t in enumerate(times)]
    )  # fmt: skip


def test_a_window_in_a_pause_of_its_video_is_on_the_video_s_clock(tmp_path):
    """Frames at 0..0.2 s, then from 13 s: a window at 1-2 s lies in the break, not outside
    the video (a third trial: it was called outside the analysed time, with no model)."""
    rows = _one_neutral_face([0.0, 0.1, 0.2, 13.0, 13.1, 13.2])
    result = _summary_cli(tmp_path, "start_s,end_s\n1,2\n19,20\n", rows=rows)
    table = pd.read_csv(io.StringIO(result.stdout))
    assert table["part"].tolist()[:1] == [0] and table["analysed_s"].tolist() == [0.0, 0.0]
    said = " ".join(result.stderr.split())
    assert "1 of 2 windows lie outside" in said and pd.isna(table["part"].iloc[1])


def test_a_window_in_a_held_frame_sees_its_faces(tmp_path):
    """A variable-frame-rate file held the frame at 0.2 s until 3 s: a window at 1-2 s got
    analysed_s 0 and no face, while a player showed the face the whole time."""
    rows = _one_neutral_face([0.0, 0.1, 0.2, 3.0, 3.1, 3.2])
    result = _summary_cli(tmp_path, "start_s,end_s\n1,2\n", rows=rows)
    table = pd.read_csv(io.StringIO(result.stdout))
    assert table["analysed_s"].tolist() == [1.0] and table["track_id"].tolist() == [1]
    assert table["label"].tolist() == ["neutral"]


def test_window_lines_are_named_only_while_the_table_is_as_read(tmp_path):
    from mien.summary import read_windows, window_summary

    path = tmp_path / "w.csv"
    path.write_text("start_s,end_s,who\n0,1,A\n1,2,B\n2,1.5,A\n5,x,B\n")
    w = read_windows(path)
    with pytest.raises(DatasetError, match=r"window 2 \(line 4\): end_s 1.5"):
        window_summary(_rows(), w)
    with pytest.raises(DatasetError, match=r"window 1: end_s 1.5") as filtered:
        window_summary(_rows(), w[w["who"] == "A"].reset_index(drop=True))
    assert "line" not in str(filtered.value)
    with pytest.raises(DatasetError, match=r"window 0: start_s '5'"):
        window_summary(_rows(), w.sort_values("start_s", ascending=False))


def test_track_times_round_seen_s_as_the_table_does():
    from mien.summary import TrackTimes

    t = [round(k * 0.05, 6) for k in range(23)]  # the steps add up to 1.1500000000000001
    times = TrackTimes()
    for ts in t:
        times.add(ts, {1: "neutral"})
    rows = pd.DataFrame({"source": "a.mp4", "status": "ok", "timestamp_s": t, "track_id": 1,
                         "label": "neutral", "p_neutral": 1.0})  # fmt: skip
    assert times.tracks()[0].seen_s == track_summary(rows).loc[0, "seen_s"] == 1.15


def test_smoothed_summary_uses_per_frame_values_where_a_source_has_none():
    a = _rows()
    b = _rows().assign(source="b.mp4", smoothed_label=None, ps_happiness=None, ps_neutral=None)
    s = track_summary(pd.concat([a, b], ignore_index=True), smoothed=True)
    plain = track_summary(b.drop(columns=["smoothed_label", "ps_happiness", "ps_neutral"]))
    got = s[s["source"] == "b.mp4"].reset_index(drop=True)
    assert got["mean_happiness"].tolist() == pytest.approx(plain["mean_happiness"].tolist())


def test_window_summary_types_its_number_columns_even_without_rows():
    from mien.summary import window_summary

    empty = window_summary(_rows(), pd.DataFrame({"start_s": [], "end_s": []}))
    assert str(empty["window"].dtype) == "int64"
    assert {str(empty[c].dtype) for c in ("start_s", "seen_s", "share_neutral")} == {"float64"}


def test_summary_command_names_sources_without_smoothed_values(tmp_path):
    b = _rows().assign(source="b.mp4", smoothed_label=None, ps_happiness=None, ps_neutral=None)
    rows = pd.concat([_rows(), b], ignore_index=True)
    result = _summary_cli(tmp_path, "source,start_s,end_s\na.mp4,0,1\n", "--smoothed", rows=rows)
    said = " ".join(result.stderr.split())
    assert "no smoothed values for 1 source(s), whose per-frame values are used: b.mp4" in said


def test_a_window_of_no_length_takes_the_frame_that_covers_it():
    """Speech recognisers give some words no duration: such a row stopped the whole run."""
    from mien.summary import window_summary

    windows = pd.DataFrame({"start_s": [0.15, 0.55, 0.7, 0.3], "end_s": [0.15, 0.55, 0.7, 0.3]})
    got = window_summary(_rows(), windows)
    first = got[got["window"] == 0]  # the frame at 0.1 s (neutral) covers 0.15 s
    assert first["track_id"].tolist() == [1] and first["label"].tolist() == ["neutral"]
    assert first["seen_s"].tolist() == [0.0] and first["frames"].tolist() == [1]
    assert sorted(got.loc[got["window"] == 1, "track_id"].tolist()) == [1, 2]  # 0.5 s frame
    assert got.loc[got["window"] == 2, "track_id"].isna().all()  # the no-face frame at 0.7 s
    # an instant exactly where a frame starts (word times on a 10 ms grid meet frames at
    # 25 fps): that frame covers it; it got no face, and at the first frame, "outside"
    exact = pd.DataFrame({"start_s": [0.0, 0.1, 0.5], "end_s": [0.0, 0.1, 0.5]})
    got = window_summary(_rows(), exact)
    assert got["track_id"].tolist() == [1, 1, 1, 2] and got["frames"].tolist() == [1] * 4
    assert got["label"].tolist() == ["neutral", "neutral", "happiness", "neutral"]
    assert got["part"].tolist() == [0] * 4 and (got["seen_s"] == 0).all()


def test_shuffled_rows_are_warned_of_in_python_too():
    """track_summary(df.sample(frac=1)) gave 4 parts and wrong times without a word; only the
    CLI warned."""
    import warnings

    from mien.summary import PartsWarning

    rows = pd.DataFrame(
        {
            "source": "v.mp4",
            "status": "ok",
            "frame_index": range(10),
            "timestamp_s": [i / 10 for i in range(10)],
            "track_id": 1,
            "label": "neutral",
            "p_neutral": 1.0,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in order: no warning
        assert track_summary(rows)["seen_s"].tolist() == [pytest.approx(1.0)]
    shuffled = rows.sample(frac=1, random_state=0)
    with pytest.warns(PartsWarning, match=r"goes back in v\.mp4 \(\d+ parts\)") as caught:
        track_summary(shuffled)
    assert caught[0].filename == __file__  # pointed at the caller's line


def test_summary_warns_where_damaged_data_was_left_out(tmp_path):
    """A damaged stretch left out of a video was timed as the frame before held (no row says
    where it was): 2.5 s without a frame counted as seen, with no word."""
    from typer.testing import CliRunner

    from mien.cli.main import app

    damaged = {"source": "a.mp4", "status": "error", "timestamp_s": 0.6,
               "error": "damaged data: 14 damaged frames from 0.3 s to 0.4 s left out"}  # fmt: skip
    results = tmp_path / "rows.csv"
    pd.concat([_rows(), pd.DataFrame([damaged])], ignore_index=True).to_csv(results, index=False)
    result = CliRunner().invoke(app, ["summary", str(results)])
    assert result.exit_code == 0, result.output
    assert "a.mp4: damaged data was left out" in " ".join(result.stderr.split())
    _rows().to_csv(results, index=False)
    assert "damaged" not in CliRunner().invoke(app, ["summary", str(results)]).stderr


def test_a_damaged_stretch_marked_in_the_rows_is_not_time_seen(tmp_path):
    """Rows now mark where damaged data was left out (a ``damaged`` row before the frame
    after it): the frame before stands for the time up to it, in track_summary as in
    TrackTimes, and mien summary has nothing to warn of."""
    from typer.testing import CliRunner

    from mien.cli.main import app
    from mien.summary import TrackTimes

    mark = {"source": "a.mp4", "status": "damaged", "timestamp_s": 0.3, "track_id": None,
            "error": "damaged data left out from 0.300 s to this frame at 0.500 s"}  # fmt: skip
    plain = _rows()
    marked = pd.concat([plain.iloc[:3], pd.DataFrame([mark]), plain.iloc[3:]], ignore_index=True)
    before = track_summary(plain).set_index("track_id")["seen_s"]
    after = track_summary(marked).set_index("track_id")["seen_s"]
    assert before[1] == pytest.approx(0.7) and after[1] == pytest.approx(0.5)
    assert after[2] == before[2] == pytest.approx(0.2)
    clock = TrackTimes()
    for t, same in marked.groupby("timestamp_s", sort=False):
        if (same["status"] == "damaged").all():
            continue
        here = same.to_dict("records")
        if t == 0.5:
            here = [mark, *here]
        clock.add_rows(t, [r for r in here if r["status"] in ("ok", "damaged")])
    assert {line.track_id: line.seen_s for line in clock.tracks()}[1] == pytest.approx(0.5)
    error = {"source": "a.mp4", "status": "error", "timestamp_s": 0.6,
             "error": "damaged data: 2 damaged frames from 0.3 s to 0.4 s left out"}  # fmt: skip
    results = tmp_path / "rows.csv"
    pd.concat([marked, pd.DataFrame([error])], ignore_index=True).to_csv(results, index=False)
    result = CliRunner().invoke(app, ["summary", str(results)])
    assert result.exit_code == 0, result.output
    assert "left out" not in result.stderr  # marked: the summary kept it out of the time seen
    # schema 4 rows with damage but no damaged row (it lay after the last frame): no warning
    late = pd.concat([plain.assign(schema_version="4"), pd.DataFrame([error])])
    late.to_csv(results, index=False)
    assert "left out" not in CliRunner().invoke(app, ["summary", str(results)]).stderr
    late.assign(schema_version="3").to_csv(results, index=False)  # older rows: it may be inside
    assert "left out" in CliRunner().invoke(app, ["summary", str(results)]).stderr
    assert pd.read_csv(io.StringIO(result.stdout)).set_index("track_id")["seen_s"][1] == 0.5
