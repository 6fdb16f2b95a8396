"""The CLI through typer's CliRunner: formats, folders, failures, exit codes, annotation."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from mien.cli.main import app
from mien.export import SCHEMA_VERSION
from mien.types import EXPRESSIONS
from mien.weights import DEFAULT_MODEL
from tests.helpers import SAMPLES, encode, make_export

runner = CliRunner()
P_COLUMNS = [f"p_{n}" for n in EXPRESSIONS]


@pytest.fixture()
def batch(tmp_path):
    """A folder with a face, a blank photo, a corrupt file and a nested face."""
    root = tmp_path / "photos"
    (root / "nested").mkdir(parents=True)
    (root / "hopper.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    (root / "nested" / "astronaut.jpg").write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    (root / "blank.png").write_bytes(encode(Image.new("RGB", (120, 90), (200, 200, 200))))
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "readme.txt").write_text("not an image, not picked up by folder recursion")
    return root


@pytest.mark.parametrize(
    "command", [[], ["analyze"], ["evaluate"], ["watch"], ["batch"], ["serve"], ["plot"]]
)
def test_help_shows_no_value_beside_on_off_flags(command):
    """typer printed ``<bool>`` beside every flag (``--detect <bool>``), as if it took a value."""
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "<bool>" not in result.output and "--help" in result.output
    if command == ["analyze"]:  # an option that takes a value still shows its type
        assert "<int" in result.output


def test_analyze_folder_jsonl_rows_and_exit_status(batch):
    result = runner.invoke(app, ["analyze", str(batch), "-q"])
    assert result.exit_code == 1, result.output  # broken.jpg failed
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    by_file = {r["source"].split("/")[-1]: r for r in rows}
    assert set(by_file) == {"hopper.jpg", "astronaut.jpg", "blank.png", "broken.jpg"}
    assert by_file["blank.png"]["status"] == "no_face" and by_file["blank.png"]["label"] is None
    assert by_file["broken.jpg"]["status"] == "error"
    # every row, the failed file's included, names the model that made it
    assert {(r["model"], r["schema_version"]) for r in rows} == {(DEFAULT_MODEL, SCHEMA_VERSION)}
    assert (
        "not a recognised image format" in by_file["broken.jpg"]["error"]
        or "corrupt" in by_file["broken.jpg"]["error"]
    )
    face = by_file["hopper.jpg"]
    assert face["status"] == "ok" and face["face"] == 0
    probs = np.array([face[c] for c in P_COLUMNS])
    assert probs.sum() == pytest.approx(1.0, abs=1e-3)
    assert face["label"] == EXPRESSIONS[int(probs.argmax())]
    assert face["label_probability"] == pytest.approx(probs.max(), abs=1e-5)
    assert isinstance(face["abstained"], bool)
    assert face["abstained"] == (face["label_probability"] < 0.5)
    assert 150 < face["x1"] < 200 and 320 < face["y2"] < 360


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_out_file_formats_hold_the_same_rows(tmp_path, fmt):
    out = tmp_path / f"rows.{fmt}"
    result = runner.invoke(
        app,
        [
            "analyze",
            str(SAMPLES / "grace_hopper.jpg"),
            str(SAMPLES / "astronaut.jpg"),
            "--out",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
    elif fmt == "json":
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines()]
    assert len(rows) == 2
    assert all(set(P_COLUMNS) <= set(r) for r in rows)
    assert [
        r["source"].endswith(n)
        for r, n in zip(rows, ["grace_hopper.jpg", "astronaut.jpg"], strict=True)
    ] == [True, True]
    assert {str(r["abstained"]).lower() for r in rows} <= {"true", "false"}


def test_missing_path_is_a_row_not_a_crash(tmp_path):
    result = runner.invoke(
        app,
        ["analyze", str(tmp_path / "nope.jpg"), str(SAMPLES / "astronaut.jpg"), "-f", "csv", "-q"],
    )
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["status"] for r in rows] == ["error", "ok"]
    assert rows[0]["error"] == "no such file"
    # -q: no table, but the failed file is named (exit 1 alone had said nothing of which)
    assert result.stderr.strip() == f"{tmp_path / 'nope.jpg'}: no such file"


def test_out_dash_is_standard_output_and_an_out_without_suffix_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    photo = str(SAMPLES / "astronaut.jpg")
    result = runner.invoke(app, ["analyze", photo, "-o", "-", "-f", "csv", "-q"])
    assert result.exit_code == 0 and not (tmp_path / "-").exists()  # it had written a file "-"
    assert next(csv.DictReader(io.StringIO(result.stdout)))["status"] == "ok"
    result = runner.invoke(app, ["analyze", photo, "-o", "results", "-q"])
    assert result.exit_code == 2 and not (tmp_path / "results").exists()
    assert "--out results: no suffix to tell the format by" in result.stderr
    result = runner.invoke(app, ["analyze", photo, "-o", "results", "-f", "csv", "-q"])
    assert result.exit_code == 0 and (tmp_path / "results").read_text().startswith("schema_")
    (tmp_path / "r.csv").write_text(result.stdout or (tmp_path / "results").read_text())
    result = runner.invoke(app, ["summary", "r.csv", "-o", "-"])  # it had been refused
    assert result.exit_code == 1 and "no tracked faces" in result.stderr  # a still: no tracks


def test_annotate_writes_copies(batch, tmp_path):
    out_dir = tmp_path / "drawn"
    result = runner.invoke(
        app,
        ["analyze", str(batch), "--annotate", str(out_dir), "-q", "--out", str(tmp_path / "r.csv")],
    )
    assert result.exit_code == 1
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file())
    assert written == [".mien-annotated", "blank.png", "hopper.jpg", "nested/astronaut.jpg"]
    original = np.asarray(Image.open(batch / "hopper.jpg"))
    drawn = np.asarray(Image.open(out_dir / "hopper.jpg"))
    assert drawn.shape == original.shape
    assert np.abs(drawn.astype(int) - original).mean() > 0.5  # something was drawn


def test_blurring_looks_for_every_face_not_just_the_first_found(tmp_path):
    """``auto`` stops at the first detector pass that finds a face: with --blur-faces a 46 px
    face beside a 126 px one stayed sharp in every frame. Blurring now runs ``tiled``."""
    from tests.helpers import compose, face_patch

    scene = compose(
        (640, 360),
        [
            (face_patch("grace_hopper.jpg", 200), 40, 60),
            (face_patch("astronaut.jpg", 120), 420, 100),
        ],
    )
    photo = tmp_path / "two.png"
    photo.write_bytes(encode(Image.fromarray(np.ascontiguousarray(scene[:, :, ::-1]))))

    def faces(*extra):
        out = tmp_path / "drawn"
        args = ["analyze", str(photo), "-f", "jsonl", "-q", "--annotate", str(out), *extra]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        return [json.loads(line) for line in result.stdout.splitlines()], out / "two.png"

    plain, _ = faces()
    assert len(plain) == 1  # auto: the large face only
    blurred, drawn = faces("--blur-faces")
    assert len(blurred) == 2
    small = max(blurred, key=lambda r: r["x1"])
    x1, y1, x2, y2 = (round(small[k]) for k in ("x1", "y1", "x2", "y2"))
    before = scene[y1:y2, x1:x2].astype(float)
    after = np.asarray(Image.open(drawn))[y1:y2, x1:x2, ::-1].astype(float)
    assert np.abs(np.diff(after, axis=1)).mean() < 0.5 * np.abs(np.diff(before, axis=1)).mean()
    # a detector asked for is the one that runs
    assert len(faces("--blur-faces", "--detector", "auto")[0]) == 1


@pytest.mark.parametrize(
    ("extra", "warned"),
    [
        ([], None),
        (["--detector", "tiled"], None),
        (["--detector", "auto"], "--blur-faces with --detector auto: it finds fewer faces"),
        (["--min-confidence", "0.8"], "--blur-faces with --min-confidence 0.8: a face the"),
    ],
)
def test_options_that_blur_fewer_faces_are_warned_about(tmp_path, extra, warned):
    # a privacy review: --min-confidence 0.8 left 72 of 72 face-frames sharp in one clip,
    # --detector auto 135 of 135 in another, and nothing said so
    args = ["analyze", str(SAMPLES / "grace_hopper.jpg"), "-f", "csv", "-q", "--blur-faces"]
    result = runner.invoke(app, [*args, "--annotate", str(tmp_path / "a"), *extra])
    assert result.exit_code == 0, result.output
    assert ("blurs most" in result.stderr or "stays sharp" in result.stderr) == bool(warned)
    if warned:
        assert warned in result.stderr


def test_summary_goes_to_stderr(tmp_path):
    result = runner.invoke(
        app, ["analyze", str(SAMPLES / "grace_hopper.jpg"), "--out", str(tmp_path / "r.jsonl")]
    )
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "1 file(s), 1 face(s), 0 failed, model fer_resnet_v3" in result.stderr


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--format", "xml"], "--format must be one of"),
        (["--model", "nope"], "model must be one of"),
        (["-o", "out.xyz"], "unknown suffix .xyz"),
        (["--annotate", "one.gif"], "annotated images are written as .jpg, .jpeg, .png"),
        (["--annotate", "rows.csv"], "--annotate rows.csv names a table; give a folder"),
        (["-o", "out.csv", "-f", "jsonl"], "names a .csv file but --format is jsonl"),
        (["--annotate", "one.mp4"], "but the input is an image; give a folder"),
    ],
)
def test_bad_options_exit_2(args, match):
    result = runner.invoke(app, ["analyze", str(SAMPLES / "astronaut.jpg"), *args])
    assert result.exit_code == 2
    assert match in result.stderr


def test_annotate_names_the_copy_of_a_single_image(tmp_path):
    """--annotate photo.jpg had been refused ("give a folder") though x.mp4 is taken for a
    single video."""
    import cv2

    drawn = tmp_path / "drawn.jpg"
    args = ["analyze", str(SAMPLES / "astronaut.jpg"), "-q", "-o", str(tmp_path / "r.csv")]
    result = runner.invoke(app, [*args, "--annotate", str(drawn)])
    assert result.exit_code == 0, result.stderr
    copy = cv2.imread(str(drawn))
    assert copy.shape == cv2.imread(str(SAMPLES / "astronaut.jpg")).shape
    assert not (tmp_path / ".mien-annotated").exists()  # no folder marker: not a folder
    two = [*args, str(SAMPLES / "grace_hopper.jpg"), "--annotate", str(tmp_path / "two.png")]
    result = runner.invoke(app, two)
    assert result.exit_code == 2 and "names one image file; give a folder" in result.stderr
    photo = tmp_path / "photo.png"
    photo.write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    result = runner.invoke(app, ["analyze", str(photo), "--annotate", str(photo)])
    assert result.exit_code == 2 and "is the input image; it would be overwritten" in result.stderr


def test_a_missing_video_with_an_annotated_video_named_is_no_such_file(tmp_path):
    # it was told "names a video file, but the input is an image"
    missing = tmp_path / "nothere.mp4"
    result = runner.invoke(app, ["analyze", str(missing), "--annotate", str(tmp_path / "d.mp4")])
    assert result.exit_code == 2
    assert f"{missing}: no such file" in result.stderr and "is an image" not in result.stderr


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["analyze", "{img}", "-o", "{file}/o.csv"], "--out {file}/o.csv: cannot be written"),
        (["analyze", "{img}", "--annotate", "{file}/a"], "cannot create the folder"),
        (["batch", "{img}", "--out", "{file}"], "--out {file} is a file; give a folder"),
        (["plot", "{file}", "-o", "{file}/p.png"], "cannot be written"),
        (["evaluate", "{tmp}", "--report", "{file}"], "--report {file} is a file"),
        (["watch", "{img}", "-o", "{file}/w.csv", "--no-preview"], "cannot be written"),
        (["watch", "{img}", "--max-seconds", "0", "--no-preview"], "must be above 0; got 0"),
    ],
)
def test_unwritable_outputs_fail_before_any_work(tmp_path, args, match):
    (tmp_path / "labels.csv").write_text("path,label\nx.jpg,neutral\n")
    blocker = tmp_path / "notes.txt"  # a file where a folder is needed
    blocker.write_text("x")
    fill = {"img": str(SAMPLES / "astronaut.jpg"), "file": str(blocker), "tmp": str(tmp_path)}
    result = runner.invoke(app, [a.format(**fill) for a in args])
    assert result.exit_code == 2, result.output
    assert match.format(**fill) in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_evaluate_prints_json(tmp_path):
    (tmp_path / "hopper.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    (tmp_path / "labels.csv").write_text("path,label,split,note\nhopper.jpg,neutral,val,x\n")
    args = ["evaluate", str(tmp_path), "--split", "val", "--detect", "-q"]
    result = runner.invoke(app, args)  # one label: every prediction would be right
    assert result.exit_code == 2 and "only the label(s) ['neutral'] to score over" in (
        result.stderr
    )
    assert f"{tmp_path / 'labels.csv'}: only" in " ".join(result.stderr.split())  # the file
    by = runner.invoke(app, [*args, "--all-labels", "--by", "nosuch"])
    assert by.exit_code == 2
    assert (
        "no column(s) ['nosuch'] to slice or cluster by; its columns besides path and label: "
        in (" ".join(by.stderr.split()))
    )
    result = runner.invoke(app, [*args, "--all-labels", "--by", "note", "--min-slice-n", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["slices"]["note"]["min_n"] == 1
    assert {"n", "accuracy", "macro_f1", "per_class_recall", "confusion", "ece"} <= set(report)
    assert report["n"] == 1 and report["labels"] == list(EXPRESSIONS)
    assert report["accuracy"] == 1.0  # neutral 0.62 is the top of all 8


def test_evaluate_warns_about_repeated_rows(tmp_path):
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    # one image however its path is spelled
    spellings = ["a.jpg", "./a.jpg", ".//a.jpg", str(tmp_path / "a.jpg")]
    rows = "".join(f"{p},neutral\n" for p in spellings) + "b.jpg,sadness\n"
    (tmp_path / "labels.csv").write_text("path,label\n" + rows)
    result = runner.invoke(app, ["evaluate", str(tmp_path), "--detect", "-q", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert "3 row(s) repeat an image already listed" in result.stderr
    assert json.loads(result.stdout)["n"] == 5


def test_evaluate_writes_per_image_predictions_and_reads_a_named_csv(tmp_path):
    (tmp_path / "hopper.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    (tmp_path / "grey.png").write_bytes(encode(Image.new("RGB", (200, 150), (90, 90, 90))))
    (tmp_path / "broken.png").write_bytes(b"nope")
    rows = "hopper.jpg,neutral,p1\nhopper.jpg,sadness,p1\ngrey.png,anger,p2\nbroken.png,fear,p3\n"
    labels = tmp_path / "other_labels.csv"  # not labels.csv: named directly
    labels.write_text("path,label,subject\n" + rows)
    out = tmp_path / "pred.csv"
    args = ["evaluate", str(labels), "--detect", "-q", "--bootstrap", "0"]
    for given in (labels, tmp_path / "labels.csv"):  # named, or the folder's own
        (tmp_path / "labels.csv").write_text("path,label\nhopper.jpg,neutral\ngrey.png,anger\n")
        folder_args = [*args[:1], str(tmp_path), *args[2:]] if given.name == "labels.csv" else args
        result = runner.invoke(app, [*folder_args, "--predictions", str(given)])
        assert result.exit_code == 2 and "is an input of this run" in result.stderr, given
    result = runner.invoke(app, ["evaluate", str(tmp_path), str(tmp_path / "labels.csv"), "-q"])
    assert result.exit_code == 2 and "a set is given twice" in result.stderr
    (tmp_path / "hard.csv").hardlink_to(labels)  # the same file under another name
    for victim, message in (
        (tmp_path / "hard.csv", "is an input of this run"),
        (tmp_path / "grey.png", "give a .csv file"),
    ):
        before = victim.read_bytes()
        result = runner.invoke(app, [*args, "--predictions", str(victim)])
        assert result.exit_code == 2 and message in result.stderr, victim
        assert victim.read_bytes() == before
    image_as_csv = tmp_path / "shot.csv"  # an image of the set, named .csv
    image_as_csv.write_bytes((tmp_path / "hopper.jpg").read_bytes())
    with_image = tmp_path / "with_image.csv"
    with_image.write_text("path,label\nshot.csv,neutral\ngrey.png,anger\n")
    result = runner.invoke(app, ["evaluate", str(with_image), "--predictions", str(image_as_csv)])
    assert result.exit_code == 2 and "is an input of this run" in result.stderr
    result = runner.invoke(app, [*args, "--predictions", str(out)])
    assert result.exit_code == 1, result.output  # one image failed to load
    report = json.loads(result.stdout)
    pred = pd.read_csv(out)
    assert list(pred.columns[:6]) == ["path", "label", "predicted", "correct", "status", "error"]
    assert list(pred["status"]) == ["ok", "ok", "no_face", "failed"]
    assert list(pred["subject"]) == ["p1", "p1", "p2", "p3"]
    assert pred.loc[0, "predicted"] == pred.loc[1, "predicted"] == "neutral"
    assert pred["predicted"].iloc[2:].isna().all()
    assert isinstance(pred.loc[3, "error"], str) and pred.loc[3, "error"]
    p_cols = [f"p_{name}" for name in report["labels"]]
    assert report["labels"] == ["anger", "fear", "sadness", "neutral"]  # the set's, in order
    assert pred.loc[0, p_cols].sum() == pytest.approx(1.0, abs=1e-5)
    assert pred["correct"].mean() == pytest.approx(report["accuracy"])  # 1 of 4
    assert pred.loc[0, "face_size_px"] > 100 and np.isnan(pred.loc[2, "face_size_px"])
    assert str(pred.loc[0, "quality_ok"]) in ("True", "False")  # a flag, not 1.0 / 0.0


def test_evaluate_refuses_a_folder_given_twice(tmp_path):
    result = runner.invoke(app, ["evaluate", str(tmp_path), str(tmp_path / "."), "-q"])
    assert result.exit_code == 2 and "a set is given twice" in result.stderr


def test_evaluate_unknown_label_exits_2(tmp_path):
    (tmp_path / "a.png").write_bytes(encode(Image.new("L", (48, 48))))
    (tmp_path / "labels.csv").write_text("path,label,split\na.png,boredom,val\n")
    result = runner.invoke(app, ["evaluate", str(tmp_path), "-q"])
    assert result.exit_code == 2
    assert "boredom" in result.stderr


def test_models_and_version():
    from mien.registry import DEFAULT_MODEL

    assert DEFAULT_MODEL in runner.invoke(app, ["models"]).stdout
    assert runner.invoke(app, ["--version"]).stdout.startswith("mien ")


def test_out_must_not_overwrite_an_input(tmp_path):
    victim = tmp_path / "victim.jpg"
    victim.write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    before = victim.read_bytes()
    for out in (victim, tmp_path, tmp_path / "rows.png"):
        result = runner.invoke(app, ["analyze", str(victim), "--out", str(out), "-q"])
        assert result.exit_code == 2, out
        assert "--out" in result.stderr
    assert victim.read_bytes() == before


def test_outputs_under_another_name_of_an_input_or_of_each_other_are_refused(tmp_path):
    """A hard link to the input passed as --out truncated the photo (the rows file was opened
    before the photo was read); --out and --annotate naming one path crashed with
    IsADirectoryError after making a folder there."""
    photo = tmp_path / "photo.jpg"
    photo.write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    before = photo.read_bytes()
    link = tmp_path / "rows.csv"
    os.link(photo, link)
    result = runner.invoke(app, ["analyze", str(photo), "--out", str(link), "-q"])
    assert result.exit_code == 2 and "is one of the inputs" in result.stderr
    assert photo.read_bytes() == before
    both = tmp_path / "r.csv"
    result = runner.invoke(
        app, ["analyze", str(photo), "--out", str(both), "--annotate", str(both), "-q"]
    )
    assert result.exit_code == 2 and "name one path" in result.stderr
    assert not both.exists()
    # a hard link to an input where an annotated copy goes is not written over, for an image
    # or a video (a video was: the input replaced, exit 0)
    from tests.helpers import write_clip

    clip = write_clip(tmp_path / "clip.mp4", [(np.full((64, 64, 3), 90, np.uint8), 0.0)])
    clip_before = clip.read_bytes()
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    (drawn / ".mien-annotated").write_text("")  # a folder of mien's: its names are reused
    os.link(photo, drawn / "photo.jpg")
    os.link(clip, drawn / "clip.mp4")
    result = runner.invoke(
        app,
        [
            "analyze",
            str(photo),
            str(clip),
            "--annotate",
            str(drawn),
            "-q",
            "-o",
            str(tmp_path / "x.csv"),
        ],
    )
    assert result.exit_code == 1 and result.stderr.count("it would overwrite an input") == 2
    assert photo.read_bytes() == before and clip.read_bytes() == clip_before
    assert sorted(p.name for p in drawn.iterdir()) == [".mien-annotated", "clip.mp4", "photo.jpg"]


def test_annotated_copies_of_long_names_are_written(tmp_path):
    """The temporary file was named after the target: a 250-character name went past the
    255-byte limit and the copy failed."""
    folder = tmp_path / "in"
    folder.mkdir()
    name = "a" * 246 + ".jpg"
    (folder / name).write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    out = tmp_path / "drawn"
    result = runner.invoke(
        app, ["analyze", str(folder), "--annotate", str(out), "-q", "-o", str(tmp_path / "x.csv")]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [".mien-annotated", name]


def test_annotate_never_overwrites_inputs_and_keeps_names_apart(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.jpg").write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    before = (tmp_path / "a" / "x.jpg").read_bytes()
    result = runner.invoke(
        app, ["analyze", str(tmp_path / "a"), "--annotate", str(tmp_path / "a"), "-q"]
    )
    assert result.exit_code == 2 and "overwrite" in result.stderr
    assert (tmp_path / "a" / "x.jpg").read_bytes() == before
    out = tmp_path / "drawn"
    args = ["analyze", str(tmp_path / "a" / "x.jpg"), str(tmp_path / "b" / "x.jpg")]
    result = runner.invoke(
        app, [*args, "--annotate", str(out), "-q", "-o", str(tmp_path / "r.csv")]
    )
    assert result.exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [".mien-annotated", "x.jpg", "x_1.jpg"]
    assert f"annotated {tmp_path / 'b' / 'x.jpg'} → {out / 'x_1.jpg'}" in result.stderr
    # a format OpenCV cannot write keeps its full name: y.pgm and y.png do not collide
    both = tmp_path / "both"
    both.mkdir()
    Image.open(SAMPLES / "astronaut.jpg").save(both / "y.png")
    Image.open(SAMPLES / "astronaut.jpg").convert("L").save(both / "y.pgm")
    drawn = tmp_path / "drawn2"
    result = runner.invoke(app, ["analyze", str(both), "--annotate", str(drawn), "-q", "-f", "csv"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in drawn.iterdir()) == [".mien-annotated", "y.pgm.png", "y.png"]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_non_utf8_file_name_is_written_escaped(tmp_path, suffix):
    import os

    import pandas as pd

    folder = tmp_path / "odd"
    folder.mkdir()
    name = os.fsdecode(b"bad\xffname.jpg")
    (folder / name).write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    (folder / "z.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    out = tmp_path / f"rows.{suffix}"
    result = runner.invoke(app, ["analyze", str(folder), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
    assert rows["status"].tolist() == ["ok", "ok"]
    assert "\\udcff" in rows["source"][0]


def test_file_names_that_look_like_markup_print_as_they_are(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short relative names: the summary table does not elide them
    folder = tmp_path / "t"
    (folder / "a[").mkdir(parents=True)
    (folder / "a[" / "]b.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    (folder / "bad[bold].jpg").write_bytes(b"junk")
    out = tmp_path / "o.csv"
    result = runner.invoke(app, ["analyze", "t", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "a[/]b.jpg" in result.stderr and "bad[bold].jpg" in result.stderr
    assert len(list(csv.DictReader(io.StringIO(out.read_text())))) == 2


def test_broken_link_in_a_folder_is_a_failure_row(tmp_path):
    folder = tmp_path / "links"
    folder.mkdir()
    (folder / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")
    result = runner.invoke(app, ["analyze", str(folder), "-f", "csv", "-q"])
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["status"], r["error"]) for r in rows] == [
        ("error", "a link to nothing (its target is missing, or a link loop)")
    ]


def _awkward_folder(tmp_path):
    """A photo beside a link loop and a named pipe, both with media suffixes."""
    folder = tmp_path / "awkward"
    folder.mkdir()
    (folder / "hopper.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    (folder / "a.jpg").symlink_to(folder / "b.jpg")
    (folder / "b.jpg").symlink_to(folder / "a.jpg")
    os.mkfifo(folder / "pipe.mp4")  # opening it to read would wait for a writer for ever
    return folder


def test_link_loops_and_pipes_are_failure_rows_not_a_crash_or_a_hang(tmp_path):
    # a link loop raised RuntimeError out of Path.resolve() (no rows at all), and the pipe
    # blocked the content check of `analyze` for ever
    out = tmp_path / "o.csv"
    result = runner.invoke(app, ["analyze", str(_awkward_folder(tmp_path)), "--out", str(out)])
    assert result.exit_code == 1, result.output
    rows = {r["source"].rsplit("/", 1)[1]: r for r in csv.DictReader(io.StringIO(out.read_text()))}
    assert {k: (r["status"], r["error"]) for k, r in rows.items()} == {
        "a.jpg": ("error", "a link to nothing (its target is missing, or a link loop)"),
        "b.jpg": ("error", "a link to nothing (its target is missing, or a link loop)"),
        "hopper.jpg": ("ok", ""),
        "pipe.mp4": ("error", "not a file"),
    }


def test_batch_records_link_loops_and_pipes_and_keeps_the_photo(tmp_path):
    import sqlite3

    out = tmp_path / "res"
    result = runner.invoke(app, ["batch", str(_awkward_folder(tmp_path)), "--out", str(out)])
    assert result.exit_code == 1, result.output
    with sqlite3.connect(out / "manifest.sqlite") as db:
        found = db.execute("SELECT path, state, error FROM inputs").fetchall()
    states = {Path(p).name: (s, e) for p, s, e in found}
    assert states["hopper.jpg"] == ("done", None)
    assert states["pipe.mp4"][0] == "failed" and "not a file" in states["pipe.mp4"][1]
    assert states["a.jpg"][0] == "failed" and "link loop" in states["a.jpg"][1]


def test_a_folder_that_cannot_be_listed_is_an_error_row_not_silently_left_out(
    tmp_path, monkeypatch
):
    from tests.helpers import study_with_a_locked_folder

    folder = study_with_a_locked_folder(tmp_path, monkeypatch)
    result = runner.invoke(app, ["analyze", str(folder), "-f", "csv", "-q"])
    assert result.exit_code == 1, result.output  # files are missing: a failure, not exit 0
    assert f"could not read folder {folder / 'locked'} (Permission denied)" in result.stderr
    rows = {r["source"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows[str(folder / "hopper.jpg")]["status"] == "ok"
    locked = rows[str(folder / "locked")]
    assert locked["status"] == "error"
    assert locked["error"] == "folder could not be read (Permission denied): its files are left out"


def test_evaluate_reports_load_failures_and_reads_excel_bom(tmp_path):
    (tmp_path / "hopper.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    (tmp_path / "broken.png").write_bytes(b"nope")
    (tmp_path / "labels.csv").write_bytes(
        "\ufeffpath,label,split\nhopper.jpg,neutral,val\nbroken.png,happiness,val\n".encode()
    )
    result = runner.invoke(app, ["evaluate", str(tmp_path), "-q"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["n"] == 2 and report["failed"][0]["path"] == "broken.png"
    assert "failed to load" in result.stderr and "broken.png" in result.stderr


def test_batch_list_file_recurses_folders_and_warns_about_foreign_parts(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("astronaut.jpg", "grace_hopper.jpg"):
        (photos / name).write_bytes((SAMPLES / name).read_bytes())
    (tmp_path / "link").symlink_to(photos)
    listing = tmp_path / "inputs.txt"  # saved by Notepad: a byte-order mark, CRLF
    listing.write_text(
        f"\ufeff{photos / 'astronaut.jpg'}\r\n# one folder\r\nphotos\r\nlink/../photos\r\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    link = str(tmp_path / "link" / "astronaut.jpg")  # the same file again, through a link
    result = runner.invoke(app, ["batch", str(listing), link, "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "2 done, 0 failed" in result.stderr
    result = runner.invoke(app, ["batch", str(photos / "astronaut.jpg"), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "1 file(s) in" in result.stderr and "grace_hopper-" in result.stderr
    assert len(list((out / "parts").glob("*.parquet"))) == 2  # kept, never deleted


def test_a_list_names_a_file_starting_with_hash_through_its_folder(tmp_path):
    from mien.cli.batch import _expand

    for name in ("#1.jpg", "a.jpg"):
        (tmp_path / name).write_bytes(b"x")
    listing = tmp_path / "inputs.txt"
    listing.write_text("#1.jpg\n./#1.jpg\n  a.jpg  \n\n")
    assert _expand([listing]) == [tmp_path / "#1.jpg", tmp_path / "a.jpg"]


def test_a_list_may_name_lists_the_home_folder_and_paths_through_dotdot(tmp_path, monkeypatch):
    """A list named in a list was analysed as an image ("not a recognised image format"),
    ~/x.jpg became lists/~/x.jpg, and lists/../photos/a.jpg stayed the row's source, so it
    did not join a folder run's photos/a.jpg."""
    from mien.cli.batch import _expand

    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "photos").mkdir()
    (tmp_path / "lists").mkdir()
    for name in ("x.jpg", "photos/a.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "lists" / "~old.jpg").write_bytes(b"x")  # a file, not a home folder
    (tmp_path / "lists" / "inner.txt").write_text("~/x.jpg\n../photos/a.jpg\nouter.txt\n~old.jpg\n")
    (tmp_path / "lists" / "outer.txt").write_text("inner.txt\nouter.txt\n")  # a loop too
    monkeypatch.chdir(tmp_path)  # relative names stay relative, as a folder run's do
    expanded = _expand([Path("lists/outer.txt")])
    assert expanded == [tmp_path / "x.jpg", Path("photos/a.jpg"), Path("lists/~old.jpg")]


def test_min_upright_zero_turns_the_upright_check_off_from_the_command_line(tmp_path):
    """Only Python could turn the check off (QualityThresholds(min_upright=0)), though in
    video it calls many upright faces under about 60 px turned."""
    import cv2

    turned = tmp_path / "turned.jpg"
    cv2.imwrite(
        str(turned), cv2.rotate(cv2.imread(str(SAMPLES / "grace_hopper.jpg")), cv2.ROTATE_180)
    )
    got = {}
    for value in ("0.5", "0"):
        result = runner.invoke(
            app, ["analyze", str(turned), "--min-upright", value, "-q", "-f", "csv"]
        )
        assert result.exit_code == 0, result.output
        row = next(csv.DictReader(io.StringIO(result.stdout)))
        got[value] = (float(row["upright"]), row["quality_ok"])
    assert got["0.5"][0] < 0.5 and got["0.5"][1] == "False"
    assert got["0"] == (got["0.5"][0], "True")  # measured and shown, but no longer failing
    result = runner.invoke(app, ["analyze", str(turned), "--min-upright", "1.5"])
    assert result.exit_code == 2


def test_weights_option_runs_an_exported_model_and_refuses_a_wrong_file(tmp_path):
    import shutil

    from mien.weights import DEFAULT_MODEL, bundled_dir

    for suffix in (".onnx", ".json"):  # an "export": the bundled files under another folder
        shutil.copy(bundled_dir() / f"{DEFAULT_MODEL}{suffix}", tmp_path / f"mine{suffix}")
    image = str(SAMPLES / "grace_hopper.jpg")
    plain = runner.invoke(app, ["analyze", image, "--format", "jsonl", "-q"])
    mine = runner.invoke(
        app, ["analyze", image, "--format", "jsonl", "-q", "--weights", str(tmp_path / "mine.onnx")]
    )
    assert plain.exit_code == mine.exit_code == 0, mine.output
    a, b = json.loads(plain.stdout.splitlines()[0]), json.loads(mine.stdout.splitlines()[0])
    assert (a["label"], a["sharpness"]) == (b["label"], b["sharpness"])
    for wrong, message in (
        (tmp_path / "mine.json", "give the .onnx file"),
        (tmp_path / "none.onnx", "none.onnx: no such file"),
    ):
        result = runner.invoke(app, ["analyze", image, "--weights", str(wrong)])
        assert result.exit_code == 2 and message in result.output
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(SAMPLES / "grace_hopper.jpg", data / "g.jpg")
    (data / "labels.csv").write_text("path,label,split\ng.jpg,neutral,test\n")
    mine_onnx = str(tmp_path / "mine.onnx")
    result = runner.invoke(
        app,
        ["evaluate", str(data), "--weights", os.path.relpath(mine_onnx), "-q", "--all-labels"],
    )
    assert result.exit_code == 0, result.output
    used = json.loads(result.stdout)["model"]
    # given as a relative path, recorded absolute (as the bundled model's is)
    assert used["file"] == mine_onnx and used["name"] == DEFAULT_MODEL and used["sha256"]
    result = runner.invoke(app, ["evaluate", str(data), "--model", "x", "--weights", mine_onnx])
    assert result.exit_code == 2 and "not both" in result.output
    (tmp_path / "mine.json").unlink()  # an .onnx without its spec
    result = runner.invoke(app, ["analyze", image, "--weights", str(tmp_path / "mine.onnx")])
    assert result.exit_code == 2 and "mine.json: no such file" in result.output


def test_batch_with_your_own_weights_names_them_and_will_not_resume_with_others(tmp_path):
    import pandas as pd

    mine = make_export(tmp_path, "mine")
    out = tmp_path / "out"
    photo = str(SAMPLES / "grace_hopper.jpg")
    result = runner.invoke(app, ["batch", photo, "--out", str(out), "--weights", str(mine), "-q"])
    assert result.exit_code == 0, result.output
    (part,) = (out / "parts").glob("*.parquet")
    rows = pd.read_parquet(part)
    assert rows["model"].tolist() == ["mine"] and rows["status"].tolist() == ["ok"]
    # the manifest knows the export by name and sha256: the bundled model may not resume it
    result = runner.invoke(app, ["batch", photo, "--out", str(out), "-q"])
    assert result.exit_code == 2 and "another configuration" in result.output
    other = make_export(tmp_path, "other")  # another export is refused too
    result = runner.invoke(app, ["batch", photo, "--out", str(out), "--weights", str(other), "-q"])
    assert result.exit_code == 2 and "differs in ['model']" in result.output
    # the same export from another path resumes: nothing left to do
    moved = tmp_path / "moved"
    moved.mkdir()
    for f in (mine, mine.with_suffix(".json")):
        f.rename(moved / f.name)
    result = runner.invoke(
        app, ["batch", photo, "--out", str(out), "--weights", str(moved / "mine.onnx"), "-q"]
    )
    assert result.exit_code == 0 and "0 frames this run" in result.output, result.output
    for command in (["batch", photo, "--out", str(out)], ["serve"]):  # exit 2 before any work
        result = runner.invoke(app, [*command, "--weights", str(mine)])
        assert result.exit_code == 2 and "mine.onnx: no such file" in result.output
    result = runner.invoke(app, ["serve", "--model", "x", "--weights", str(moved / "mine.onnx")])
    assert result.exit_code == 2 and "not both" in result.output
    result = runner.invoke(app, ["serve", "--model", "nope"])
    assert result.exit_code == 2 and "model must be one of" in result.output
    spec = json.loads((moved / "mine.json").read_text())  # an export with an unknown alignment
    (moved / "mine.json").write_text(json.dumps({**spec, "alignment": "other"}))
    fresh = tmp_path / "fresh"
    for command in (["batch", photo, "--out", str(fresh)], ["serve"]):
        result = runner.invoke(app, [*command, "--weights", str(moved / "mine.onnx")])
        assert result.exit_code == 2 and "mine.onnx: spec alignment must be" in result.output
    assert not fresh.exists()  # refused before the output folder was made


def test_batch_lists_a_failed_input_however_its_path_is_spelled(tmp_path, monkeypatch):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["batch", "broken.jpg", "--out", "out", "-q"])
    assert result.exit_code == 1
    result = runner.invoke(app, ["batch", str(tmp_path / "broken.jpg"), "--out", "out", "-q"])
    assert result.exit_code == 1
    listed = result.stderr.split("failed inputs:")[1].split("\n")[1]
    assert listed.startswith(f"  {tmp_path / 'broken.jpg'}: ")  # one input, as given this time


