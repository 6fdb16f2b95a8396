"""plot_tracks on synthetic rows: panels per source, model and track."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from mien.plots import plot_tracks, read_rows
from mien.types import EXPRESSIONS


def rows(model: str, n: int) -> pd.DataFrame:
    p = {f"p_{e}": [1.0 if e == "happiness" else 0.0] * n for e in EXPRESSIONS}
    return pd.DataFrame(
        {"source": "a.mp4", "status": "ok", "model": model, "track_id": 1.0,
         "timestamp_s": [i / 10 for i in range(n)], **p}
    )  # fmt: skip


def test_rows_of_two_models_are_never_one_track():
    fig = plot_tracks(pd.concat([rows("fer_resnet_v3", 5), rows("mine", 3)]))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [
        "a.mp4 · track 1 · 5 frames · fer_resnet_v3",
        "a.mp4 · track 1 · 3 frames · mine",
    ]


def test_rows_without_a_model_column_still_plot():
    fig = plot_tracks(rows("x", 4).drop(columns="model"))
    assert [ax.get_title() for ax in fig.axes] == ["a.mp4 · track 1 · 4 frames"]
    (legend,) = fig.legends  # one figure legend (below the panels, clear of every title)
    assert [t.get_text() for t in legend.get_texts()] == list(EXPRESSIONS)


def test_a_track_that_goes_unseen_is_drawn_with_a_break():
    import numpy as np

    from mien.plots import track_breaks, with_gaps

    t = np.array([0.0, 0.1, 0.2, 0.7, 0.8])  # unseen from 0.3 to 0.6 s
    breaks = track_breaks(t, np.arange(10) / 10)
    np.testing.assert_array_equal(breaks, [0, 0, 1, 0])
    times, cut = with_gaps(t, breaks, t + 0.1)  # each value holds to its frame's end
    np.testing.assert_allclose(times, [0.0, 0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    np.testing.assert_array_equal(np.isnan(cut([1, 2, 3, 4, 5])), [0, 0, 0, 1, 0, 0, 1])
    assert track_breaks(np.array([2.0]), np.array([1.0, 2.0, 3.0])).shape == (0,)
    seen = rows("m", 10)
    seen = seen[(seen["timestamp_s"] < 0.25) | (seen["timestamp_s"] > 0.65)]
    unseen = rows("m", 10).iloc[3:7].assign(status="no_face", track_id=float("nan"))
    fig = plot_tracks(pd.concat([seen, unseen]))
    xs, ys = fig.axes[0].lines[0].get_xdata(), fig.axes[0].lines[0].get_ydata()
    assert (
        len(ys) == 8 and np.isnan(ys[[3, 7]]).all() and not np.isnan(ys[[0, 1, 2, 4, 5, 6]]).any()
    )
    # the frame at 0.2 s holds to 0.3 s, where the face was gone, not to the gap's middle;
    # the last frame (0.9 s) holds for its step too, as the summaries count it
    np.testing.assert_allclose(xs[[3, 7]], [0.3, 1.0])
    assert fig.axes[0].get_xlim()[1] >= 1.0


def test_a_track_breaks_where_damaged_data_was_left_out():
    """A stretch of a video left out as damaged was drawn as the frame before it held."""
    import numpy as np

    seen = rows("m", 10)
    seen = seen[(seen["timestamp_s"] < 0.25) | (seen["timestamp_s"] > 0.65)]
    # the frame at 0.7 s follows damage that began at 0.3 s (its damaged row comes first)
    mark = pd.DataFrame([{"source": "a.mp4", "status": "damaged", "model": "m",
                          "track_id": None, "timestamp_s": 0.3}])  # fmt: skip
    ok = pd.concat([seen.iloc[:3], mark, seen.iloc[3:]], ignore_index=True)
    line = plot_tracks(ok).axes[0].lines[0]
    xs, ys = line.get_xdata(), line.get_ydata()
    assert len(ys) == 8 and np.isnan(ys[[3, 7]]).all()
    np.testing.assert_allclose(xs[[3, 7]], [0.3, 1.0])  # 0.2 s holds to the damage, not 0.7 s
    plain = plot_tracks(seen).axes[0].lines[0].get_ydata()
    assert not np.isnan(plain[:-1]).any()  # without the damaged row: held across (0.5 s)


def test_the_longest_seen_tracks_are_kept_and_appended_runs_are_parts():
    import warnings

    sparse = rows("m", 18).assign(timestamp_s=[float(i) for i in range(18)], frame_index=range(18))
    dense = rows("m", 30).assign(source="b.mp4", frame_index=range(30))  # 3 s in 30 rows
    with warnings.catch_warnings(record=True):
        fig = plot_tracks(pd.concat([sparse, dense]), max_tracks=1)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == [
        "a.mp4 · track 1 · 18 frames · m"
    ]
    again = rows("m", 5).assign(frame_index=range(5))
    fig = plot_tracks(pd.concat([again, again]))
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == [
        "a.mp4 · part 0 · track 1 · 5 frames · m",
        "a.mp4 · part 1 · track 1 · 5 frames · m",
    ]


def test_points_no_line_reaches_are_drawn_as_dots():
    import numpy as np

    from mien.plots import isolated

    np.testing.assert_array_equal(isolated(np.array([0, 1, 1, 0], bool)), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(isolated(np.zeros(0, bool)), [1])  # a track of one point
    one = plot_tracks(rows("m", 1))  # a single frame: a dot per label, not an empty panel
    dots = [ln for ln in one.axes[0].lines if ln.get_marker() == "o"]
    assert len(dots) == len(EXPRESSIONS) and dots[3].get_ydata().tolist() == [1.0]  # happiness


def test_read_rows_takes_a_folder_of_parquet_parts(tmp_path):
    import pytest

    from mien.errors import DatasetError
    from mien.plots import read_rows

    a, b = rows("m", 3), rows("m", 2).assign(source="b.mp4")
    (tmp_path / "parts").mkdir()
    a.to_parquet(tmp_path / "parts" / "a.parquet")
    b.to_parquet(tmp_path / "parts" / "b.parquet")
    got = read_rows(tmp_path / "parts")
    assert got["source"].tolist() == ["a.mp4"] * 3 + ["b.mp4"] * 2
    with pytest.raises(DatasetError, match=r"a folder without \.parquet files \(mien batch"):
        read_rows(tmp_path)  # a batch's output folder: its rows are in parts/
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"without \.parquet files \(give a results file"):
        read_rows(tmp_path / "empty")
    with pytest.raises(DatasetError, match="no such file"):
        read_rows(tmp_path / "nope.csv")


def vfr_rows(timestamps: list[float], absent: set[int] = frozenset()) -> pd.DataFrame:
    """Track 1 in frames ``0..n-1`` at ``timestamps``; a ``no_face`` row at each frame in
    ``absent`` (analysed, face not there)."""
    out = rows("m", len(timestamps)).assign(
        frame_index=range(len(timestamps)), timestamp_s=timestamps
    )
    gone = out["frame_index"].isin(absent)
    out.loc[gone, "status"] = "no_face"
    out.loc[gone, "track_id"] = float("nan")
    return out


# a variable frame rate: steps of 33 ms, then 167 ms and 200 ms (old rule: > 1.5 x median)
VFR = [0.0, 0.033, 0.067, 0.1, 0.267, 0.3, 0.333, 0.533, 0.567, 0.6]


def test_a_face_in_every_frame_of_a_variable_frame_rate_video_is_one_line():
    import numpy as np

    fig = plot_tracks(vfr_rows(VFR))
    ys = fig.axes[0].lines[0].get_ydata()  # the last point ends the line after its step
    assert len(ys) == len(VFR) + 1 and np.flatnonzero(np.isnan(ys)).tolist() == [len(VFR)]
    # frames sampled sparsely (--fps / --every: no rows in between) never break it either
    fig = plot_tracks(vfr_rows(VFR).iloc[::3])
    assert not np.isnan(fig.axes[0].lines[0].get_ydata()[:-1]).any()


def test_a_variable_frame_rate_line_breaks_only_where_the_face_was_absent():
    import numpy as np

    fig = plot_tracks(vfr_rows(VFR, absent={5, 6}))  # analysed, face gone at 0.3 and 0.333 s
    line = fig.axes[0].lines[0]
    ys, xs = line.get_ydata(), line.get_xdata()
    assert len(ys) == len(VFR) - 2 + 2 and np.flatnonzero(np.isnan(ys)).tolist() == [5, 9]
    assert xs[5] == pytest.approx(0.3)  # frame 4 holds until 0.3 s, where the face was gone
    # another model's rows for the same frames say nothing about this model's track
    other = vfr_rows(VFR).assign(model="other", track_id=2.0).iloc[4:8]
    other.loc[:, "status"] = "no_face"
    fig = plot_tracks(pd.concat([vfr_rows(VFR), other]))
    assert not np.isnan(fig.axes[0].lines[0].get_ydata()[:-1]).any()


def test_tracks_beyond_max_tracks_are_reported():
    import warnings

    import pytest

    from mien.plots import TracksLeftOut

    three = pd.concat([rows("m", 6 - k).assign(track_id=float(k)) for k in range(3)])
    with pytest.warns(TracksLeftOut, match=r"the 2 longest of 3 tracks; 1 left out") as got:
        fig = plot_tracks(three, max_tracks=2)
    assert (got[0].message.shown, got[0].message.total) == (2, 3)
    assert [ax.get_title().split(" · ")[1] for ax in fig.axes] == ["track 0", "track 1"]
    assert fig.get_suptitle().endswith("\nthe 2 longest of 3 tracks shown")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all drawn: no warning, no note
        fig = plot_tracks(three, max_tracks=3)
    assert "shown" not in fig.get_suptitle()
    for bad in (0, -1, 1.5):  # 0 warned "drew the 0 longest", then matplotlib failed
        with pytest.raises(ValueError, match="max_tracks must be a whole number >= 1"):
            plot_tracks(three, max_tracks=bad)


def test_mien_plot_says_which_tracks_it_left_out(tmp_path):
    from typer.testing import CliRunner

    from mien.cli.main import app

    three = pd.concat([rows("m", 6 - k).assign(track_id=k) for k in range(3)])
    three.to_csv(tmp_path / "rows.csv", index=False)
    png = tmp_path / "rows.png"
    result = CliRunner().invoke(app, ["plot", str(tmp_path / "rows.csv"), "--max-tracks", "1"])
    assert result.exit_code == 0, result.output
    assert "note: drew the 1 longest of 3 tracks; 2 left out" in result.stderr
    assert "--max-tracks" in result.stderr and png.stat().st_size > 1000
    result = CliRunner().invoke(app, ["plot", str(tmp_path / "rows.csv")])
    assert result.exit_code == 0 and "note:" not in result.stderr


def written_rows() -> tuple[list[str], dict[str, str], list[dict]]:
    """Columns, column types and rows from the row schema: two faces in one frame (one
    abstains; one pose not measured), a frame without a face and a file that failed."""
    import numpy as np

    from mien.export import column_types, error_row, result_rows, row_columns
    from mien.types import FrameResult
    from tests.helpers import make_faces

    names = EXPRESSIONS
    k = len(names)
    expression = np.full((2, k), 0.1 / (k - 1), np.float32)
    expression[0, 0], expression[1, 1] = 0.9, 0.1  # face 1: unsure
    faces = make_faces(
        [[10.25, 20.5, 60.75, 80.0], [100, 20, 150, 90]],
        [0.97, 0.61],
        expression=expression,
        abstained=np.array([False, True]),
        track_id=np.array([7, 8]),
        smoothed=expression,
        data={
            "face_size_px": np.array([50.5, 50.0]),
            "sharpness": np.array([120.25, 3.5]),
            "yaw": np.array([4.5, np.nan]),
            "pitch": np.array([-2.0, np.nan]),
            "roll": np.array([0.5, np.nan]),
            "truncated": np.array([False, True]),
            "quality_ok": np.array([True, False]),
        },
    )

    def frame(index: int, t: float, f) -> FrameResult:
        return FrameResult(f, index, t, (640, 480), "clips/001.mp4", names, 0.5, model="fer")

    rows = [
        *result_rows(frame(2, 1 / 15, faces)),  # timestamp_s 0.066667
        *result_rows(frame(3, 0.1, faces[:0])),  # no_face: face columns empty (None)
        error_row("NA", "not an image", names, model="fer"),  # a file named NA, failed
    ]
    return row_columns(names), column_types(names), rows


def test_read_rows_gives_one_set_of_dtypes_and_values_from_every_format(tmp_path):
    import numpy as np

    from mien.export import FORMATS, open_sink
    from mien.plots import read_rows

    columns, types, written = written_rows()
    got = {}
    for fmt in FORMATS:
        path = tmp_path / f"rows.{fmt}"
        with open_sink(path, columns, fmt, types=types) as sink:
            for row in written:
                sink.append(row)
        got[fmt] = read_rows(path)
    (tmp_path / "parts").mkdir()
    (tmp_path / "rows.parquet").rename(tmp_path / "parts" / "a.parquet")
    got["parts/"] = read_rows(tmp_path / "parts")

    df = got["parquet"]
    assert list(df.columns) == columns
    expected = {"string": "string", "int": "Int64", "bool": "boolean", "float": "float64"}
    assert {c: str(t) for c, t in df.dtypes.items()} == {c: expected[types[c]] for c in columns}
    for fmt, other in got.items():  # same dtypes, same values, whatever the format
        pd.testing.assert_frame_equal(other, df, check_exact=True, obj=fmt)

    assert df["schema_version"].tolist() == ["4"] * 4
    assert df["source"].tolist() == ["clips/001.mp4"] * 3 + ["NA"]  # text stays text
    assert df["status"].tolist() == ["ok", "ok", "no_face", "error"]
    assert df["timestamp_s"].iloc[0] == 0.066667 and np.isnan(df["timestamp_s"].iloc[3])
    assert df["face"].tolist() == [0, 1, pd.NA, pd.NA]
    assert df["track_id"].tolist() == [7, 8, pd.NA, pd.NA]
    assert df["frame_index"].tolist() == [2, 2, 3, pd.NA]
    assert df["abstained"].tolist() == [False, True, pd.NA, pd.NA]
    assert df["quality_ok"].tolist() == [True, False, pd.NA, pd.NA]
    assert df["x1"].iloc[0] == 10.25 and df["p_" + EXPRESSIONS[0]].iloc[0] == 0.9
    assert df["yaw"].iloc[0] == 4.5 and df["yaw"].isna().tolist() == [False, True, True, True]
    assert df["error"].tolist() == [pd.NA, pd.NA, pd.NA, "not an image"]
    assert df[~df.abstained]["face"].tolist() == [0]  # missing (no face) counts as not kept
    assert df[df.quality_ok.fillna(False)]["track_id"].tolist() == [7]


def test_read_rows_refuses_a_schema_column_of_the_wrong_kind(tmp_path):
    import pytest

    from mien.errors import DatasetError
    from mien.plots import read_rows

    rows("m", 2).assign(track_id=[1.5, 2.0]).to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(DatasetError, match="'track_id'"):
        read_rows(tmp_path / "rows.csv")
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"source": "a.mp4", "status": "ok"\n')
    with pytest.raises(DatasetError, match="cannot read results"):
        read_rows(bad)
    # the path was named twice ("x.mp4: cannot read results (x.mp4: unknown results format")
    (tmp_path / "x.mp4").write_bytes(b"not rows")
    with pytest.raises(DatasetError, match=r"^\S*x\.mp4: unknown results format") as err:
        read_rows(tmp_path / "x.mp4")
    assert str(err.value).count("x.mp4") == 1
    # an empty path read every .parquet file in the current folder
    with pytest.raises(DatasetError, match="empty path"):
        read_rows("")


def test_plot_and_summary_of_no_rows_say_so():
    """Every clip failing gives ``pd.DataFrame([])``: "rows without the column(s) ['label',
    'source', ...]: not mien results" from track_summary, a KeyError from plot_tracks."""
    from mien.errors import DatasetError
    from mien.summary import track_summary

    with pytest.raises(DatasetError, match="no rows to plot"):
        plot_tracks(pd.DataFrame([]))
    with pytest.raises(DatasetError, match=r"without the column\(s\) \['source'"):
        plot_tracks(pd.DataFrame({"frame": [1]}))
    with pytest.raises(DatasetError, match="no rows to summarise"):
        track_summary(pd.DataFrame([]))
    with pytest.raises(DatasetError, match="no rows to summarise"):  # a header only
        track_summary(pd.DataFrame(columns=["source", "status", "timestamp_s", "track_id"]))


