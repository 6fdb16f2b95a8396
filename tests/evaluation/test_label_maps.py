"""Mapping other collections' label names and codes onto mien's labels."""

from __future__ import annotations

import json

import pytest

from mien.errors import DatasetError
from mien.evaluation.datasets import LabeledDataset
from mien.evaluation.label_maps import (
    PRESETS,
    WORD_FORMS,
    combine_label_maps,
    parse_label_map,
    relabel,
)
from mien.types import EXPRESSIONS


def make_set(labels, **columns):
    paths = tuple(f"{i}.png" for i in range(len(labels)))
    return LabeledDataset(".", paths, tuple(labels), {k: tuple(v) for k, v in columns.items()})


def test_presets_cover_their_collections_labels_once():
    for name, table in PRESETS.items():
        targets = [v for v in table.values() if v]
        assert set(targets) <= set(EXPRESSIONS), name
        assert len(targets) == len(set(targets)), name  # no expression named twice
    assert {v for v in PRESETS["affectnet"].values() if v} == set(EXPRESSIONS)  # 8 labels
    assert PRESETS["fer2013"]["3"] == "happiness" and PRESETS["rafdb"]["3"] == "disgust"
    assert PRESETS["affectnet"]["3"] == "surprise" and PRESETS["ckplus"]["2"] == "contempt"
    assert set(WORD_FORMS.values()) <= set(EXPRESSIONS)