def test_batch_quiet_reaches_the_engine(tmp_path, monkeypatch):
    import mien.batch

    seen = {}

    def fake(inputs, out, options, **kw):
        seen.update(kw)
        return {"done": 0}

    monkeypatch.setattr(mien.batch, "run_batch", fake)
    args = ["batch", str(SAMPLES), "--out", str(tmp_path / "o"), "--engine", "ray"]
    assert runner.invoke(app, [*args, "-q"]).exit_code == 0 and seen["quiet"] is True
    assert runner.invoke(app, args).exit_code == 0 and seen["quiet"] is False


def test_summary_says_why_a_face_abstained():
    from mien.cli.analyze import _labels

    ok = {"status": "ok", "label": "happiness", "label_probability": 0.98}
    rows = [
        {**ok, "abstained": True, "quality_ok": np.False_},
        {**ok, "label_probability": 0.41, "abstained": True, "quality_ok": True},
        {**ok, "abstained": False, "quality_ok": True},
        {"status": "no_face"},
        {**ok, "label_probability": 0.41, "abstained": True, "quality_ok": False},  # both
    ]
    assert _labels(rows, 0.5) == (
        "happiness 0.98 (abstained: quality flags), happiness 0.41 (abstained: low confidence), "
        "happiness 0.98, happiness 0.41 (abstained: low confidence, quality flags)"
    )
    assert _labels([{"status": "no_face"}], 0.5) == "no face"


