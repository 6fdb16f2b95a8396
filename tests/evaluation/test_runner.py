"""``evaluate`` on a tiny hand-made set with a stub model, so every metric is computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mien.errors import DatasetError
from mien.evaluation.datasets import read_labels_csv
from mien.evaluation.runner import evaluate
from mien.types import EXPRESSIONS
from tests.helpers import encode

# grey level of an image -> the class the stub "sees"
GREY_TO_CLASS = {
    30: EXPRESSIONS.index("happiness"),
    60: EXPRESSIONS.index("neutral"),
    90: EXPRESSIONS.index("sadness"),
}


class StubSpec:
    input_size, grey, abstain_threshold, temperature = 48, True, 0.5, 1.0


class StubExpression:
    """Predicts 0.7 for the class its grey level encodes, 0.3/7 for each other label."""

    names = EXPRESSIONS
    spec = StubSpec()

    def predict(self, crops):
        out = np.full((len(crops), 8), 0.3 / 7, np.float32)
        for i, c in enumerate(crops):
            out[i, GREY_TO_CLASS[round(c.mean())]] = 0.7
        return out

    def abstained(self, probs):
        return probs.max(1) < 0.5


@pytest.fixture()
def stub_analyzer(analyzer, monkeypatch):
    monkeypatch.setattr(analyzer, "expression", StubExpression())
    return analyzer


def write_set(root, rows, extra_header=""):
    lines = ["path,label,split" + extra_header]
    for name, grey, label, split in rows:
        if grey is None:
            (root / name).write_bytes(b"not an image")
        else:
            (root / name).write_bytes(encode(Image.new("L", (48, 48), grey)))
        lines.append(f"{name},{label},{split}" + ("," if extra_header else ""))
    (root / "labels.csv").write_text("\n".join(lines) + "\n")


HAND_SET = [
    ("a.png", 30, "happiness", "test"),  # right
    ("b.png", 60, "happiness", "test"),  # wrong (neutral)
    ("c.png", 60, "neutral", "test"),  # right
    ("d.png", 60, "neutral", "test"),  # right
    ("e.png", 30, "sadness", "test"),  # wrong (happiness)
    ("f.png", None, "sadness", "test"),  # unreadable -> wrong, reported
    ("g.png", 90, "sadness", "train"),  # other split, ignored
]


def test_hand_computed_metrics(tmp_path, stub_analyzer):
    write_set(tmp_path, HAND_SET, extra_header=",subject")
    report = evaluate(stub_analyzer, read_labels_csv(tmp_path, split="test")).to_dict()
    assert report["n"] == 6
    assert report["labels"] == ["happiness", "sadness", "neutral"]  # present labels, model order
    assert report["accuracy"] == pytest.approx(3 / 6)
    assert report["per_class_recall"] == pytest.approx(
        {"happiness": 0.5, "sadness": 0.0, "neutral": 1.0}
    )
    # F1: happiness 2/(2+1+1)=0.5, sadness 0, neutral 4/5
    assert report["macro_f1"] == pytest.approx((0.5 + 0.0 + 0.8) / 3)
    assert report["confusion"]["matrix"] == [[1, 0, 1], [1, 0, 0], [0, 0, 2]]
    assert report["confusion"]["no_prediction"] == [0, 1, 0]
    # restricted to 3 labels the top probability is 0.7 / (0.7 + 2 * 0.3 / 7); 3 of 5 right
    top = 0.7 / (0.7 + 2 * 0.3 / 7)
    assert report["ece"] == pytest.approx(abs(top - 0.6), abs=1e-5)
    assert report["failed"] == [
        {
            "path": "f.png",
            "error": "not a recognised image format (mien reads JPEG, PNG, BMP, GIF, TIFF, "
            "WebP, PPM/PGM and AVIF)",
        }
    ]
    assert report["mode"] == "crop"


def test_label_the_model_lacks_is_an_error(tmp_path, stub_analyzer):
    write_set(tmp_path, [("a.png", 30, "joy", "test")])
    with pytest.raises(DatasetError, match="'joy'"):
        evaluate(stub_analyzer, read_labels_csv(tmp_path))


@pytest.mark.parametrize(
    ("content", "split", "match"),
    [
        (None, None, "labels.csv: not found"),
        ("file,label\nx.png,neutral\n", None, "missing column"),
        (
            "path,label,split\nx.png,neutral,train\ny.png,happiness,Test\nz.png,neutral,\n",
            "val",
            r"no labelled rows with split 'val' \(its splits: test, train\)",
        ),
        ("path,label\nx.png,neutral\n", "val", "no split column"),
        (
            "path,label,split\nx.png,,val\ny.png,happiness,train\n",
            "val",
            r"split 'val' \(1 row\(s\) with it have an empty label\)",
        ),
        (b"path,label,split\n\xe9.jpg,happiness,test\n", None, r"not UTF-8 text \(byte 17"),
        ("path,label\nx.png,neutral\n".encode("utf-16"), None, "not UTF-8 text"),
        ("dir", None, "is a folder"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", None, "not a labels CSV \\(binary data\\)"),
    ],
)
def test_malformed_sets(tmp_path, content, split, match):
    if content == "dir":
        (tmp_path / "labels.csv").mkdir()
    elif isinstance(content, bytes):
        (tmp_path / "labels.csv").write_bytes(content)
    elif content is not None:
        (tmp_path / "labels.csv").write_text(content)
    with pytest.raises(DatasetError, match=match):
        read_labels_csv(tmp_path, split=split)


def test_detect_mode_counts_faceless_images_as_wrong(tmp_path, analyzer, samples):
    (tmp_path / "hopper.jpg").write_bytes((samples / "grace_hopper.jpg").read_bytes())
    (tmp_path / "blank.png").write_bytes(encode(Image.new("RGB", (200, 200), (120, 120, 120))))
    (tmp_path / "labels.csv").write_text(
        "path,label,split\nhopper.jpg,neutral,x\nblank.png,happiness,x\n"
    )
    report = evaluate(analyzer, read_labels_csv(tmp_path), detect=True)
    assert report.mode == "detect" and report.n == 2
    assert report.no_face == ["blank.png"]
    assert report.confusion["no_prediction"] == [1, 0]  # labels: happiness, neutral
    assert report.per_class_recall["happiness"] == 0.0


def test_restriction_and_abstention_are_reported(tmp_path, stub_analyzer):
    write_set(tmp_path, HAND_SET)
    dataset = read_labels_csv(tmp_path, split="test")
    report = evaluate(stub_analyzer, dataset, quality_slices=False, n_boot=0)
    assert report.labels_restricted is True  # 3 of the stub's 8 labels
    # the stub's top probability over all 8 labels is 0.7 >= 0.5: all 5 predictions kept
    assert report.abstention == {
        "threshold": 0.5,
        "quality_checked": False,
        "n_kept": 5,
        "n_abstained": 0,
        "n_no_prediction": 1,  # f.png is unreadable: in neither count
        "coverage": 1.0,
        "accuracy_kept": pytest.approx(3 / 5),
        "accuracy_abstained": None,
    }
    full = evaluate(stub_analyzer, dataset, quality_slices=False, n_boot=0, labels=EXPRESSIONS)
    assert full.labels_restricted is False
    # with quality measured, flat grey crops fail quality_ok and abstain, as in analyze
    checked = evaluate(stub_analyzer, dataset, n_boot=0)
    ok = checked.items["quality_ok"]
    has = ~np.isnan(checked.items["abstained"])
    assert np.array_equal(checked.items["abstained"][has], (ok[has] == 0).astype(float))
    assert checked.abstention["n_abstained"] == int((ok[has] == 0).sum())


def test_prediction_rows_keep_the_sets_clashing_columns(tmp_path, stub_analyzer):
    from mien.evaluation.runner import prediction_rows

    (tmp_path / "a.png").write_bytes(encode(Image.new("L", (48, 48), 30)))
    (tmp_path / "b.png").write_bytes(encode(Image.new("L", (48, 48), 60)))
    (tmp_path / "labels.csv").write_text(
        "path,label,predicted,p_happiness,subject\n"
        "a.png,happiness,their_guess,0.9,s1\nb.png,neutral,x,0.1,s2\n"
    )
    dataset = read_labels_csv(tmp_path)
    report = evaluate(stub_analyzer, dataset, quality_slices=False, n_boot=0)
    rows = prediction_rows(report, dataset)
    assert rows[0]["predicted"] == "happiness" and rows[0]["set_predicted"] == "their_guess"
    assert rows[1]["predicted"] == "neutral" and rows[1]["p_happiness"] == pytest.approx(
        0.3 / 7 / (0.7 + 0.3 / 7), abs=1e-6
    )
    assert rows[1]["set_p_happiness"] == "0.1"
    assert rows[0]["subject"] == "s1" and rows[0]["abstained"] is False


def test_prediction_rows_rename_until_no_clash_in_any_case(tmp_path, stub_analyzer):
    from mien.evaluation.runner import prediction_rows

    (tmp_path / "a.png").write_bytes(encode(Image.new("L", (48, 48), 30)))
    (tmp_path / "b.png").write_bytes(encode(Image.new("L", (48, 48), 60)))
    (tmp_path / "labels.csv").write_text(
        "path,label,predicted,set_predicted,Predicted,p_contempt,Subject\n"
        "a.png,happiness,g1,g2,g3,0.5,s1\nb.png,neutral,,,,,\n"
    )
    dataset = read_labels_csv(tmp_path)
    # a 7-label run: the model's p_contempt is not filled, the set's is still renamed
    report = evaluate(stub_analyzer, dataset, quality_slices=False, n_boot=0)
    row = prediction_rows(report, dataset)[0]
    assert row["predicted"] == "happiness"
    assert row["set_set_predicted"] == "g1"  # set_predicted is the set's own
    assert row["set_predicted"] == "g2"
    assert row["set_set_set_Predicted"] == "g3"
    assert row["set_p_contempt"] == "0.5" and "p_contempt" not in row
    assert row["Subject"] == "s1"
    names = [k.lower() for k in row]
    assert len(names) == len(set(names))  # no two columns differ only in case


@pytest.mark.parametrize(
    "text",
    [
        "path;label;split\na.png;Happiness ;VAL\nb.png;neutral;train\n",
        "Path\tLabel\tSplit\tnote, free\n a.png \tHAPPINESS\tval \t\nb.png\tneutral\ttrain\t\n",
    ],
)
def test_spreadsheet_layouts_are_read(tmp_path, text):
    (tmp_path / "labels.csv").write_text(text)
    dataset = read_labels_csv(tmp_path, split="Val")
    assert (dataset.paths, dataset.labels) == (("a.png",), ("happiness",))


def test_a_column_named_twice_is_refused(tmp_path):
    (tmp_path / "labels.csv").write_text("path,Label,label\na.png,happiness,neutral\n")
    with pytest.raises(DatasetError, match=r"more than one column reads as \['label'\]"):
        read_labels_csv(tmp_path)


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        ("a.png,happiness,all,Black, African\n", r"line 2 has 5 field\(s\) but the header has 4"),
        ("a.png,happiness,all\n", r"line 2 has 3 field\(s\) but the header has 4"),
        ("a.png,happiness,all,A\n,neutral,all,B\n", r"line 3 has an empty path"),
    ],
)
def test_a_row_that_does_not_fit_the_header_names_its_line(tmp_path, rows, problem):
    # DictReader drops extra fields and blanks missing ones: the image moved group silently
    (tmp_path / "labels.csv").write_text("path,label,split,group\n" + rows)
    with pytest.raises(DatasetError, match=r"labels\.csv: " + problem):
        read_labels_csv(tmp_path)


def test_other_columns_named_twice_and_empty_rows(tmp_path):
    (tmp_path / "labels.csv").write_text("path,label,group,group\na.png,happiness,A,B\n")
    with pytest.raises(DatasetError, match=r"names column\(s\) \['group'\] more than once"):
        read_labels_csv(tmp_path)
    # rows of empty fields, as a spreadsheet leaves below its table, are not rows
    (tmp_path / "labels.csv").write_text("path,label,group\na.png,happiness,A\n,,\n , ,\n")
    dataset = read_labels_csv(tmp_path)
    assert (dataset.paths, dataset.columns["group"]) == (("a.png",), ("A",))


def test_empty_and_binary_label_files(tmp_path):
    (tmp_path / "labels.csv").write_text("\n")
    with pytest.raises(DatasetError, match=r"labels\.csv: is empty"):
        read_labels_csv(tmp_path)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)))
    with pytest.raises(DatasetError, match=r"photo\.jpg: not a labels CSV"):
        read_labels_csv(photo)


class ContemptStub(StubExpression):
    """Top label contempt (0.55) over all 8, outside a happiness/neutral set; restricted to the
    set, happiness (0.30 against 0.15) or, for grey 60, sadness 0.45 and neutral 0.40."""

    def predict(self, crops):
        out = np.zeros((len(crops), 8), np.float32)
        for i, c in enumerate(crops):
            if round(c.mean()) == 30:
                out[i, [EXPRESSIONS.index(n) for n in ("contempt", "happiness", "neutral")]] = (
                    0.55,
                    0.30,
                    0.15,
                )
            else:  # top over all 8 below 0.5: abstains
                out[i, [EXPRESSIONS.index(n) for n in ("sadness", "neutral", "anger")]] = (
                    0.45,
                    0.40,
                    0.15,
                )
        return out


def test_abstention_scores_the_models_own_output(tmp_path, analyzer, monkeypatch):
    monkeypatch.setattr(analyzer, "expression", ContemptStub())
    (tmp_path / "a.png").write_bytes(encode(Image.new("L", (48, 48), 30)))
    (tmp_path / "b.png").write_bytes(encode(Image.new("L", (48, 48), 60)))
    (tmp_path / "labels.csv").write_text("path,label\na.png,happiness\nb.png,neutral\n")
    report = evaluate(analyzer, read_labels_csv(tmp_path), quality_slices=False, n_boot=0)
    # the restricted task gets both right (happiness 0.30 > neutral 0.15; neutral > nothing
    # else in the set) ...
    assert report.accuracy == 1.0
    # ... but a.png is kept with mien's output "contempt" (wrong), and b.png abstains (0.45)
    # though its restricted top (neutral, 1.0 of the set's mass) is confident and right
    assert report.abstention["n_kept"] == 1 and report.abstention["n_abstained"] == 1
    assert report.abstention["accuracy_kept"] == 0.0
    assert report.abstention["accuracy_abstained"] == 0.0  # its top over all is sadness
    # the predictions say what those accuracies scored, so they can be checked from the CSV
    from mien.evaluation.runner import prediction_rows

    rows = prediction_rows(report, read_labels_csv(tmp_path))
    assert [(r["predicted"], r["top_label"], r["abstained"]) for r in rows] == [
        ("happiness", "contempt", False),
        ("neutral", "sadness", True),
    ]
    with pytest.raises(DatasetError, match=r"--by label slices by the set's own label column"):
        evaluate(analyzer, read_labels_csv(tmp_path), by=["label"])
