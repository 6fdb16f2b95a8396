"""Collect cross-validation-by-performer results into ``<weights>/<name>.folds.json`` (the card).

Usage: python scripts/folds_table.py OUT.json ARM=CHANGE=RESULT.json [...]

Each argument names a recipe (arm), what it changes (may hold "="), and the JSON written by
``benchmarks/performer_folds.py --json`` for that arm's fold models. The per-photo outcomes are
left out. Every arm must cover the same folds and photos with models of its own (not the
bundled one); the observers' reference, the same for all, is taken from the first.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def summary(pooled: dict[str, Any]) -> dict[str, Any]:
    """The figures the card prints from one ``pool_folds`` result (6 decimals, so that the
    card's 3 are rounded once)."""
    g = pooled["by_performer"]
    return {
        "n": pooled["n"],
        "performers": g["n_groups"],
        "accuracy": round(pooled["accuracy"], 6),
        "by_performer": round(g["mean"], 6),
        "by_performer_ci": [round(v, 6) for v in g["ci"]],
        "per_fold": {k: round(v["accuracy"], 6) for k, v in pooled["per_fold"].items()},
        "per_class_recall": {
            k: [round(r, 6), n] for k, (r, n) in pooled["per_class_recall"].items()
        },
    }


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    out, *items = sys.argv[1:]
    arms, observers = [], None
    for item in items:
        run, rest = item.split("=", 1)
        change, path = rest.rsplit("=", 1)
        result = json.loads(Path(path).read_text())
        if "bundled" in result["weights"]:
            raise SystemExit(f"{path}: scored the bundled model, which saw folds 1-3")
        if arms and (result["folds"], result["intended"]["n"]) != (
            arms[0]["folds"],
            arms[0]["intended"]["n"],
        ):
            raise SystemExit(f"{path}: other folds or photos than {items[0]}")
        arms.append(
            {
                "run": run,
                "change": change,
                "folds": result["folds"],
                "intended": summary(result["intended"]),
                "perceived": summary(result["perceived"]),
            }
        )
        observers = observers or summary(result["observers"])
    text = json.dumps({"arms": arms, "observers": observers}, indent=2) + "\n"
    Path(out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
