"""Bootstrap intervals, slices and the report, on tiny hand-made sets."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from mien.evaluation.bootstrap import bootstrap_accuracy, bootstrap_metrics, wilson_interval
from mien.evaluation.datasets import read_labels_csv
from mien.evaluation.report import MARKER, foreign_report, write_report
from mien.evaluation.runner import evaluate
from tests.evaluation.test_runner import StubExpression
from tests.helpers import encode


@pytest.mark.parametrize(
    ("correct", "expected"),
    [
        ([True] * 6, (1.0, 1.0)),
        ([False] * 5, (0.0, 0.0)),
        # 4 images, 2 right: P(0 right) = P(4 right) = 1/16 > 2.5 %, so the interval is [0, 1]
        ([True, True, False, False], (0.0, 1.0)),
        # 10 images, 9 right: P(X <= 6) = 1.3 % < 2.5 % < P(X <= 7) = 7.0 % for X ~ Bin(10, .9)
        ([True] * 9 + [False], (0.7, 1.0)),
    ],
)
def test_bootstrap_accuracy_by_hand(correct, expected):
    lo, hi = bootstrap_accuracy(np.array(correct), n_boot=4000)
    assert (lo, hi) == pytest.approx(expected, abs=1e-9)


def test_bootstrap_metrics_degenerate_and_consistent():
    y = np.array([0, 1, 2, 0, 1, 2])
    probs = np.eye(3)[y] * 0.9 + 0.05
    b = bootstrap_metrics(y, y, probs, 3, n_boot=500)
    assert b.accuracy == (1.0, 1.0) and b.macro_f1 == (1.0, 1.0)
    assert b.ece == pytest.approx((0.05, 0.05))
    # recall 2/2 per label: a Wilson interval, not the bootstrap's collapsed (1, 1)
    assert b.per_class_recall == [pytest.approx((0.3424, 1.0), abs=1e-4)] * 3
    pred = np.array([0, 1, 2, 0, -1, 1])  # one miss (no prediction), one wrong
    b = bootstrap_metrics(y, pred, probs, 3, n_boot=2000, seed=1)
    assert b.accuracy[0] <= 4 / 6 <= b.accuracy[1]
    assert 0.0 <= b.accuracy[0] < b.accuracy[1] <= 1.0
    # labels 1 and 2: 1 of 2 (the miss counts against label 1); Wilson (1, 2) by hand
    assert b.per_class_recall[1] == pytest.approx((0.0945, 0.9055), abs=1e-4)
    assert b.per_class_recall[2] == b.per_class_recall[1]
    assert bootstrap_metrics(y, pred, probs, 4, n_boot=10).per_class_recall[3] is None
    # another level: Wilson's z follows it (90 %: z = 1.645)
    b90 = bootstrap_metrics(y, pred, probs, 3, n_boot=10, level=0.9)
    assert b90.per_class_recall[1] == pytest.approx(wilson_interval(1, 2, z=1.644854), abs=1e-6)
    assert b90.per_class_recall[1][0] > b.per_class_recall[1][0]
    with pytest.raises(ValueError, match="n_boot must be at least 1"):
        bootstrap_metrics(y, pred, probs, 3, n_boot=0)


@pytest.fixture()
def stub_analyzer(analyzer, monkeypatch):
    monkeypatch.setattr(analyzer, "expression", StubExpression())
    return analyzer


def test_slices_with_blank_and_single_member_values(tmp_path, stub_analyzer):
    # grey 30 -> happiness, 60 -> neutral (see StubExpression)
    rows = [
        ("a", 30, "happiness", "s1", "p1"),
        ("b", 30, "happiness", "s1", "p1"),
        ("c", 60, "happiness", "s1", "p2"),
        ("d", 60, "neutral", "", "p3"),
        ("e", 60, "neutral", "", "p3"),
        ("f", 30, "neutral", "s2", "p4"),
    ]
    lines = ["path,label,split,subject,person"]
    for name, grey, label, subject, person in rows:
        (tmp_path / f"{name}.png").write_bytes(encode(Image.new("L", (48, 48), grey)))
        lines.append(f"{name}.png,{label},test,{subject},{person}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    report = evaluate(
        stub_analyzer,
        read_labels_csv(tmp_path),
        by=["subject"],
        quality_slices=False,
        n_boot=500,
        min_slice_n=1,
        cluster="person",
    )
    table = report.slices["subject"]
    assert set(table["slices"]) == {"(blank)", "s1", "s2"}
    # Wilson 95 % intervals by hand: 2/3 [0.2077, 0.9385], 2/2 [0.3424, 1], 0/1 [0, 0.7935]
    s1, blank, s2 = (table["slices"][k] for k in ("s1", "(blank)", "s2"))
    assert (s1["n"], s1["accuracy"]) == (3, pytest.approx(2 / 3))
    assert s1["ci"] == pytest.approx([0.2077, 0.9385], abs=1e-4)
    assert blank["accuracy"] == 1.0 and blank["ci"] == pytest.approx([0.3424, 1.0], abs=1e-4)
    assert (s2["n"], s2["accuracy"]) == (1, 0.0)
    assert s2["ci"] == pytest.approx([0.0, 0.7935], abs=1e-4)
    # blank values are left out of the gap: s1 2/3 against s2 0
    assert table["worst_gap"] == pytest.approx(2 / 3)
    assert table["worst_gap_between"] == ["s1", "s2"]
    # the set's recall is 2/3 for both labels, so every slice's label mix expects 2/3
    assert s1["label_counts"] == {"happiness": 3} and s2["label_counts"] == {"neutral": 1}
    assert blank["per_class_recall"] == {"neutral": 1.0} and blank["balanced_accuracy"] == 1.0
    assert [x["expected_accuracy"] for x in (s1, blank, s2)] == pytest.approx([2 / 3] * 3)
    assert table["worst_gap_beyond_label_mix"] == pytest.approx(2 / 3)
    # persons shuffled between s1 (p1: 2 of 2, p2: 0 of 1) and s2 (p4: 0 of 1): every
    # assignment gives a gap of at least 2/3 (p1 alone: 1; p2 or p4 alone: 2/3), so p = 1
    test = table["gap_test"]
    assert (test["unit"], test["n_perm"], test["p_gap"]) == ("person", 500, 1.0)
    assert (s1["no_prediction"], s1["abstained_share"]) == (0, 0.0)
    # the person as the unit: p1 1.0, p2 0.0 in s1; over the set 1, 0, 1, 0 (t, 3 df)
    assert s1["by_cluster"] == {"n_clusters": 2, "mean": 0.5, "ci": [0.0, 1.0], "n_unassigned": 0}
    assert s2["by_cluster"] == {"n_clusters": 1, "mean": 0.0, "ci": None, "n_unassigned": 0}
    assert report.by_cluster == {
        "column": "person",
        "n_clusters": 4,
        "mean": 0.5,
        "ci": [0.0, 1.0],
        "n_unassigned": 0,
    }
    # persons who all score alike: t collapses to [1, 1], Wilson (3 of 3) does not; a blank
    # person is no person
    from mien.evaluation.runner import _by_cluster

    c = _by_cluster(np.ones(5, bool), np.array(["a", "a", "b", "c", ""]), interval=True)
    assert c["n_clusters"] == 3 and c["mean"] == 1.0 and c["n_unassigned"] == 1
    assert c["ci"] == pytest.approx([0.4385, 1.0], abs=1e-4)
    assert (
        _by_cluster(np.ones(5, bool), np.array(["a", "b"] * 2 + ["c"]), interval=False)["ci"]
        is None
    )
    # many persons who differ: the t interval, not a Wilson interval with 24 persons as n
    # (which treats each person as one coin flip: [0.64, 0.94] here)
    from mien.evaluation.bootstrap import group_accuracy_interval

    hits = np.concatenate([np.arange(20) < 14 + i % 7 for i in range(24)])
    who = np.repeat([f"p{i}" for i in range(24)], 20)
    c = _by_cluster(hits, who, interval=True)
    assert c["ci"] == pytest.approx(list(group_accuracy_interval(hits, who)["ci"]))
    assert c["ci"][1] - c["ci"][0] < 0.1
    # persons who barely differ: never narrower than the Wilson interval over the images
    hits = np.concatenate([np.arange(20) < 18 + (i == 0) for i in range(24)])
    c = _by_cluster(hits, who, interval=True)
    assert c["ci"] == pytest.approx(list(wilson_interval(int(hits.sum()), len(hits))))
    assert report.ci["accuracy"][0] <= report.accuracy <= report.ci["accuracy"][1]
    with pytest.raises(Exception, match="no column"):
        evaluate(stub_analyzer, read_labels_csv(tmp_path), by=["age"])
    with pytest.raises(Exception, match=r"no column\(s\) \['who'\] to slice or cluster by"):
        evaluate(stub_analyzer, read_labels_csv(tmp_path), cluster="who")


def test_slice_values_that_look_like_bins_sort_without_crashing():
    from mien.evaluation.runner import _slice_order

    values = ["[1.2.3)", ">= 1.2.3", "b", ">= 45", "[0, 15)", "[15, inf)", "a"]
    assert sorted(values, key=_slice_order) == [
        "[0, 15)",
        "[15, inf)",
        ">= 45",
        ">= 1.2.3",
        "[1.2.3)",
        "a",
        "b",
    ]


def test_report_files_and_figure_references(tmp_path, analyzer, samples):
    data = tmp_path / "set"
    data.mkdir()
    for name in ("grace_hopper.jpg", "astronaut.jpg"):
        (data / name).write_bytes((samples / name).read_bytes())
    (data / "labels.csv").write_text(
        "path,label,split,source\ngrace_hopper.jpg,neutral,t,a\nastronaut.jpg,happiness,t,b\n"
    )
    reports = {
        "samples": evaluate(analyzer, read_labels_csv(data), detect=True, by=["source"], n_boot=200)
    }
    md = write_report(reports, tmp_path / "report")
    text = md.read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    on_disk = sorted(p.name for p in md.parent.glob("*.png"))
    assert sorted(figures) == on_disk and len(on_disk) >= 4
    assert "quality:face_size_px" in text and "Slices by `source`" in text
    assert all((md.parent / f).stat().st_size > 1000 for f in figures)


def test_wilson_interval_by_hand():
    # 8 of 10: the textbook Wilson 95 % interval is [0.490, 0.943]
    lo, hi = wilson_interval(8, 10)
    assert (lo, hi) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert all(np.isnan(wilson_interval(0, 0)))


def test_wilson_interval_holds_its_estimate_when_all_right_or_all_wrong():
    # rounding used to give 0.9999999999999999 for 4 of 4, and a negative error bar in the report
    for n in range(1, 200):
        assert wilson_interval(n, n)[1] == 1.0 and wilson_interval(0, n)[0] == 0.0
        for k in (0, 1, n // 2, n - 1, n):
            lo, hi = wilson_interval(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_slice_figure_draws_a_slice_that_is_all_right(tmp_path):
    from mien.evaluation.report import slice_figure

    table = {"slices": {"a": {"accuracy": 1.0, "n": 4, "ci": [0.51, 0.9999999999999999]},
                        "b": {"accuracy": 0.0, "n": 3, "ci": [1e-17, 0.56]}}}  # fmt: skip
    slice_figure("by subject", table).savefig(tmp_path / "s.png")
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_slice_figure_draws_the_persons_interval_with_a_cluster_column():
    # with --cluster the bars drew the image-level interval ([0.57, 0.93]) beside a table
    # giving the persons' ([0.30, 1.00]): a figure pasted into a paper overstated precision
    from mien.evaluation.report import slice_figure

    person = {"mean": 0.7, "ci": [0.30, 1.0], "n_clusters": 3}
    table = {"slices": {"a": {"accuracy": 0.78, "n": 18, "ci": [0.57, 0.93], "by_cluster": person},
                        "b": {"accuracy": 0.5, "n": 2, "ci": [0.09, 0.91]}}}  # fmt: skip
    ax = slice_figure("by age", table, "subject").axes[0]
    bars = [p.get_height() for p in ax.patches]
    assert bars == [0.7, 0.5]
    caps = sorted(y for line in ax.lines for y in line.get_ydata())
    assert 0.30 in [round(y, 2) for y in caps] and 1.0 in [round(y, 2) for y in caps]
    assert ax.get_ylabel() == "mean accuracy per subject (95 % CI)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a\nn=18, subject n=3", "b\nn=2"]


def test_report_names_distinct_figures_and_states_its_protocol(tmp_path, stub_analyzer):
    sets = {}
    for name in ("a.b", "a_b"):  # one slug for both
        d = tmp_path / name
        d.mkdir()
        (d / "x.png").write_bytes(encode(Image.new("L", (48, 48), 30)))
        (d / "y.png").write_bytes(encode(Image.new("L", (48, 48), 60)))
        (d / "z.png").write_bytes(b"not an image")
        (d / "labels.csv").write_text("path,label\nx.png,happiness\ny.png,neutral\nz.png,neutral\n")
        sets[str(d)] = evaluate(stub_analyzer, read_labels_csv(d), quality_slices=False, n_boot=0)
    md = write_report(sets, tmp_path / "report")
    text = md.read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(figures) == 6 and len(set(figures)) == 6  # 3 per set, none overwritten
    assert "No intervals were computed" in text and "percentile-bootstrap" not in text
    assert text.count("Scored over the 2 labels this set contains (happiness, neutral)") == 2
    assert "keeps 2 of 2 faces with a prediction (1.000; 1 image(s) without one" in text
    assert "is right on 1.000 of those kept and – of those abstained" in text
    assert "quality_ok" not in text.split("## ")[2]  # quality was not measured
    # the same folder again with one set: the other set's figures go, a file of the user's stays
    (tmp_path / "report" / "notes.png").write_bytes(b"mine")
    first = next(iter(sets))
    again = re.findall(
        r"!\[[^\]]*\]\(([^)]+)\)",
        write_report({first: sets[first]}, tmp_path / "report").read_text(),
    )
    left = sorted(p.name for p in (tmp_path / "report").glob("*.png"))
    assert left == sorted([*again, "notes.png"]) and len(again) == 3


def test_a_report_with_a_cluster_column_is_written(tmp_path, stub_analyzer):
    # KeyError 'column' in the slice figures: every `--cluster ... --report` run failed
    d = tmp_path / "set"
    d.mkdir()
    rows = ["path,label,subject,group"]
    for i in range(8):
        (d / f"{i}.png").write_bytes(encode(Image.new("L", (48, 48), (30, 60)[i % 3 == 0])))
        rows.append(f"{i}.png,{('happiness', 'neutral')[i % 2]},p{i // 2},{'ab'[i // 4]}")
    (d / "labels.csv").write_text("\n".join(rows) + "\n")
    result = evaluate(stub_analyzer, read_labels_csv(d), by=["group"], cluster="subject", n_boot=0)
    text = write_report({str(d): result}, tmp_path / "report").read_text()
    assert "by subject (mean [95 % CI], count)" in text
    assert (
        (tmp_path / "report").joinpath(re.findall(r"\((\S+slices_group\.png)\)", text)[0]).is_file()
    )


def test_the_gap_leaves_out_blank_and_unmeasured_slices_and_names_no_tie():
    from mien.evaluation.runner import _slice_table, _SliceInputs

    y = np.array([0, 0, 1, 1, 0, 1])
    correct = np.array([True, True, True, True, False, False])
    x = _SliceInputs(["a", "b"], y, correct, np.ones(6, bool), np.zeros(6), np.ones(2), None)
    values = np.array(["g1", "g1", "g2", "g2", "unmeasured", ""], dtype=object)
    table = _slice_table(values, x, wilson=True, min_n=1, unmeasured=True)  # a quality column
    assert set(table["slices"]) == {"g1", "g2", "unmeasured", "(blank)"}
    assert table["worst_gap"] == 0.0 and table["worst_gap_between"] is None
    assert table["gap_test"] is None  # n_perm 0 by default
    tested = _slice_table(values, x, wilson=True, min_n=1, n_perm=20, unmeasured=True)
    assert tested["gap_test"]["p_gap"] == 1.0  # no gap: every shuffle reaches it
    # the set's own group named "unmeasured" was left out of the gap too (all its images wrong)
    own = _slice_table(values, x, wilson=True, min_n=1)
    assert own["worst_gap"] == 1.0 and own["worst_gap_between"] == ["g1", "unmeasured"]
    # a real "(blank)" value was merged with the blank ones
    values = np.array(["g1", "g1", "", None, "(blank)", "(blank)"], dtype=object)
    table = _slice_table(values, x, wilson=True, min_n=1)
    assert {k: v["n"] for k, v in table["slices"].items()} == {
        "((blank))": 2,
        "(blank)": 2,
        "g1": 2,
    }
    assert table["worst_gap"] == 1.0 and table["worst_gap_between"] == ["g1", "(blank)"]


def test_a_small_set_scored_all_right_gets_a_wilson_accuracy_interval(tmp_path, stub_analyzer):
    """The percentile bootstrap gave accuracy [1, 1] on 12 images all right, narrower than
    each half's Wilson interval; and one resample gave a "95 %" interval missing the estimate."""
    lines = ["path,label,group"]
    for i in range(12):
        (tmp_path / f"{i}.png").write_bytes(encode(Image.new("L", (48, 48), 30 if i % 2 else 60)))
        lines.append(f"{i}.png,{'happiness' if i % 2 else 'neutral'},g{i % 2}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    data = read_labels_csv(tmp_path)
    report = evaluate(stub_analyzer, data, by=["group"], quality_slices=False, n_boot=200)
    assert report.accuracy == 1.0 and report.ci["method"]["accuracy"] == "wilson"
    assert report.ci["accuracy"] == pytest.approx(list(wilson_interval(12, 12)))
    assert report.ci["accuracy"][0] == pytest.approx(0.7575, abs=1e-4)  # 12/12, by hand
    assert report.ci["macro_f1"] == [1.0, 1.0]  # a bootstrap still collapses: the docs say so
    for n_boot in (1, 99):
        with pytest.raises(ValueError, match=r"n_boot must be 0 .* or at least 100"):
            evaluate(stub_analyzer, data, quality_slices=False, n_boot=n_boot)


def test_the_report_shows_skipped_rows_missing_images_and_why_there_is_no_gap(
    tmp_path, stub_analyzer
):
    from typer.testing import CliRunner

    from mien.cli.main import app

    rows = [("a", 30, "happiness", "g1"), ("b", 60, "neutral", "g1"), ("c", 60, "neutral", "g2")]
    lines = ["path,label,group"]
    for name, grey, label, group in rows:
        (tmp_path / f"{name}.png").write_bytes(encode(Image.new("L", (48, 48), grey)))
        lines.append(f"{name}.png,{label},{group}")
    lines += ["gone.png,happiness,g2", "d.png,,g1"]  # a missing file; an empty label
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path), "--bootstrap", "5"])
    assert result.exit_code == 2 and "0 (no intervals) or at least 100" in result.output
    out = tmp_path / "report"
    args = ["evaluate", str(tmp_path), "--by", "group", "--no-quality", "--report", str(out)]
    CliRunner().invoke(app, [*args, "--bootstrap", "100"])
    text = (out / "report.md").read_text()
    assert "1 row(s) with an empty label were skipped" in text
    assert "| slice | n | no prediction | accuracy" in text
    # the missing file: no prediction; g2 has 2 images (under 20): marked, not in the gap
    assert re.search(r"\| g2 † \| 2 \| 1 \| 0\.[05]00", text)
    assert "†: not in the gap (fewer than 20 images, blank or unmeasured)" in text
    assert "none (fewer than two slices with n ≥ 20; `--min-slice-n` sets that n)" in text


