"""``mien evaluate --report DIR``: a Markdown audit report with PNG figures.

Figures per dataset: row-normalised confusion matrix, reliability diagram (15 bins),
accuracy against coverage when abstaining on low confidence, and per-slice accuracy bars with
their 95 % intervals. Several datasets get a side-by-side table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from mien.evaluation.runner import EvalReport

MARKER = (
    "<!-- written by mien evaluate --report: when it writes a report into this folder again, "
    "mien removes the figures this report names -->"
)
"""First line of every report: only a ``report.md`` that starts with it is replaced (with its
figures); any other ``report.md`` in the folder is the user's and is refused."""

FIGURE_NAME = re.compile(
    r"^[A-Za-z0-9_]+_(confusion|reliability|coverage|slices_[A-Za-z0-9_]+)\.png$"
)
"""The names :func:`write_report` gives its figures (the only files it ever removes)."""


def foreign_report(out_dir: str | Path) -> str | None:
    """Why ``out_dir`` cannot take a report (a ``report.md`` that mien did not write), or
    ``None``."""
    md = Path(out_dir) / "report.md"
    if md.is_file():
        with open(md, encoding="utf-8", errors="replace") as f:
            first = f.readline().rstrip("\n")
        if first != MARKER:
            return (
                f"{md} exists and was not written by mien evaluate (0.2.16 or later): "
                "give another --report folder, or move that file away"
            )
    elif md.exists():
        return f"{md} exists and is not a file: give another --report folder"
    return None