def test_parse_inline_preset_and_files(tmp_path):
    assert parse_label_map(" RAFDB ") == PRESETS["rafdb"]
    assert parse_label_map("1=Surprise, 2 = fear,8=,") == {"1": "surprise", "2": "fear", "8": ""}
    assert parse_label_map("1=happy,2=Afraid") == {"1": "happiness", "2": "fear"}
    (tmp_path / "m.json").write_text(json.dumps({"Calm": "", "JOY": "happiness"}))
    assert parse_label_map(str(tmp_path / "m.json")) == {"calm": "", "joy": "happiness"}
    (tmp_path / "m.csv").write_text("\ufefffrom,to\nHA,happiness\n\nXX,\n")
    assert parse_label_map(str(tmp_path / "m.csv")) == {"ha": "happiness", "xx": ""}
    (tmp_path / "semi.csv").write_text("HA;happiness\nSU;surprise\n")  # no header line
    assert parse_label_map(str(tmp_path / "semi.csv")) == {"ha": "happiness", "su": "surprise"}
    (tmp_path / "drop.csv").write_text("8,\n0,neutral\n")  # a first line that drops a label
    assert parse_label_map(str(tmp_path / "drop.csv")) == {"8": "", "0": "neutral"}
    (tmp_path / "words.csv").write_text("HA\thappy\nSA\tsad\n")  # word forms, no header
    assert parse_label_map(str(tmp_path / "words.csv")) == {"ha": "happiness", "sa": "sadness"}
    merged, notes = combine_label_maps(["rafdb", "7=,1=fear"])
    assert merged == PRESETS["rafdb"] | {"7": "", "1": "fear"}
    assert notes == [
        "7: neutral → dropped (from '7=,1=fear')",
        "1: surprise → fear (from '7=,1=fear')",
    ]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("nosuchpreset", "give a preset"),
        ("1=joy", "'1' maps to 'joy', which is not one of mien's labels"),
        ("1=fear,2", "'2' is not label=expression"),
        ("=fear", "an empty label to map from"),
        ("{tmp}/missing.json", "label map file not found"),
        ("{tmp}/list.json", "give a JSON object"),
        ("{tmp}/empty.json", "give a JSON object"),
        ("{tmp}/wide_first.csv", "line 1: give two columns"),
        ("{tmp}/bad.json", "not valid JSON"),
        ("{tmp}/three.csv", "line 2: give two columns"),
        ("{tmp}/one.csv", "line 3: give two columns"),
        ("{tmp}/header.csv", "no mapping in it"),
        ("1=surprise,1=fear", "'1' is mapped twice, to 'surprise' and 'fear'"),
        ("{tmp}/twice.json", "'af' is mapped twice, to 'fear' and 'anger'"),
        ("{tmp}/latin1.csv", "not UTF-8 text"),
    ],
)
def test_parse_errors_name_the_problem(tmp_path, spec, match):
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "bad.json").write_text("{1: 2}")
    (tmp_path / "three.csv").write_text("a,b\n1,fear,x\n")
    (tmp_path / "header.csv").write_text("a,b\n")
    (tmp_path / "one.csv").write_text("a,b\nx,fear\nXX\n")
    (tmp_path / "twice.json").write_text('{"AF": "fear", "af": "anger"}')
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "wide_first.csv").write_text("0,neutral,x\n1,fear\n")
    (tmp_path / "latin1.csv").write_bytes("a,b\nf\xe9,fear\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=match):
        parse_label_map(spec.format(tmp=tmp_path))


def test_relabel_maps_word_forms_and_codes_and_keeps_the_originals():
    data = make_set(["happy", "3", "8", "neutral", "3"], group=["a", "b", "c", "d", "e"])
    out, done = relabel(data, PRESETS["affectnet"])
    assert out.labels == ("happiness", "surprise", "neutral", "surprise")
    assert out.paths == ("0.png", "1.png", "3.png", "4.png")  # label 8 ("None") dropped
    assert out.columns == {
        "group": ("a", "b", "d", "e"),
        "original_label": ("happy", "3", "neutral", "3"),
    }
    assert done.to_dict() == {
        "renamed": {"happy": {"to": "happiness", "n": 1}, "3": {"to": "surprise", "n": 2}},
        "dropped": {"8": 1},
        "unused": ["0", "1", "2", "4", "5", "6", "7", "9", "10"],  # by value
    }
    assert done.describe() == "happy → happiness (1); 3 → surprise (2); dropped 8 (1)"
    # a user's map wins over a word form; a set's own original_label column is kept
    out, _ = relabel(make_set(["happy"], original_label=["x"]), {"happy": "surprise"})
    assert out.labels == ("surprise",) and out.columns == {"original_label": ("x",)}
    # codes a spreadsheet wrote as floats find their whole-number entries
    out, done = relabel(make_set(["3.0", "7.00", "3", "0.0", "2.5"]), PRESETS["affectnet"])
    assert out.labels == ("surprise", "contempt", "surprise", "neutral", "2.5")
    assert done.renamed == {
        "3.0": "surprise",
        "7.00": "contempt",
        "3": "surprise",
        "0.0": "neutral",
    }
    assert "3" not in done.unused and "0" not in done.unused and "7" not in done.unused
    # CK+'s own emotion files write the code in exponent form
    out, _ = relabel(make_set(["3.0000000e+00", "7.0000000e+00", "1e-1"]), PRESETS["ckplus"])
    assert out.labels == ("disgust", "surprise", "1e-1")
    # a map built in code is compared in lower case, as the labels are read
    out, done = relabel(make_set(["af", "su"]), {"AF": "Fear", "SU": "surprise", "NE": "neutral"})
    assert out.labels == ("fear", "surprise") and done.unused == ["ne"]
    with pytest.raises(DatasetError, match="'af' is mapped twice"):
        relabel(make_set(["af"]), {"AF": "fear", "af": "anger"})


def test_relabel_leaves_a_set_of_mien_labels_alone_and_refuses_dropping_all():
    data = make_set(["anger", "boredom"])
    out, done = relabel(data, {})
    assert out is data and not done and done.describe() == "" and done.unused == []
    out, done = relabel(data, {"calm": "neutral"})
    assert out is data and not done and done.unused == ["calm"]
    with pytest.raises(DatasetError, match="drops every row"):
        relabel(make_set(["8", "9"]), PRESETS["affectnet"])


def test_a_typo_on_a_headerless_maps_first_line_is_reported_not_taken_for_a_header(tmp_path):
    typo = tmp_path / "typo.csv"
    typo.write_text("1,surprize\n2,fear\n")
    with pytest.raises(DatasetError, match=r"typo.csv, line 1: '1' maps to 'surprize'"):
        parse_label_map(str(typo))
    word = tmp_path / "word.csv"
    word.write_text("AF,feer\nAN,anger\n")
    with pytest.raises(DatasetError, match=r"line 1: 'AF' maps to 'feer'"):
        parse_label_map(str(word))
    header = tmp_path / "header.csv"
    header.write_text("kdef code,mien label\nAF,fear\n")
    assert parse_label_map(str(header)) == {"af": "fear"}