def test_serve_passes_its_limits_to_the_service(monkeypatch):
    import uvicorn

    import mien.service

    seen = {}
    monkeypatch.setattr(mien.service, "create_app", lambda settings: seen.setdefault("s", settings))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.setdefault("run", kw))
    monkeypatch.setattr("mien.cli.serve._cannot_listen", lambda host, port: None)  # port 8000
    result = runner.invoke(app, ["serve", "--max-pixels", "1234", "--max-upload-mb", "2"])
    assert result.exit_code == 0, result.output
    settings = seen["s"]
    assert settings.max_pixels == 1234 and settings.max_upload_bytes == 2 * 1024 * 1024
    assert seen["run"]["host"] == "127.0.0.1" and settings.max_streams == 8
    # uvicorn closed stream frames over 16 MiB (1009) though --max-upload-mb allowed them
    assert seen["run"]["ws_max_size"] == 16 * 1024 * 1024
    assert seen["run"]["access_log"] is False  # client addresses are not logged unless asked
    assert seen["run"]["http"].deadline_s == 30.0  # headers, too, within --timeout
    # nor through the error log, where uvicorn writes each WebSocket with its query string
    import logging

    from mien.cli.serve import NoRequestLines

    quiet = [f for f in logging.getLogger("uvicorn.error").filters if isinstance(f, NoRequestLines)]
    assert quiet

    def shown(msg: str, *args: object) -> bool:
        record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, msg, args, None)
        return quiet[0].filter(record)

    assert not shown('%s - "WebSocket %s" [accepted]', "127.0.0.1:1", "/v1/stream?token=x")
    assert not shown("connection open") and not shown("connection closed")
    assert shown("Uvicorn running on %s://%s:%d (Press CTRL+C to quit)", "http", "h", 1)
    for f in quiet:
        logging.getLogger("uvicorn.error").removeFilter(f)
    seen.clear()
    assert runner.invoke(app, ["serve", "--access-log"]).exit_code == 0
    assert seen["run"]["access_log"] is True

    assert not any(  # asked for: the lines stay
        isinstance(f, NoRequestLines) for f in logging.getLogger("uvicorn.error").filters
    )

    def taken(app, **kw):  # the port was free at the probe, taken while the models loaded
        raise SystemExit(3)

    monkeypatch.setattr(uvicorn, "run", taken)
    result = runner.invoke(app, ["serve", "--port", "8765"])
    assert result.exit_code == 2  # a usage error, as when the port is taken at once (it was 3)
    assert "--port 8765: the service could not start" in " ".join(result.stderr.split())
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.setdefault("run", kw))
    seen.clear()
    result = runner.invoke(app, ["serve", "--max-upload-mb", "20", "--max-streams", "3"])
    assert seen["run"]["ws_max_size"] == 21 * 1024 * 1024 and seen["s"].max_streams == 3
    assert seen["s"].detector == "auto"  # serve had no --detector: API clients had no tiled
    seen.clear()
    assert runner.invoke(app, ["serve", "--detector", "tiled"]).exit_code == 0
    assert seen["s"].detector == "tiled"
    seen.clear()
    result = runner.invoke(app, ["serve", "--detector", "crowd"])
    assert result.exit_code == 2 and not seen  # before the models load
    assert "--detector must be one of ['short', 'full', 'auto', 'multi', 'tiled']" in result.stderr
    # any loopback address keeps the host check ("127.0.0.2" turned it off and said "other
    # machines can reach this service")
    for host in ("127.0.0.2", "::1", "127.1", "localhost"):  # 127.1 is 127.0.0.1
        seen.clear()
        result = runner.invoke(app, ["serve", "--host", host])
        assert "other machines" not in result.stderr, host
        assert host in seen["s"].allowed_hosts and "localhost" in seen["s"].allowed_hosts
    assert "[::1]" in seen["s"].allowed_hosts
    # an IPv4-mapped address cannot be bound (uvicorn failed with errno 22): said at once
    result = runner.invoke(app, ["serve", "--host", "::ffff:127.0.0.1"])
    assert result.exit_code == 2 and "use 127.0.0.1" in result.stderr
    seen.clear()
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"])
    assert "other machines can reach" in result.stderr and seen["s"].allowed_hosts is None


