"""``mien model-card``: evaluate a model on the protocol and write its card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mien.evaluation.runner import EvalReport
from mien.model_card.measure import calibration_table, performer_intervals, quality_table
from mien.model_card.render import render


def write_model_card(
    analyzer: Any,
    shared: str | Path,
    out: str | Path,
    *,
    n_boot: int = 1000,
    limit: int | None = None,
    weights_dir: Path | None = None,
) -> tuple[Path, dict[str, EvalReport]]:
    """Evaluate ``analyzer`` on the protocol and write its card to ``out``.

    Args:
        analyzer: a :class:`mien.pipeline.Analyzer` holding the weights to describe.
        shared: the folder with ``data/`` and ``media/`` (``../shared``).
        out: the Markdown file to write.
        n_boot: bootstrap resamples for every interval.
        limit: score at most this many images per set (a quick check; the card says so).
        weights_dir: where ``<name>.ablation.json`` and ``<name>.folds.json`` are looked for
            (default: beside the weights).

    Returns:
        The path written and the protocol's reports by set name.

    Protocol sets missing under ``shared`` are left out of the card, except FER+ ``val``,
    which the calibration table needs: without it the errors of
    :func:`mien.evaluation.datasets.read_labels_csv` propagate.
    """
    from mien.evaluation.protocol import limited, observer_reference, protocol_sets
    from mien.evaluation.runner import evaluate

    shared = Path(shared)
    spec = analyzer.expression.spec
    sets = protocol_sets(shared)
    data = {s.name: limited(s.dataset, limit) for s in sets}
    reports = {
        s.name: evaluate(
            analyzer,
            data[s.name],
            detect=s.detect,
            n_boot=n_boot,
            by=s.by,
            labels=sorted(set(s.dataset.labels)),  # the whole set's, also for a --limit subset
        )
        for s in sets
    }
    calibration = calibration_table(
        analyzer.expression, shared / "data" / "fer", n_boot=n_boot, limit=limit
    )
    weights_dir = weights_dir or analyzer.expression.path.parent  # beside the weights used
    ablation_file = weights_dir / f"{spec.name}.ablation.json"
    ablation = json.loads(ablation_file.read_text()) if ablation_file.is_file() else None
    folds_file = weights_dir / f"{spec.name}.folds.json"
    folds = json.loads(folds_file.read_text()) if folds_file.is_file() else None
    text = render(
        spec,
        reports,
        calibration,
        quality_table(reports, analyzer.thresholds),
        ablation,
        analyzer.thresholds,
        analyzer.expression.path,
        limit,
        observer_reference(shared) if "taiwanese_heldout" in reports else None,
        performer_intervals(
            reports,
            {name: d.columns["subject"] for name, d in data.items() if "subject" in d.columns},
        ),
        folds,
    )
    out = Path(out)
    out.write_text(text)
    return out, reports