def test_figures_count_images_without_a_prediction_where_the_text_does(tmp_path, stub_analyzer):
    """The confusion rows summed to 0.86 with no column for the missing images, and mien's
    abstention point sat at 32/38 where the text said coverage 32/36."""
    from mien.evaluation.report import confusion_figure, coverage_figure

    lines = ["path,label"]
    for i, (grey, label) in enumerate([(30, "happiness"), (60, "neutral"), (60, "happiness")]):
        (tmp_path / f"{i}.png").write_bytes(encode(Image.new("L", (48, 48), grey)))
        lines.append(f"{i}.png,{label}")
    lines.append("gone.png,happiness")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    report = evaluate(stub_analyzer, read_labels_csv(tmp_path), quality_slices=False, n_boot=0)
    ax = confusion_figure(report).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["happiness", "neutral", "no prediction"]
    shares = ax.images[0].get_array()
    np.testing.assert_allclose(shares.sum(axis=1), [1.0, 1.0])  # happiness: 1, 1, 1 missing
    np.testing.assert_allclose(shares[0], [1 / 3, 1 / 3, 1 / 3])
    point = next(ln for ln in coverage_figure(report).axes[0].lines if ln.get_marker() == "o")
    assert point.get_xdata()[0] == pytest.approx(report.abstention["coverage"])