def test_serve_says_at_once_that_its_port_is_taken(monkeypatch):
    """The models loaded for seconds, then uvicorn logged "address already in use" and
    exited 3."""
    import socket

    import mien.service

    loaded = []
    monkeypatch.setattr(mien.service, "create_app", lambda settings: loaded.append(settings))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port)])
    assert result.exit_code == 2 and not loaded
    assert f"--port {port}: cannot listen there (address already in use)" in " ".join(
        result.stderr.split()
    )


def _short_clip(tmp_path):
    """Ten grey frames 0.1 s apart: the last starts at 0.9 s."""
    from tests.helpers import write_clip

    frames = [(np.full((64, 64, 3), 90, np.uint8), i / 10) for i in range(10)]
    return write_clip(tmp_path / "short.mp4", frames)


def test_fps_and_every_together_are_warned_of(tmp_path):
    clip = _short_clip(tmp_path)
    args = ["analyze", str(clip), "-q", "-o", str(tmp_path / "r.csv"), "--fps", "5"]
    result = runner.invoke(app, [*args, "--every", "3"])
    assert result.exit_code == 0, result.output
    assert "--fps 5 with --every 3: each 1/fps slot keeps its first frame among" in " ".join(
        result.stderr.split()
    )
    assert "--every" not in runner.invoke(app, args).stderr


