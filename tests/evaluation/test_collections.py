"""labels.csv for public collections, from look-alikes of their distributed layouts."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from mien.cli.main import app
from mien.errors import DatasetError
from mien.evaluation.collections import (
    affectnet_rows,
    ckplus_rows,
    jaffe_rows,
    kdef_rows,
    rafdb_rows,
    write_labels_csv,
)
from tests.helpers import SAMPLES


def _touch(path, data=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _table(rows, *keys):
    return sorted(tuple(r[k] for k in keys) for r in rows)


def test_kdef_names_give_label_person_session_sex_and_angle(tmp_path):
    for name in ("AF01/AF01ANS.JPG", "BF01/BF01HAS.JPG", "AM12/AM12SUHL.JPG", "AM12/AM12AFS.jpg"):
        _touch(tmp_path / name)
    _touch(tmp_path / "AM12/notes.JPG")
    got = kdef_rows(tmp_path)
    assert _table(got.rows, "label", "code", "subject", "session", "sex", "angle") == [
        ("anger", "AN", "F01", "A", "F", "S"),
        ("fear", "AF", "M12", "A", "M", "S"),
        ("happiness", "HA", "F01", "B", "F", "S"),
    ]
    assert got.skipped == {"angle HL (not asked for)": 1, "image named outside KDEF's pattern": 1}
    assert len(kdef_rows(tmp_path, angles=("S", "HL")).rows) == 4


def test_jaffe_codes_carry_a_repeat_number(tmp_path):
    for name in ("KA.AN1.39.tiff", "KA.AN2.40.tiff", "YM.FE3.66.tiff", "KL.NE1.155.tif"):
        _touch(tmp_path / name)
    got = jaffe_rows(tmp_path)
    assert _table(got.rows, "label", "subject") == [
        ("anger", "KA"), ("anger", "KA"), ("fear", "YM"), ("neutral", "KL")
    ]  # fmt: skip


def test_ckplus_reads_the_exponent_codes_of_its_peak_frames(tmp_path):
    images = tmp_path / "cohn-kanade-images" / "S005" / "001"
    for frame in (1, 11):
        _touch(images / f"S005_001_{frame:08d}.png")
    emotion = tmp_path / "Emotion" / "S005" / "001" / "S005_001_00000011_emotion.txt"
    _touch(emotion, b"   3.0000000e+00\n")
    _touch(tmp_path / "Emotion/S010/002/S010_002_00000009_emotion.txt", b"5\n")  # no image
    got = ckplus_rows(tmp_path)
    assert _table(got.rows, "label", "code", "subject", "sequence") == [
        ("disgust", "3", "S005", "S005_001")  # sequence numbers repeat across people
    ]
    assert got.skipped == {"label file without its image": 1}
    both = ckplus_rows(tmp_path, first_frame_neutral=True).rows
    assert [(r["label"], r["path"].rsplit("_", 1)[1]) for r in both] == [
        ("disgust", "00000011.png"), ("neutral", "00000001.png")
    ]  # fmt: skip


def test_rafdb_list_gives_splits_and_finds_the_photo_or_the_aligned_crop(tmp_path):
    basic = tmp_path / "basic"
    _touch(basic / "EmoLabel" / "list_patition_label.txt", b"train_00001.jpg 5\ntest_0001.jpg 7\n")
    for name in ("train_00001.jpg", "test_0001.jpg"):
        _touch(basic / "Image" / "original" / name)
    _touch(basic / "Image" / "aligned" / "train_00001_aligned.jpg")
    got = rafdb_rows(tmp_path)
    assert _table(got.rows, "label", "split") == [("neutral", "test"), ("sadness", "train")]
    crops = rafdb_rows(tmp_path, aligned=True)
    assert [r["path"].endswith("train_00001_aligned.jpg") for r in crops.rows] == [True]
    reason = "listed image not in Image/aligned; original/ is there (without --aligned)"
    assert crops.skipped == {reason: 1}
    with pytest.raises(DatasetError, match=r"list_patition_label\.txt"):
        rafdb_rows(tmp_path / "basic" / "Image")


def test_affectnet_drops_its_non_expression_codes(tmp_path):
    images = tmp_path / "Manually_Annotated_Images"
    rows = [("12/a.jpg", "7"), ("12/b.jpg", "9"), ("40/c.jpg", "0"), ("40/gone.jpg", "1")]
    for path, _ in rows[:3]:
        _touch(images / path)
    with (tmp_path / "training.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["subDirectory_filePath", "face_x", "expression", "valence"])
        writer.writerows([p, 0, code, 0.1] for p, code in rows)
    got = affectnet_rows(tmp_path)
    assert _table(got.rows, "label", "code", "split") == [
        ("contempt", "7", "train"), ("neutral", "0", "train")
    ]  # fmt: skip
    assert got.skipped == {
        "code 9 (not an expression)": 1,
        "listed image not in Manually_Annotated_Images": 1,
    }


def test_labels_command_writes_a_set_evaluate_scores(tmp_path):
    photo = (SAMPLES / "grace_hopper.jpg").read_bytes()
    root = tmp_path / "KDEF"
    for name in ("AF01/AF01NES.JPG", "AF01/AF01HAS.JPG"):
        _touch(root / name, photo)
    runner = CliRunner()
    result = runner.invoke(app, ["labels", "KDEF", str(root)])
    assert result.exit_code == 0, result.output
    assert "wrote " in result.stderr and "2 images (happiness 1, neutral 1)" in result.stderr
    lines = (root / "labels.csv").read_text().splitlines()
    assert lines[0] == "path,label,code,subject,session,sex,angle"
    assert lines[1] == "AF01/AF01HAS.JPG,happiness,HA,F01,A,F,S"  # relative to the file
    result = runner.invoke(app, ["evaluate", str(root), "--detect", "-q", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    assert '"n": 2' in result.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["labels", "jaffe", str(empty)])
    assert result.exit_code == 2 and "no images found (left out: nothing); " in result.stderr
    assert f"{empty / 'labels.csv'} not written" in result.stderr.replace("\n", "")
    result = runner.invoke(app, ["labels", "fer2013", str(empty)])
    assert result.exit_code == 2 and "unknown collection 'fer2013'" in result.stderr


def test_write_labels_csv_refuses_nothing():
    from mien.evaluation.collections import CollectionRows

    with pytest.raises(DatasetError, match="no images found"):
        write_labels_csv(CollectionRows(), SAMPLES / "never.csv")


def test_copies_links_and_odd_names_under_the_root(tmp_path):
    # a second copy counted every photo twice; a linked person folder was not read; a name
    # that is not UTF-8 crashed the writer and left a cut-short labels.csv
    for copy in ("KDEF", "KDEF/backup"):
        _touch(tmp_path / copy / "AF01" / "AF01ANS.JPG")
    _touch(tmp_path / "elsewhere" / "AM02" / "AM02HAS.png")  # a copy converted to PNG
    (tmp_path / "KDEF" / "AM02").symlink_to(tmp_path / "elsewhere" / "AM02")
    odd = os.fsdecode(b"AF03SAS-\xe9.JPG")
    _touch(tmp_path / "KDEF" / "AF01" / odd)
    got = kdef_rows(tmp_path / "KDEF")
    assert _table(got.rows, "code", "subject") == [("AN", "F01"), ("HA", "M02")]
    assert got.skipped == {
        "another copy of a photo already taken": 1,
        "file name not UTF-8": 1,
    }
    out = write_labels_csv(got, tmp_path / "KDEF" / "labels.csv")
    paths = [line.split(",")[0] for line in out.read_text().splitlines()[1:]]
    assert paths == ["AF01/AF01ANS.JPG", "../elsewhere/AM02/AM02HAS.png"]  # real paths
    with pytest.raises(DatasetError, match="KDEF angles are S, HL, HR, FL, FR"):
        kdef_rows(tmp_path, angles=("X",))


def test_rafdb_refuses_several_lists_and_the_compound_set(tmp_path):
    for folder in ("basic", "compound"):
        _touch(tmp_path / folder / "EmoLabel" / "list_patition_label.txt", b"test_0001.jpg 4\n")
        _touch(tmp_path / folder / "Image" / "original" / "test_0001.jpg")
    with pytest.raises(DatasetError, match=r"2 list_patition_label\.txt files under it"):
        rafdb_rows(tmp_path)
    with pytest.raises(DatasetError, match="compound set; only the basic set is read"):
        rafdb_rows(tmp_path / "compound")
    _touch(tmp_path / "basic" / "EmoLabel" / "list_patition_label.txt", b"test_0001.jpg 11\n")
    with pytest.raises(DatasetError, match=r"code '11' for test_0001\.jpg; the basic set has 1-7"):
        rafdb_rows(tmp_path / "basic")


def test_affectnet_as_unpacked_with_a_headerless_table(tmp_path):
    lists = tmp_path / "Manually_Annotated_file_lists"
    images = tmp_path / "Manually_Annotated" / "Manually_Annotated_Images"
    _touch(images / "3" / "a.jpg")
    _touch(images / "3" / "b.jpg")
    _touch(lists / "training.csv", b"subDirectory_filePath,a,b,c,d,e,expression\n3/a.jpg,,,,,,1\n")
    _touch(lists / "validation.csv", b"3/b.jpg,0,0,9,9,1;2,6,0.1,0.2\n")  # no header line
    got = affectnet_rows(tmp_path)
    assert _table(got.rows, "label", "split") == [("anger", "val"), ("happiness", "train")]
    with pytest.raises(DatasetError, match="one of the collection's own files"):
        write_labels_csv(got, lists / "training.csv")
    assert (lists / "training.csv").read_bytes().startswith(b"subDirectory_filePath")


def test_second_review_of_labels(tmp_path):
    # a copy in another case or format, a broken link; --out over an image
    kdef = tmp_path / "KDEF"
    photo = _touch(kdef / "AF01" / "AF01ANS.JPG")
    _touch(kdef / "png" / "af01ans.png")
    (kdef / "AF01" / "BM09HAS.JPG").symlink_to(tmp_path / "nowhere.jpg")
    got = kdef_rows(kdef)
    assert len(got.rows) == 1 and got.skipped == {
        "another copy of a photo already taken": 1,
        "not a file (a broken link?)": 1,
    }
    for bad in (photo, kdef / "labels.txt"):
        with pytest.raises(DatasetError, match=r"own files|give a \.csv file"):
            write_labels_csv(got, bad)
    assert photo.read_bytes() == b"x"
    # RAF-DB: a list saved with a byte-order mark; "compound" above the root is no matter
    raf = tmp_path / "compound_studies" / "raf"
    _touch(raf / "EmoLabel" / "list_patition_label.txt", "\ufefftest_0001.jpg 4\n".encode())
    _touch(raf / "Image" / "original" / "test_0001.jpg")
    assert _table(rafdb_rows(raf).rows, "label") == [("happiness",)]
    # AffectNet: an image in both tables once; a row split by unquoted commas counted
    images = tmp_path / "aff" / "Manually_Annotated_Images"
    _touch(images / "1" / "a.jpg")
    _touch(tmp_path / "aff" / "training.csv", b"subDirectory_filePath,x,expression\n1/a.jpg,0,1\n")
    rows = b"1/a.jpg,0,0,9,9,1;2,1,0.1,0.2\n1/a.jpg,0,0,9,9,1,2,1,0.1,0.2\n"  # no header
    _touch(tmp_path / "aff" / "validation.csv", rows)
    got = affectnet_rows(tmp_path / "aff")
    assert len(got.rows) == 1
    assert got.skipped == {
        "image listed twice": 1,
        "row with another number of fields (unquoted commas?)": 1,
    }
    result = CliRunner().invoke(app, ["labels", "rafdb", str(raf), "--angles", "HL"])
    assert result.exit_code == 2 and "--angles is for kdef, not rafdb" in result.stderr


def test_ckplus_adds_no_neutral_frame_beside_a_refused_peak(tmp_path):
    for sequence, code in (("001", b"8.0000000e+00\n"), ("002", b"1\n"), ("003", b" \n")):
        images = tmp_path / "cohn-kanade-images" / "S100" / sequence
        for frame in (1, 4):
            _touch(images / f"S100_{sequence}_{frame:08d}.png")
        _touch(tmp_path / f"Emotion/S100/{sequence}/S100_{sequence}_00000004_emotion.txt", code)
    got = ckplus_rows(tmp_path, first_frame_neutral=True)
    assert _table(got.rows, "label", "sequence") == [("anger", "S100_002"), ("neutral", "S100_002")]
    # an empty label file is named as such (it was "not holding a whole number")
    assert got.skipped == {"a code the ckplus table does not have": 1, "empty label file": 1}


def test_labels_keep_the_names_of_files_that_are_links(tmp_path):
    store = _touch(tmp_path / "annex" / "objects" / "SHA256E-s1--abc.jpg")
    root = tmp_path / "KDEF"
    (root / "AF01").mkdir(parents=True)
    os.symlink(store, root / "AF01" / "AF01AFS.JPG")
    out = write_labels_csv(kdef_rows(root), root / "labels.csv")
    assert out.read_text().splitlines()[1].startswith("AF01/AF01AFS.JPG,fear,AF,")


def test_affectnet_face_crop_release_with_npy_annotations(tmp_path):
    for split, number, code in (("train_set", 0, "1"), ("train_set", 1, "9"), ("val_set", 2, "6")):
        _touch(tmp_path / split / "images" / f"{number}.jpg")
        (tmp_path / split / "annotations").mkdir(exist_ok=True)
        np.save(tmp_path / split / "annotations" / f"{number}_exp.npy", np.array(code))
        np.save(tmp_path / split / "annotations" / f"{number}_val.npy", np.array("0.5"))
    np.save(tmp_path / "val_set" / "annotations" / "7_exp.npy", np.array("2"))  # no image
    got = affectnet_rows(tmp_path)
    assert _table(got.rows, "label", "code", "split") == [
        ("anger", "6", "val"), ("happiness", "1", "train")
    ]  # fmt: skip
    assert got.skipped == {
        "code 9 (not an expression)": 1,
        "label file without its image in images/": 1,
    }
    with pytest.raises(DatasetError, match="no AffectNet layout under it"):
        affectnet_rows(tmp_path / "train_set" / "images")


def test_the_next_command_is_quoted_and_names_the_unit_and_split(tmp_path):
    root = tmp_path / "my audit" / "jaffe"
    _touch(root / "KA.AN1.39.tiff", (SAMPLES / "grace_hopper.jpg").read_bytes())
    result = CliRunner().invoke(app, ["labels", "jaffe", str(root)])
    assert result.exit_code == 0, result.output
    assert f"next: mien evaluate '{root / 'labels.csv'}' --detect --cluster subject" in (
        result.stderr.replace("\n", "")
    )