def test_a_report_md_of_the_users_is_refused_and_its_figures_kept(tmp_path, stub_analyzer):
    d = tmp_path / "set"
    d.mkdir()
    (d / "x.png").write_bytes(encode(Image.new("L", (48, 48), 30)))
    (d / "y.png").write_bytes(encode(Image.new("L", (48, 48), 60)))
    (d / "labels.csv").write_text("path,label\nx.png,happiness\ny.png,neutral\n")
    sets = {str(d): evaluate(stub_analyzer, read_labels_csv(d), quality_slices=False, n_boot=0)}
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "report.md").write_text("# lab notes\n![key](key.png)\n![old](set_confusion.png)\n")
    (notes / "key.png").write_bytes(b"mine")
    (notes / "set_confusion.png").write_bytes(b"mine too")
    assert "not written by mien evaluate" in foreign_report(notes)
    with pytest.raises(FileExistsError, match=r"report\.md exists and was not written by mien"):
        write_report(sets, notes)
    assert (notes / "report.md").read_text().startswith("# lab notes")
    assert sorted(p.name for p in notes.iterdir()) == ["key.png", "report.md", "set_confusion.png"]
    # mien's own report is replaced; a link it holds to a name mien never gives stays
    md = write_report(sets, tmp_path / "ours")
    assert md.read_text().splitlines()[0] == MARKER and foreign_report(tmp_path / "ours") is None
    (md.parent / "mine.png").write_bytes(b"x")
    md.write_text(md.read_text() + "![mine](mine.png)\n")
    write_report(sets, tmp_path / "ours")
    assert (md.parent / "mine.png").exists()