def test_a_start_past_the_end_of_a_video_says_so(tmp_path):
    clip = _short_clip(tmp_path)
    result = runner.invoke(
        app, ["analyze", str(clip), "--start", "10", "-q", "-o", str(tmp_path / "r.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "short.mp4: no frames from --start 10 s to the end (the video lasts 0.9 s)" in (
        result.stderr
    )
    drawn = tmp_path / "drawn.mp4"
    args = ["analyze", str(clip), "--start", "10", "-q", "--annotate", str(drawn)]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "r.jsonl")])
    assert result.exit_code == 0, result.output
    assert f"no annotated video written to {drawn}" in result.stderr.replace("\n", "")
    assert not drawn.exists()
    result = runner.invoke(
        app, ["batch", str(clip), "--start", "10", "-q", "--out", str(tmp_path / "b")]
    )
    assert result.exit_code == 0, result.output
    assert "1 input gave no frame and no row (e.g. " in result.stderr and "short.mp4" in (
        result.stderr
    )
    for part in (tmp_path / "b" / "parts").glob("*.parquet"):
        part.unlink()  # lost; a run over other inputs leaves it alone (and does not crash)
    photo = tmp_path / "g.jpg"
    photo.write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    result = runner.invoke(
        app, ["batch", str(photo), "--start", "10", "-q", "--out", str(tmp_path / "b")]
    )
    assert result.exit_code == 0 and "1 done, 0 failed" in result.stderr, result.output
    assert "Parquet file" not in result.stderr