def _cell(text: object) -> str:
    """``text`` for a Markdown table cell (a ``|`` would end the cell; ``<`` and ``&`` would
    start HTML a renderer obeys)."""
    return (
        str(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("|", "\\|")
        .replace("\n", " ")
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60] or "set"


def _figure_names(names: list[str]) -> dict[str, str]:
    """A distinct file-name stem per set: its folder's name, the whole path where two clash,
    then a counter where the slugs still clash (``a.b`` and ``a_b`` give one slug)."""
    short = {name: _slug(Path(name).name) for name in names}
    stems = {n: s if list(short.values()).count(s) == 1 else _slug(n) for n, s in short.items()}
    out: dict[str, str] = {}
    for name in names:
        stem, k = stems[name], 1
        while (stem if k == 1 else f"{stem}_{k}") in out.values():
            k += 1
        out[name] = stem if k == 1 else f"{stem}_{k}"
    return out


def _fmt(value: float | None, ci: list[float] | None = None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def confusion_figure(report: EvalReport):
    from matplotlib.figure import Figure

    cm = np.asarray(report.confusion["matrix"], float)
    missing = np.asarray(report.confusion["no_prediction"], float)[:, None]
    columns = list(report.labels)
    if missing.any():  # rows then sum to 1 with the images that got no prediction
        cm = np.hstack([cm, missing])
        columns.append("no prediction")
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    k, m = len(report.labels), len(columns)
    fig = Figure(figsize=(1.0 + 0.75 * m, 0.8 + 0.7 * k), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(range(m), columns, rotation=45, ha="right")
    ax.set_yticks(range(k), report.labels)
    ax.set_xlabel("predicted (perceived)")
    ax.set_ylabel("labelled")
    for i in range(k):
        for j in range(m):
            ax.text(
                j,
                i,
                f"{norm[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[i, j] > 0.5 else "black",
            )
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of the row")
    return fig


def reliability_figure(report: EvalReport, n_bins: int = 15):
    from matplotlib.figure import Figure

    y, p, probs = report.items["y_true"], report.items["y_pred"], report.items["probs"]
    has = p >= 0
    conf = np.nan_to_num(probs[has]).max(axis=1)
    correct = (p[has] == y[has]).astype(float)
    edges = np.linspace(0, 1, n_bins + 1)
    b = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    acc = np.array([correct[b == i].mean() if (b == i).any() else np.nan for i in range(n_bins)])
    count = np.bincount(b, minlength=n_bins)
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax, ax2 = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    ax.bar(
        edges[:-1], acc, width=1 / n_bins, align="edge", edgecolor="k", alpha=0.7, label="accuracy"
    )
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {_fmt(report.ece)})", fontsize=10)
    ax.legend(fontsize=8)
    ax2.bar(edges[:-1], count, width=1 / n_bins, align="edge", color="grey")
    ax2.set_xlabel("top probability (confidence)")
    ax2.set_ylabel("images")
    return fig


def coverage_figure(report: EvalReport):
    from matplotlib.figure import Figure

    y, p, probs = report.items["y_true"], report.items["y_pred"], report.items["probs"]
    has = p >= 0  # images without a prediction are in neither the curve nor mien's point
    conf = np.nan_to_num(probs[has]).max(axis=1)
    order = np.argsort(-conf, kind="stable")
    correct = (p[has] == y[has])[order]
    kept = np.arange(1, len(order) + 1)
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    if len(order):
        ax.plot(
            kept / len(order), np.cumsum(correct) / kept, label="threshold on the top probability"
        )
    a = report.abstention
    if a and a["accuracy_kept"] is not None:  # mien's own rule and output, over all labels
        quality = ", or quality" if a["quality_checked"] else ""
        ax.plot(
            a["coverage"],
            a["accuracy_kept"],
            "o",
            color="C3",
            label=f"mien's abstention (top probability < {a['threshold']:g}{quality}; "
            "its output over all labels)",
        )
    ax.set_xlabel("coverage (share of the images with a prediction kept)")
    ax.set_ylabel("accuracy on the faces kept")
    ax.set_title("accuracy vs coverage when abstaining on low confidence", fontsize=10)
    if ax.get_legend_handles_labels()[0]:  # nothing drawn when no image got a prediction
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def slice_figure(name: str, table: dict, unit: str | None = None):
    """Per-slice accuracy bars with their 95 % intervals; with ``unit`` (the ``--cluster``
    column) the slices' ``by_cluster`` mean over persons and its interval, as the report's
    table gives them."""
    from matplotlib.figure import Figure

    slices = table["slices"]
    keys = list(slices)

    def point(k: str) -> tuple[float, list[float] | None]:
        s = slices[k]
        if unit is not None and "by_cluster" in s:
            return s["by_cluster"]["mean"], s["by_cluster"]["ci"]
        return s["accuracy"], s["ci"]

    acc = np.array([point(k)[0] for k in keys], dtype=float)
    lo = np.array([(point(k)[1] or [a, a])[0] for k, a in zip(keys, acc, strict=True)])
    hi = np.array([(point(k)[1] or [a, a])[1] for k, a in zip(keys, acc, strict=True)])
    fig = Figure(figsize=(max(4.0, 0.6 * len(keys) + 2), 3.5), layout="constrained")
    ax = fig.subplots()
    err = [np.clip(acc - lo, 0, None), np.clip(hi - acc, 0, None)]  # never negative
    in_gap = np.array([slices[k].get("in_gap", True) for k in keys], bool)
    x = np.arange(len(keys))
    ax.bar(x[in_gap], acc[in_gap], yerr=[e[in_gap] for e in err], capsize=3, color="C0", alpha=0.8)
    if (~in_gap).any():  # too small, blank or unmeasured: drawn, but not like the others
        ax.bar(
            x[~in_gap],
            acc[~in_gap],
            yerr=[e[~in_gap] for e in err],
            capsize=3,
            color="0.85",
            edgecolor="0.5",
            hatch="//",
            label=f"not in the gap (n < {table.get('min_n', '?')}, blank or unmeasured)",
        )
        ax.legend(fontsize=7, loc="lower right")
    for i, k in enumerate(keys):
        if point(k)[1] is None and np.isfinite(acc[i]):
            why = "one " + unit if unit is not None and "by_cluster" in slices[k] else "n/a"
            ax.annotate(f"no CI ({why})", (i, acc[i]), ha="center", va="bottom", fontsize=6)
    persons = [
        f", {unit} n={slices[k]['by_cluster']['n_clusters']}" if "by_cluster" in slices[k] else ""
        for k in keys
    ]
    ax.set_xticks(
        range(len(keys)),
        [f"{k}\nn={slices[k]['n']}{p}" for k, p in zip(keys, persons, strict=True)],
        fontsize=7,
        rotation=30 if len(keys) > 5 else 0,
    )
    ax.set_ylim(0, 1)
    drawn = " (95 % CI)" if any(point(k)[1] for k in keys) else ""
    ax.set_ylabel(f"accuracy{drawn}" if unit is None else f"mean accuracy per {unit}{drawn}")
    ax.set_title(name, fontsize=10)
    return fig


def _gap_test_text(test: dict[str, Any] | None) -> str:
    """The permutation test of a slice table's gaps, as a sentence (empty without a test)."""
    if not test:
        return ""
    if test["p_gap"] is None:
        return f". No permutation test: {test['reason']}"
    what = {
        "image": "images between slices",
        "person": "persons between slices",
        "image within person": "each person's images among that person's slices",
        "person and image within person": "persons in one slice between slices, and the "
        "images of persons in several among their own",
    }[test["unit"]]

    note = {
        "image": " (images shuffled only among those of one label)",
        "person": "",  # a person moves with their labels
        "image within person": " (only among a person's images of one label)",
        "person and image within person": " (within persons, only among images of one label)",
    }[test["unit"]]

    exact = test.get("exact") or {}

    def p(value: float, key: str) -> str:
        if exact.get(key):
            return f"{value:.2g} (exact)"
        floor = 1 / (1 + test["n_perm"])
        return f"{value:.2g} (no shuffle reached it)" if value <= floor * 1.0001 else f"{value:.2g}"

    floors = test.get("p_floor") or {}
    gap_floor, beyond_floor = floors.get("gap", 0.0), floors.get("beyond_label_mix", 0.0)
    few = ""
    if max(gap_floor, beyond_floor) >= 0.001:
        few = (
            f". With this few units to shuffle no p below {gap_floor:.2g} is possible for the "
            f"gap ({beyond_floor:.2g} beyond the label mix), however large it is"
        )
    if exact.get("gap") and exact.get("beyond_label_mix"):
        how = f"every one of the {exact['gap']} ways to assign {what}"
        if exact["beyond_label_mix"] != exact["gap"]:
            how += f" ({exact['beyond_label_mix']} beyond the label mix)"
    else:
        how = f"{test['n_perm']} shuffles of {what}"
    gap_p = p(test["p_gap"], "gap")
    beyond_p = p(test["p_beyond_label_mix"], "beyond_label_mix")
    return (
        f". Permutation test ({how}): p = {gap_p} for the gap, {beyond_p} beyond the label "
        f"mix{note}; a small p says a gap this large is rare when the slices do not differ{few}"
    )


def _remove_old_figures(md: Path) -> None:
    """Delete the ``.png`` figures beside ``md`` that its image links name, where ``md`` is a
    report mien wrote (:data:`MARKER`) and the name is one mien gives (:data:`FIGURE_NAME`)."""
    if not md.is_file() or foreign_report(md.parent):
        return
    for name in re.findall(r"!\[[^\]]*\]\(([^()/\\]+\.png)\)", md.read_text(errors="replace")):
        if FIGURE_NAME.match(name):
            (md.parent / name).unlink(missing_ok=True)


def write_report(
    reports: dict[str, EvalReport],
    out_dir: str | Path,
    *,
    title: str = "mien audit",
    notes: dict[str, str] | None = None,
) -> Path:
    """Write ``report.md`` and its figures into ``out_dir``; returns the Markdown path.

    ``notes`` adds a paragraph under a set's heading (by the set's key in ``reports``), e.g.
    how its labels were mapped onto mien's. The figures an earlier ``report.md`` in
    ``out_dir`` names are removed first (a set or slice it had and this one has not left its
    figures beside the new report); no other file is touched.

    Raises:
        FileExistsError: ``out_dir`` holds a ``report.md`` that mien did not write
            (:func:`foreign_report`); nothing is written.
    """
    out = Path(out_dir)
    if problem := foreign_report(out):
        raise FileExistsError(problem)
    out.mkdir(parents=True, exist_ok=True)
    _remove_old_figures(out / "report.md")
    with_ci = any(r.ci for r in reports.values())
    intervals = (
        "Accuracy, per-class recall and slice accuracies get 95 % Wilson score intervals, "
        "which stay honest for small n; macro-F1 and ECE 95 % percentile-bootstrap intervals "
        "over images, which collapse to a point when every resample scores alike. "
        if with_ci
        else "No intervals were computed (bootstrap 0): treat every figure as a point estimate. "
    )
    lines = [
        MARKER,
        "",
        f"# {title}",
        "",
        "Perceived-expression accuracy: how often the model's top label matches the label "
        f"people gave the face. Macro-F1 averages over the labels each set contains. {intervals}"
        "These numbers describe how faces *look* to annotators, not what anyone felt.",
        "",
    ]
    header = "| set | mode | n | accuracy | macro-F1 | ECE (15 bins) | no face | failed |"
    lines += ["## Overview", "", header, "|---|---|---|---|---|---|---|---|"]
    for name, r in reports.items():
        lines.append(
            f"| {_cell(name)} | {r.mode} | {r.n} | {_fmt(r.accuracy, r.ci.get('accuracy'))} | "
            f"{_fmt(r.macro_f1, r.ci.get('macro_f1'))} | {_fmt(r.ece, r.ci.get('ece'))} | "
            f"{len(r.no_face)} | {len(r.failed)} |"
        )
    slugs = _figure_names(list(reports))
    taken: set[str] = set()  # "age group" and "age_group" give one slug: count on
    for name, r in reports.items():
        slug = slugs[name]
        lines += ["", f"## {name}", ""]
        if (notes or {}).get(name):
            lines += [notes[name], ""]
        if r.by_cluster:
            c = r.by_cluster
            lines += [
                f"With the `{c['column']}` as the unit (images of one person are not "
                f"independent): accuracy {_fmt(c['mean'], c['ci'])}, the mean of "
                f"{c['n_clusters']} per-`{c['column']}` accuracies (interval: Student t over "
                "them, never narrower than Wilson over the images; Wilson with them as n when "
                "all score alike)"
                + (
                    f"; {c['n_unassigned']} image(s) with no `{c['column']}` left out"
                    if c["n_unassigned"]
                    else ""
                )
                + ".",
                "",
            ]
        if r.labels_restricted:
            lines += [
                f"Scored over the {len(r.labels)} labels this set contains "
                f"({', '.join(r.labels)}); "
                "the model's probabilities were renormalised over them, which makes the task "
                "easier than the model's full label set (`--all-labels` scores over all of "
                "them, as `mien analyze` outputs).",
                "",
            ]
        a = r.abstention
        if a:
            quality = ", or `quality_ok` false" if a["quality_checked"] else ""
            lines += [
                f"mien's abstention (top probability over all the model's labels below "
                f"{a['threshold']:g}{quality}) keeps {a['n_kept']} of "
                f"{a['n_kept'] + a['n_abstained']} faces with a prediction "
                f"({a['coverage']:.3f}"
                + (
                    f"; {a['n_no_prediction']} image(s) without one are in neither"
                    if a.get("n_no_prediction")
                    else ""
                )
                + "). Its output (the top label over all the model's labels, "
                f"as `mien analyze` gives it) is right on {_fmt(a['accuracy_kept'])} of those "
                f"kept and {_fmt(a['accuracy_abstained'])} of those abstained.",
                "",
            ]
        lines += ["| label | recall | n |", "|---|---|---|"]
        support = np.asarray(r.confusion["matrix"]).sum(axis=1) + np.asarray(
            r.confusion["no_prediction"]
        )
        for label, n_label in zip(r.labels, support, strict=True):
            ci = (r.ci.get("per_class_recall") or {}).get(label)
            lines.append(f"| {label} | {_fmt(r.per_class_recall[label], ci)} | {n_label} |")
        figures = [("confusion", confusion_figure(r), "Confusion matrix (rows normalised)")]
        if r.items:
            figures += [
                ("reliability", reliability_figure(r), "Reliability diagram"),
                ("coverage", coverage_figure(r), "Accuracy vs coverage"),
            ]
        for key, fig, caption in figures:
            path = out / f"{slug}_{key}.png"
            fig.savefig(path, dpi=100)
            lines += ["", f"![{caption}]({path.name})"]
        for column, table in r.slices.items():
            gap = f"Worst-slice gap (slices with n ≥ {table['min_n']}, blank values left out): "
            gap += (
                _fmt(table["worst_gap"])
                if table["worst_gap"] is not None
                else f"none (fewer than two slices with n ≥ {table['min_n']}"
                + (
                    ", blank values and unmeasured bins not counted"
                    if any(
                        not v.get("in_gap", True) and v["n"] >= table["min_n"]
                        for v in table["slices"].values()
                    )
                    else ""
                )
                + "; `--min-slice-n` sets that n)"
            )
            if table.get("worst_gap_between"):
                best, worst = table["worst_gap_between"]
                gap += f", {_cell(best)} against {_cell(worst)}"
            if table["worst_gap"] is not None:
                gap += (
                    "; beyond what each slice's label mix explains: "
                    f"{_fmt(table['worst_gap_beyond_label_mix'])}"
                )
            gap += _gap_test_text(table.get("gap_test"))
            clustered = any("by_cluster" in s for s in table["slices"].values())
            head = (
                "| slice | n | no prediction | accuracy [95 % CI] | balanced "
                "| expected from label mix |"
            )
            rule = "|---|---|---|---|---|---|"
            if clustered:
                head += f" by {r.by_cluster['column']} (mean [95 % CI], count) |"
                rule += "---|"
            lines += [
                "",
                f"### Slices by `{column}`",
                "",
                gap + ".",
                "",
                "*Expected from label mix*: the slice's accuracy if each of its labels were "
                "recognised as well as in the whole set. A slice whose accuracy is near it "
                "differs from the others by its labels, not by how its faces are read. "
                "*No prediction*: images where no face was found or that could not be read; "
                "they count as wrong."
                + (
                    f" †: not in the gap (fewer than {table['min_n']} images, blank or "
                    "unmeasured); its accuracy rests on few images."
                    if any(not s.get("in_gap", True) for s in table["slices"].values())
                    else ""
                ),
                "",
                head,
                rule,
            ]
            for value, s in table["slices"].items():
                mark = "" if s.get("in_gap", True) else " †"
                row = (
                    f"| {_cell(value)}{mark} | {s['n']} | {s['no_prediction']} | "
                    f"{_fmt(s['accuracy'], s['ci'])} | "
                    f"{_fmt(s['balanced_accuracy'])} | {_fmt(s['expected_accuracy'])} |"
                )
                if clustered:
                    c = s["by_cluster"]
                    row += f" {_fmt(c['mean'], c['ci'])}, {c['n_clusters']} |"
                lines.append(row)
            stem, k = f"{slug}_slices_{_slug(column)}", 1
            while (stem if k == 1 else f"{stem}_{k}") in taken:
                k += 1
            stem = stem if k == 1 else f"{stem}_{k}"
            taken.add(stem)
            path = out / f"{stem}.png"
            unit = r.by_cluster["column"] if r.by_cluster else None
            slice_figure(f"{name} by {column}", table, unit).savefig(path, dpi=100)
            lines += ["", f"![accuracy by {column}]({path.name})"]
    md = out / "report.md"
    md.write_text("\n".join(lines) + "\n")
    return md
