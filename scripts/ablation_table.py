"""Collect cross-dataset protocol results into ``<weights>/<name>.ablation.json`` (for the card).

Usage: python scripts/ablation_table.py OUT.json RUN=CHANGE=RESULTS.json[,MORE.json] [...]

Each argument names a run, the change it tests, and the JSON written by
``benchmarks/cross_dataset.py --json`` for that run's export (several, comma-separated, are
merged: e.g. a later ``--sets`` run that adds one set).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    out, *items = sys.argv[1:]
    rows = []
    for item in items:
        run, change, path = item.split("=", 2)
        reports = {}
        for one in path.split(","):
            reports.update(json.loads(Path(one).read_text()))
        rare = reports["fer_val"]["per_class_recall"]
        rows.append(
            {
                "run": run,
                "change": change,
                **{k: round(v["accuracy"], 4) for k, v in reports.items() if "accuracy" in v},
                "fer_val_recall": {
                    k: round(rare[k], 4) for k in ("fear", "disgust", "contempt") if k in rare
                },
            }
        )
    Path(out).write_text(json.dumps(rows, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