def test_a_video_that_breaks_off_is_one_line_of_the_summary(tmp_path):
    from tests.helpers import write_clip

    frames = [(np.full((64, 64, 3), 90, np.uint8), i / 10) for i in range(80)]
    data = write_clip(tmp_path / "long.mkv", frames).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])  # Matroska: playable up to the cut
    result = runner.invoke(app, ["analyze", str(cut), "-o", str(tmp_path / "r.csv")])
    assert result.exit_code == 1
    assert "1 file(s), 0 face(s), 1 failed" in result.stderr  # not 2 files
    assert "track" in result.stderr  # the error line says what was read before the break


def test_batch_refuses_bad_options_before_making_its_folder(tmp_path):
    for args, match in (
        (["--start", "5", "--end", "2"], "--end (2.0) must be after --start (5.0)"),
        (["--engine", "foo"], "--engine must be local or ray, got 'foo'"),
        (["--end", "nan"], "--end must be a number of seconds; got nan"),
        (["--fps", "inf"], "--fps must be a number of frames per second; got inf"),
        (
            ["--detector", "nope"],
            "--detector must be one of short, full, auto, multi, tiled; got 'nope'",
        ),
    ):
        out = tmp_path / "never"
        result = runner.invoke(app, ["batch", str(SAMPLES), "--out", str(out), *args])
        assert result.exit_code == 2 and match in result.stderr
        assert not out.exists()