def test_slice_columns_of_one_slug_get_their_own_figures_and_cells_escape_bars(
    tmp_path, stub_analyzer
):
    d = tmp_path / "set"
    d.mkdir()
    rows = ["path,label,age group,age_group"]
    for i, (label, a, b) in enumerate([("happiness", "A|B", "x"), ("neutral", "C", "y")]):
        (d / f"{i}.png").write_bytes(encode(Image.new("L", (48, 48), 30 + 30 * i)))
        rows.append(f"{i}.png,{label},{a},{b}")
    (d / "labels.csv").write_text("\n".join(rows) + "\n")
    r = evaluate(
        stub_analyzer,
        read_labels_csv(d),
        by=["age group", "age_group"],
        quality_slices=False,
        n_boot=0,
    )
    text = write_report({str(d): r}, tmp_path / "report").read_text()
    slices = re.findall(r"!\[accuracy by [^\]]*\]\(([^)]+)\)", text)
    assert len(slices) == 2 and len(set(slices)) == 2
    assert "| A\\|B † | 1 |" in text


def test_small_slices_and_case_variants_are_named_on_stderr(tmp_path):
    """A group of 3 images was the tallest bar with no warning, and Female/female two groups."""
    from typer.testing import CliRunner

    from mien.cli.main import app

    lines = ["path,label,group"]
    groups = ["Female"] * 3 + ["female"] + ["male"] * 2
    for i, group in enumerate(groups):
        (tmp_path / f"{i}.png").write_bytes(encode(Image.new("L", (48, 48), 30 + 30 * (i % 2))))
        lines.append(f"{i}.png,{'happiness' if i % 2 == 0 else 'neutral'},{group}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    args = ["evaluate", str(tmp_path), "--by", "group", "--no-quality", "-q", "--bootstrap", "0"]
    result = CliRunner().invoke(app, [*args, "--min-slice-n", "3"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "--by group: values that differ only in case (Female/female) are separate slices" in said
    assert (
        "--by group: female (n=1), male (n=2) under --min-slice-n 3: listed, not in the "
        "worst-slice gap" in said
    )
    slices = json.loads(result.stdout)["slices"]["group"]["slices"]
    assert {k: v["in_gap"] for k, v in slices.items()} == {
        "Female": True,
        "female": False,
        "male": False,
    }


def test_the_slice_figure_sets_apart_what_is_not_in_the_gap():
    from mien.evaluation.report import slice_figure

    person = {"n_clusters": 1, "mean": 1.0, "ci": None, "n_unassigned": 0}
    many = {"n_clusters": 9, "mean": 0.7, "ci": [0.6, 0.8], "n_unassigned": 0}
    table = {
        "min_n": 20,
        "slices": {
            "A": {"n": 40, "accuracy": 0.7, "ci": [0.55, 0.82], "in_gap": True, "by_cluster": many},
            "C": {
                "n": 3,
                "accuracy": 1.0,
                "ci": [0.44, 1.0],
                "in_gap": False,
                "by_cluster": person,
            },
        },
    }
    ax = slice_figure("set by group", table, unit="subject").axes[0]
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(ax.patches) == 2 and len(hatched) == 1 and hatched[0].get_height() == 1.0
    assert "not in the gap (n < 20, blank or unmeasured)" in ax.get_legend().texts[0].get_text()
    assert [t.get_text() for t in ax.texts] == ["no CI (one subject)"]