@pytest.mark.parametrize(
    ("name", "text"), [("e.jsonl", ""), ("e.json", "[]\n"), ("e.csv", ""), ("e.csv", "\n")]
)
def test_a_run_that_wrote_no_row_is_read_as_no_rows_not_foreign(tmp_path, name, text):
    # `mien analyze clip.mp4 --start 25 -o e.jsonl` past the clip's end writes no row; summary
    # and plot called that "not mien results (missing columns ...)", exit 2; an empty CSV
    # (mien writes a header) was "cannot read results", exit 2, where an empty .jsonl gave 1
    from mien.cli.main import app

    path = tmp_path / name
    path.write_text(text)
    assert len(read_rows(path)) == 0 and {"source", "track_id", "label"} <= set(read_rows(path))
    for command in (["summary", str(path)], ["plot", str(path), "-o", str(tmp_path / "p.png")]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 1, result.output
        assert "not mien results" not in result.stderr
    assert "no rows to summarise" in CliRunner().invoke(app, ["summary", str(path)]).stderr


def test_short_names_tell_same_named_files_apart():
    from mien.plots import short_names

    assert short_names(["a/b/s1.mp4", "c/b/s1.mp4", "d/x.mp4", "d/x.mp4"]) == {
        "a/b/s1.mp4": "a/b/s1.mp4",
        "c/b/s1.mp4": "c/b/s1.mp4",
        "d/x.mp4": "x.mp4",
    }


def test_panels_name_sources_apart_share_their_time_axis_and_shade_abstention():
    """Two participants' session1.mp4 had the same title; each panel had its own x range."""
    a = rows("m", 5).assign(source="p01/session1.mp4", abstained=[0, 1, 1, 0, 0])
    later = rows("m", 3).assign(source="p01/session1.mp4", track_id=2.0, abstained=0)
    later["timestamp_s"] = [1.0, 1.1, 1.2]
    b = rows("m", 1).assign(source="p02/session1.mp4", abstained=0)
    df = pd.concat([later, b, a]).astype({"abstained": bool})
    fig = plot_tracks(df)
    assert [ax.get_title() for ax in fig.axes] == [
        "p01/session1.mp4 · track 1 · 5 frames · m",  # in time order within a source
        "p01/session1.mp4 · track 2 · 3 frames · m",
        "p02/session1.mp4 · track 1 · 1 frame · m",
    ]
    first, second, single = fig.axes
    assert first.get_xlim() == second.get_xlim()  # one source: one time axis
    lo, hi = first.get_xlim()
    assert lo < 0.0 and hi > 1.2
    assert single.get_xlim() == (-0.5, 0.5)  # one frame: half a second either side
    (band,) = first.patches  # frames at 0.1 and 0.2 s abstained: 0.1 s to the next frame
    assert (band.get_x(), band.get_x() + band.get_width()) == pytest.approx((0.1, 0.3))
    assert not second.patches
    assert "grey: abstained" in fig.get_suptitle()
    assert all(ax.get_xlabel() == "time (s)" for ax in fig.axes)


def test_an_abstained_band_stops_where_the_track_is_absent():
    """A band ran from an abstained frame to the track's next frame 4.9 s later, across
    frames where the face was not there."""
    face = rows("m", 3).assign(abstained=[False, True, False])
    face["timestamp_s"] = [0.0, 0.1, 5.0]
    face["frame_index"] = [0, 1, 50]
    gap = pd.DataFrame({"source": "a.mp4", "status": "no_face", "model": "m",
                        "track_id": None, "timestamp_s": [2.0], "frame_index": [20]})  # fmt: skip
    both = pd.concat([face, gap]).sort_values("frame_index", ignore_index=True)
    fig = plot_tracks(both.astype({"abstained": "boolean"}))
    (band,) = fig.axes[0].patches
    # to the next analysed frame (2.0 s, face absent), as the summaries time it; not to 5.0 s
    assert band.get_x() == 0.1 and band.get_width() == pytest.approx(1.9)


def test_short_names_of_absolute_paths_have_one_slash():
    from mien.plots import short_names

    names = short_names(["/data/a/s1.mp4", "/data/b/s1.mp4", "/s2.mp4"])
    assert names == {
        "/data/a/s1.mp4": "a/s1.mp4",
        "/data/b/s1.mp4": "b/s1.mp4",
        "/s2.mp4": "s2.mp4",
    }


def test_a_panel_says_where_its_face_was():
    """Panels did not tell which face in the frame a track was: the title gives its median box."""
    left = rows("m", 5).assign(x1=[10.0, 12, 14, 16, 18], y1=40.0, x2=110.0, y2=150.4)
    right = left.assign(track_id=2.0, x1=400.0, x2=[480.0, 500, 520, 540, 560])
    titles = [ax.get_title() for ax in plot_tracks(pd.concat([left, right])).axes]
    assert titles == [
        "a.mp4 · track 1 · 5 frames · m · box x 14–110, y 40–150 px",
        "a.mp4 · track 2 · 5 frames · m · box x 400–520, y 40–150 px",
    ]


def test_smoothed_and_per_frame_lines_are_both_steps():
    """Both lines hold a value until the next frame: a smoothed line drawn straight between
    samples seemed to change a sample before the per-frame steps (a reviewer's finding)."""
    df = rows("m", 6)
    for e in EXPRESSIONS:
        df[f"ps_{e}"] = df[f"p_{e}"] * 0.9
    fig = plot_tracks(df)
    lines = [ln for ln in fig.axes[0].lines if len(ln.get_xdata()) > 1]
    assert len(lines) == 2 * len(EXPRESSIONS)
    assert {ln.get_drawstyle() for ln in lines} == {"steps-post"}


def test_read_rows_refuses_a_csv_cut_mid_row(tmp_path):
    from mien.errors import DatasetError
    from mien.plots import read_rows

    path = tmp_path / "rows.csv"
    rows("m", 3).to_csv(path, index=False)
    whole = path.read_text()
    assert len(read_rows(path)) == 3
    path.write_text(whole[: whole.rindex(",", 0, len(whole) - 1)])  # the last row cut short
    with pytest.raises(DatasetError, match=r"the last row has .* cells: the file ends mid-row"):
        read_rows(path)
    path.write_text(whole.rstrip("\n"))  # whole, without its final line break: fine
    assert len(read_rows(path)) == 3


def test_read_rows_takes_a_last_row_with_a_line_break_inside_a_quoted_cell(tmp_path):
    from mien.plots import read_rows

    path = tmp_path / "rows.csv"
    table = rows("m", 2).assign(error="")
    table.loc[1, "error"] = "decoder failed:\nframe 12 corrupt"
    table.to_csv(path, index=False)
    for ending in ("\n", "\r\n"):
        path.write_bytes(path.read_text().replace("\n", ending).rstrip("\r\n").encode())
        got = read_rows(path)
        assert len(got) == 2 and got.loc[1, "error"].startswith("decoder failed:")


def test_read_rows_names_the_line_of_a_jsonl_file_cut_mid_row(tmp_path):
    from mien.errors import DatasetError
    from mien.plots import read_rows

    path = tmp_path / "rows.jsonl"
    rows("m", 4).to_json(path, orient="records", lines=True)
    text = path.read_text()
    path.write_text(text[: len(text) - 30])
    with pytest.raises(DatasetError, match=r"line 4: .*the file ends mid-row"):
        read_rows(path)


def test_batch_parts_read_as_one_dataset_keep_every_column_of_mixed_parts(tmp_path):
    """Parts are read as one dataset when they share a schema; a dataset takes the first
    part's schema, so parts that differ are read one by one, every column kept."""
    import numpy as np

    from mien.plots import _read_parts

    base = rows("m", 3).assign(track_id=[1.0, 1.0, np.nan])
    same = tmp_path / "same"
    same.mkdir()
    for i in range(3):
        base.iloc[[i]].to_parquet(same / f"{i}.parquet", index=False)
    got = _read_parts(sorted(same.glob("*.parquet")))
    pd.testing.assert_frame_equal(got, base.reset_index(drop=True))
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    base.iloc[[0]].to_parquet(mixed / "0.parquet", index=False)  # an older part: no upright
    base.iloc[[1]].assign(upright=0.9).to_parquet(mixed / "1.parquet", index=False)
    got = _read_parts(sorted(mixed.glob("*.parquet")))
    assert got["upright"].isna().tolist() == [True, False] and len(got) == 2


def test_a_part_damaged_in_its_data_is_named_not_read(tmp_path):
    """One flipped byte in a data page read as 18 wrong timestamps, without a word: parts
    carry page checksums, and reading verifies them."""
    import pytest

    from mien.errors import DatasetError
    from mien.export import ParquetSink
    from mien.plots import read_rows

    parts = tmp_path / "parts"
    parts.mkdir()
    for name in ("a.parquet", "b.parquet"):
        with ParquetSink(parts / name, {"source": "string", "timestamp_s": "float"}) as sink:
            for k in range(2000):
                sink.append({"source": name, "timestamp_s": k / 30})
    assert len(pd.read_parquet(parts)) == 4000
    data = bytearray((parts / "b.parquet").read_bytes())
    data[len(data) // 3] ^= 0xFF
    (parts / "b.parquet").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"b\.parquet: a damaged Parquet part"):
        read_rows(parts)