def test_sigterm_during_analyze_leaves_a_whole_parquet_file(tmp_path):
    """A scheduler's SIGTERM stops `analyze` like Ctrl-C: the Parquet footer is written."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import pandas as pd

    from tests.helpers import compose, face_patch, write_clip

    face = face_patch("grace_hopper.jpg", 100)
    frames = [(compose((320, 240), [(face, 20 + i % 100, 40)]), i / 25) for i in range(600)]
    clip = write_clip(tmp_path / "long.mp4", frames)
    out = tmp_path / "rows.parquet"
    code = "import sys; from mien.cli.main import app; app(sys.argv[1:])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "analyze", str(clip), "-o", str(out), "-q", "--no-pose"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not out.exists():
        time.sleep(0.05)  # the sink opened the file: the run is inside its SIGTERM handler
    os.kill(proc.pid, signal.SIGTERM)  # at once: 600 frames take seconds more
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    # it says so (it printed a blank line: a partial file looked like a whole run)
    said = " ".join(stderr.split())
    assert "interrupted after 0 of 1 file (a video in progress ends with an error row" in said
    assert f"the rows so far are in {out}, each row whole, but not a complete run" in said
    rows = pd.read_parquet(out)  # a footer: readable
    frames = rows[rows["status"] != "error"]
    assert len(frames) < 600 and frames["frame_index"].is_monotonic_increasing
    if len(frames):  # stopped inside the video: its rows end with a row that says so
        last = rows.iloc[-1]
        assert last["status"] == "error" and last["error"].startswith("interrupted")
        assert last["timestamp_s"] == frames["timestamp_s"].iloc[-1]


def test_min_confidence_below_mediapipes_floor_is_named():
    args = ["analyze", str(SAMPLES / "grace_hopper.jpg"), "-f", "csv", "--min-confidence", "0.3"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert "--min-confidence 0.3 acts as 0.5" in result.stderr


def test_annotated_copies_inside_the_input_folder_are_not_read_back(tmp_path):
    """`analyze photos/ --annotate photos/drawn` then `analyze photos/` read the copies as new
    photos (twice the rows), and the same --annotate command again was refused."""
    import shutil

    from mien.io import ANNOTATED_MARKER

    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("grace_hopper.jpg", "astronaut.jpg"):
        shutil.copy(SAMPLES / name, photos / name)
    drawn = photos / "drawn"
    for _ in range(2):  # the same command twice
        first = runner.invoke(
            app, ["analyze", str(photos), "--annotate", str(drawn), "-f", "csv", "--no-pose"]
        )
        assert first.exit_code == 0, first.output
    assert (drawn / ANNOTATED_MARKER).is_file()
    assert sorted(p.name for p in drawn.glob("*.jpg")) == ["astronaut.jpg", "grace_hopper.jpg"]
    again = runner.invoke(app, ["analyze", str(photos), "-f", "csv", "--no-pose"])
    assert again.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(again.stdout)))
    assert sorted(r["source"].rsplit("/", 1)[-1] for r in rows) == [
        "astronaut.jpg",
        "grace_hopper.jpg",
    ]
    assert len(rows) == 2
    assert f"skipped {drawn}: annotated copies of an earlier run" in " ".join(again.stderr.split())
    named = runner.invoke(app, ["analyze", str(drawn), "-f", "csv", "--no-pose"])
    assert len(list(csv.DictReader(io.StringIO(named.stdout)))) == 2  # named: read
    # a folder that already held other files gets no marker (its own photos would be hidden)
    mine = tmp_path / "archive"
    mine.mkdir()
    shutil.copy(SAMPLES / "astronaut.jpg", mine / "mine.jpg")
    runner.invoke(app, ["analyze", str(photos / "astronaut.jpg"), "--annotate", str(mine), "-q"])
    assert (mine / "astronaut.jpg").is_file() and not (mine / ANNOTATED_MARKER).exists()


def test_a_still_format_mien_does_not_read_is_an_error_not_a_video(tmp_path):
    """A real DDS file, refused by the image reader, fell through to FFmpeg's dds_pipe demuxer
    and was analysed as a one-frame video; a cut AVIF got a video decoder's error."""
    dds = tmp_path / "texture.dds"
    Image.open(SAMPLES / "grace_hopper.jpg").convert("RGB").save(dds, "DDS")
    avif = tmp_path / "cut.avif"
    Image.open(SAMPLES / "grace_hopper.jpg").save(avif, "AVIF")
    avif.write_bytes(avif.read_bytes()[: avif.stat().st_size // 2])
    result = runner.invoke(app, ["analyze", str(dds), str(avif), "-f", "csv", "--no-pose"])
    assert result.exit_code == 1
    rows = {r["source"].rsplit("/", 1)[-1]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["texture.dds"]["status"] == "error"
    assert "not a recognised image format" in rows["texture.dds"]["error"]
    assert rows["cut.avif"]["status"] == "error"
    assert "decoding stopped" not in rows["cut.avif"]["error"]  # an image's reason


def test_a_video_cut_before_its_first_frame_is_an_error(tmp_path):
    from tests.helpers import write_clip

    rng = np.random.default_rng(0)
    frames = [(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8), i / 10) for i in range(30)]
    clip = write_clip(tmp_path / "c.mkv", frames)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(clip.read_bytes()[:3000])
    result = runner.invoke(app, ["analyze", str(cut), "-f", "csv", "--no-pose"])
    assert result.exit_code == 1  # it gave no row and exit 0
    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert row["status"] == "error" and "no frame could be decoded" in row["error"]


def test_analyze_names_an_empty_folder(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["analyze", str(empty)])
    assert result.exit_code == 1 and f"no image or video files found in {empty}" in result.output
    photo = tmp_path / "hopper.jpg"
    photo.write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    result = runner.invoke(app, ["analyze", str(photo), str(empty), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 0
    assert f"{empty}: no image or video files in this folder" in " ".join(result.output.split())


def test_format_is_case_blind():
    result = runner.invoke(app, ["analyze", str(SAMPLES / "grace_hopper.jpg"), "-f", "CSV", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("schema_version,")


def test_evaluate_maps_labels_and_records_it(tmp_path):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        (tmp_path / name).write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    (tmp_path / "labels.csv").write_text("path,label\na.jpg,7\nb.jpg,sad\nc.jpg,10\n")
    bare = runner.invoke(app, ["evaluate", str(tmp_path), "--detect", "-q"])
    assert bare.exit_code == 2 and "--label-map" in bare.stderr
    args = ["evaluate", str(tmp_path), "--detect", "-q", "--bootstrap", "0"]
    pred = tmp_path / "pred.csv"
    maps = ["--label-map", "affectnet", "--label-map", "7=neutral"]  # the later one wins on 7
    result = runner.invoke(app, [*args, *maps, "--predictions", str(pred)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n"] == 2 and report["labels"] == ["sadness", "neutral"]
    assert report["accuracy"] == 0.5  # neutral is the sample's top label
    assert report["relabelled"] == {
        "renamed": {"7": {"to": "neutral", "n": 1}, "sad": {"to": "sadness", "n": 1}},
        "dropped": {"10": 1},
        "unused": ["0", "1", "2", "3", "4", "5", "6", "8", "9"],
    }
    stderr = " ".join(result.stderr.split())
    assert "labels mapped: 7 → neutral (1); sad → sadness (1); dropped 10 (1)" in stderr
    assert "a later map changes 7: contempt → neutral (from '7=neutral')" in stderr
    assert "the label map's 0, 1, 2, 3, 4, 5, 6, 8, 9 match no row" in stderr
    rows = pred.read_text().splitlines()
    assert rows[0].split(",")[-1] == "original_label" and rows[1].endswith(",7")
    bad = runner.invoke(app, [*args, "--label-map", "7=calm"])
    assert bad.exit_code == 2 and "not one of mien's labels" in bad.stderr
    bad = runner.invoke(app, [*args, "--label-map", "7=neutral"])  # 10 is left unmapped
    assert bad.exit_code == 2
    assert "label(s) ['10'] are neither among the model's labels" in " ".join(bad.stderr.split())
    bad = runner.invoke(app, [*args, "--label-map", "jaffe"])  # JAFFE's codes: none here
    assert bad.exit_code == 2
    assert "--label-map matches no label of the set(s): they hold ['10', '7', 'sad']" in (
        " ".join(bad.stderr.split())
    )


def test_evaluate_checks_every_set_before_scoring_any(tmp_path, monkeypatch):
    import mien.evaluation.runner as runner_module

    def must_not_run(*args, **kwargs):
        raise AssertionError("scored before every set was checked")

    monkeypatch.setattr(runner_module, "evaluate", must_not_run)
    for name, label in (("good", "neutral"), ("bad", "calm")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a.png").write_bytes(encode(Image.new("L", (48, 48))))
        (tmp_path / name / "labels.csv").write_text(f"path,label\na.png,{label}\na.png,sad\n")
    sets = [str(tmp_path / "good"), str(tmp_path / "bad")]
    result = runner.invoke(app, ["evaluate", *sets, "-q"])
    assert result.exit_code == 2 and "['calm'] are not among the model's labels" in result.stderr
    result = runner.invoke(app, ["evaluate", sets[0], "-q", "--cluster", "who"])
    assert result.exit_code == 2 and "no column(s) ['who']" in result.stderr
    # a --by column no set has (a typo) only warned, once per set, when there were several
    (tmp_path / "bad" / "labels.csv").write_text("path,label,sex\na.png,neutral,f\na.png,sad,m\n")
    result = runner.invoke(app, ["evaluate", *sets, "-q", "--by", "sexx"])
    assert result.exit_code == 2
    assert "--by sexx: no set has such a column (columns: ['original_label', 'sex'])" in (
        result.stderr
    )


def test_a_face_missed_for_a_moment_stays_blurred_in_the_annotated_video(tmp_path):
    """Blurring went frame by frame: a face the detector missed in one frame showed sharp in
    it. Where a face was stays blurred for 0.5 s (BlurHold); later frames are not blurred."""
    import av

    from tests.helpers import face_patch, write_clip

    yy, xx = np.mgrid[:240, :320]
    board = np.repeat(((((yy // 8) + (xx // 8)) % 2) * 255).astype(np.uint8)[:, :, None], 3, 2)
    with_face = board.copy()
    with_face[40:200, 80:240] = face_patch("grace_hopper.jpg", 160)
    frames = [(with_face, i / 25) for i in range(8)] + [(board, i / 25) for i in range(8, 30)]
    clip = write_clip(tmp_path / "clip.mp4", frames)
    out = tmp_path / "drawn"
    args = ["analyze", str(clip), "-f", "jsonl", "-q", "--annotate", str(out), "--blur-faces"]
    result = runner.invoke(app, [*args, "--detector", "multi"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["frame_index"] for r in rows if r.get("x1") is not None} == set(range(8))
    face = rows[0]
    x1, y1, x2, y2 = (round(face[k]) for k in ("x1", "y1", "x2", "y2"))
    with av.open(str(out / "clip.mp4")) as container:
        drawn = {
            round(f.time * 25): f.to_ndarray(format="bgr24") for f in container.decode(video=0)
        }

    def edges(k: int) -> float:  # mean jump between neighbouring pixels inside the box
        inner = drawn[k][y1 + 10 : y2 - 10, x1 + 10 : x2 - 10].astype(float)
        return float(np.abs(np.diff(inner, axis=1)).mean())

    assert edges(3) < 4  # the face, blurred
    assert edges(9) < 4  # no face found: its place held (0.08 s after)
    assert edges(19) < 4  # 0.48 s after: still held
    assert edges(29) > 15  # 0.88 s after: let go, the board is sharp again


def test_one_file_reached_by_two_paths_is_analysed_once(tmp_path):
    """A file named twice, or inside a folder also given, made two sets of rows (and an
    annotated x_1.jpg beside x.jpg); `mien batch` already did it once."""
    folder = tmp_path / "photos"
    folder.mkdir()
    photo = folder / "x.jpg"
    photo.write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    (tmp_path / "link.jpg").symlink_to(photo)
    args = [
        str(photo),
        str(folder / ".." / "photos" / "x.jpg"),
        str(folder),
        str(tmp_path / "link.jpg"),
    ]
    result = runner.invoke(app, ["analyze", *args, "-f", "jsonl", "-q"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["source"] for r in rows] == [str(photo)]
    assert "3 inputs reached twice (another path to the same file) analysed once" in result.stderr
    assert "no image or video files" not in result.stderr  # the folder held one, analysed
    os.link(photo, tmp_path / "hard.jpg")  # a hard link is the same file too
    result = runner.invoke(
        app, ["analyze", str(photo), str(tmp_path / "hard.jpg"), "-f", "jsonl", "-q"]
    )
    assert len(result.stdout.splitlines()) == 1 and "1 input reached twice" in result.stderr


def test_annotated_videos_are_not_written_through_links_and_images_get_plain_modes(tmp_path):
    """A link in the annotate folder named like the annotated video made mien write the video
    through it, over the rows file (exit 0); annotated images came out mode 0600."""
    from tests.helpers import write_clip

    clip = write_clip(tmp_path / "v.mp4", [(np.full((64, 64, 3), 90, np.uint8), 0.0)])
    photo = tmp_path / "x.jpg"
    photo.write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    rows = tmp_path / "rows.csv"
    drawn = tmp_path / "drawn"
    drawn.mkdir()
    (drawn / ".mien-annotated").write_text("")  # a folder of mien's: its names are reused
    (drawn / "v.mp4").symlink_to(rows)
    args = ["analyze", str(clip), str(photo), "-o", str(rows), "--annotate", str(drawn), "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "it is a link to another file" in result.stderr
    assert rows.read_text().startswith("schema_version")  # the rows, not a video
    umask = os.umask(0)
    os.umask(umask)
    assert (drawn / "x.jpg").stat().st_mode & 0o777 == 0o666 & ~umask
    # --out and --annotate as two names of one file
    os.link(rows, tmp_path / "same.mp4")
    result = runner.invoke(
        app, ["analyze", str(clip), "-o", str(rows), "--annotate", str(tmp_path / "same.mp4")]
    )
    assert result.exit_code == 2 and "name one path" in result.stderr


def test_plot_of_the_root_folder_asks_for_out():
    """`mien plot /` printed a traceback (PosixPath('/') has an empty name)."""
    result = runner.invoke(app, ["plot", "/"])
    assert result.exit_code == 2 and "give --out" in result.stderr


def test_annotating_into_a_folder_of_other_files_replaces_none_of_them(tmp_path):
    # a privacy review: the user's own ann/grace_hopper.jpg was replaced by the annotated copy
    folder = tmp_path / "ann"
    folder.mkdir()
    (folder / "grace_hopper.jpg").write_bytes(b"the user's own file")
    args = ["analyze", str(SAMPLES / "grace_hopper.jpg"), "-f", "csv", "-q"]
    result = runner.invoke(app, [*args, "--annotate", str(folder)])
    assert result.exit_code == 0, result.output
    assert (folder / "grace_hopper.jpg").read_bytes() == b"the user's own file"
    assert Image.open(folder / "grace_hopper_1.jpg").size == (512, 600)
    assert "none of them is replaced" in result.stderr
    # a folder of mien's own (marked) is written over on the next run, as before
    fresh = tmp_path / "fresh"
    for _ in range(2):
        assert runner.invoke(app, [*args, "--annotate", str(fresh)]).exit_code == 0
    assert sorted(p.name for p in fresh.iterdir()) == [".mien-annotated", "grace_hopper.jpg"]


def test_blur_hold_sets_how_long_a_lost_face_stays_blurred(tmp_path):
    # a face seen for 0.5 s, then gone; its place is textured, so a held blur shows there
    import av

    from mien.annotate.hold import HOLD_S
    from mien.cli.common import BLUR_HOLD_S
    from tests.helpers import compose, face_patch, write_clip

    assert BLUR_HOLD_S == HOLD_S
    noise = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
    face = face_patch("grace_hopper.jpg", 120)
    frames = []
    for i in range(15):  # 10 fps: the face in frames 0-4, gone from frame 5
        scene = noise.copy()
        if i < 5:
            scene[60:180, 100:220] = compose((120, 120), [(face, 0, 0)])
        frames.append((scene, i / 10))
    clip = write_clip(tmp_path / "gone.mp4", frames)

    def sharpness_at_1_2_s(*extra):
        out = tmp_path / f"out{len(extra)}.mp4"
        args = ["analyze", str(clip), "-q", "-f", "csv", "--blur-faces", "--annotate", str(out)]
        assert runner.invoke(app, [*args, *extra]).exit_code == 0
        with av.open(str(out)) as video:
            image = [f.to_ndarray(format="bgr24") for f in video.decode(video=0)][12]
        return np.abs(np.diff(image[80:160, 120:200].astype(float), axis=1)).mean()

    sharp_noise = np.abs(np.diff(noise[80:160, 120:200].astype(float), axis=1)).mean()
    assert sharpness_at_1_2_s() > 0.5 * sharp_noise  # 0.8 s after: the default hold has ended
    assert sharpness_at_1_2_s("--blur-hold", "1.0") < 0.25 * sharp_noise  # still held


def test_evaluate_refuses_a_set_none_of_whose_images_is_there(tmp_path):
    # paths relative to the wrong folder gave "accuracy 0.0 [0.0, 0.114]" and exit 1
    (tmp_path / "labels.csv").write_text("path,label\nimgs/a.jpg,neutral\nimgs/b.jpg,anger\n")
    result = runner.invoke(app, ["evaluate", str(tmp_path), "-q"])
    assert result.exit_code == 2
    assert "none of its 2 image path(s) is a file (the first: " in result.stderr
    assert f"paths are read relative to the folder of the labels file, here {tmp_path}" in (
        result.stderr.replace("\n", "")
    )


def test_evaluate_reads_windows_style_paths(tmp_path):
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "hopper.jpg").write_bytes((SAMPLES / "grace_hopper.jpg").read_bytes())
    (tmp_path / "labels.csv").write_text("path,label\nimgs\\hopper.jpg,neutral\n")
    args = ["evaluate", str(tmp_path), "-q", "--bootstrap", "0", "--all-labels"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 1


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--end", "nan"], "--end must be a number of seconds; got nan"),
        (["--fps", "inf"], "--fps must be a number of frames per second; got inf"),
    ],
)
def test_analyze_refuses_endless_times_as_usage_errors(args, match):
    result = runner.invoke(app, ["analyze", str(SAMPLES / "astronaut.jpg"), *args])
    assert result.exit_code == 2 and match in result.stderr


def test_a_huge_fps_keeps_every_frame_without_looping_for_ever(tmp_path):
    from mien.io import iter_frames
    from tests.helpers import write_clip

    frames = [(np.full((32, 32, 3), 90, np.uint8), t) for t in (0.0, 0.1, 3.0, 3.1)]
    clip = write_clip(tmp_path / "gap.mkv", frames)
    kept = [f.timestamp_s for f in iter_frames(clip, fps=1e9)]  # a 3 s gap: 3e9 slots
    assert kept == pytest.approx([0.0, 0.1, 3.0, 3.1], abs=1e-3)
    with pytest.raises(ValueError, match="fps must be a number > 0; got inf"):
        next(iter_frames(clip, fps=float("inf")))


def test_a_full_disk_is_one_line_naming_the_output():
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    result = runner.invoke(
        app, ["analyze", str(SAMPLES / "astronaut.jpg"), "-q", "-o", "/dev/full"]
    )
    assert result.exit_code == 1
    assert "could not write /dev/full: No space left on device" in result.stderr
    assert "Traceback" not in result.stderr


def test_heic_photos_and_other_camera_suffixes_in_folders_are_not_skipped(tmp_path):
    photos = tmp_path / "camera"
    photos.mkdir()
    (photos / "IMG_0001.jpe").write_bytes((SAMPLES / "astronaut.jpg").read_bytes())
    (photos / "IMG_0002.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(200))
    out = tmp_path / "r.csv"
    result = runner.invoke(app, ["analyze", str(photos), "-q", "-o", str(out)])
    assert result.exit_code == 1, result.output
    rows = pd.read_csv(out).set_index("source")
    assert rows.loc[str(photos / "IMG_0001.jpe"), "status"] == "ok"
    assert rows.loc[str(photos / "IMG_0002.HEIC"), "status"] == "error"
    assert "a HEIC/HEIF image" in rows.loc[str(photos / "IMG_0002.HEIC"), "error"]
    from mien.io import VIDEO_SUFFIXES

    assert {".mts", ".m2ts", ".vob"} <= VIDEO_SUFFIXES


def test_evaluate_names_the_rows_without_a_person(tmp_path):
    """A blank --cluster value left a row out of the intervals over persons (n_unassigned in
    the JSON) and made it a person of its own in the gap test, with no word on stderr."""
    for i in range(4):
        (tmp_path / f"{i}.png").write_bytes(encode(Image.new("L", (48, 48), 40 * i)))
    (tmp_path / "labels.csv").write_text(
        "path,label,who\n0.png,neutral,p1\n1.png,sad,p1\n2.png,neutral,p2\n3.png,sad,\n"
    )
    result = runner.invoke(app, ["evaluate", str(tmp_path), "-q", "--cluster", "who"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "--cluster who: 1 image with no value there" in said
    assert json.loads(result.stdout)["by_cluster"]["n_unassigned"] == 1
