"""Write ``<model>.seen.npz``: the fingerprints of the images a bundled model saw.

The training sets come from the model's own spec (its ``train_config`` and the configs of the
runs averaged into it); ``mien evaluate`` reads the file to say how many scored images the
model trained, tuned or chose itself on (:mod:`mien.evaluation.seen`).

    python scripts/seen_fingerprints.py fer_resnet_v3 --compared ../shared/media/faces

Run from the repository root (the spec's data folders are relative to it). About a minute for
the 30,000 images behind ``fer_resnet_v3`` on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mien.evaluation.seen import build_seen, fingerprint
from mien.io import read_image

WEIGHTS = Path(__file__).resolve().parents[1] / "src/mien/expression/weights"


def _rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


MAX_SIDE = [0]  # the longest side of any image fingerprinted


def _print(path: Path) -> int:
    image = read_image(path)
    MAX_SIDE[0] = max(MAX_SIDE[0], *image.shape[:2])
    return fingerprint(image)


def _fingerprints(folder: Path, rows: Iterable[dict[str, str]]) -> list[int]:
    return [_print(folder / r["path"]) for r in rows]


def _configs(spec: dict) -> list[dict]:
    """The run behind the weights and every run averaged into them."""
    config = spec["train_config"]
    return [config, *config.get("soup_of", [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="bundled model name, e.g. fer_resnet_v3")
    parser.add_argument(
        "--compared",
        type=Path,
        nargs="*",
        default=[],
        help="labelled folders scored when choosing among candidate models (besides the "
        "Taiwanese held-out performers, which the config names)",
    )
    args = parser.parse_args()
    spec = json.loads((WEIGHTS / f"{args.model}.json").read_text())
    groups: dict[str, set[int]] = {"trained": set(), "tuned": set(), "compared": set()}
    starts = sorted({c["init_from"] for c in _configs(spec) if c.get("init_from")})
    if starts:
        print(f"note: runs start from {starts}; their data must be among these configs' data")
    for config in _configs(spec):
        fer = Path(config["fer_dir"])
        rows = _rows(fer)
        groups["trained"] |= set(_fingerprints(fer, (r for r in rows if r["split"] == "train")))
        groups["tuned"] |= set(_fingerprints(fer, (r for r in rows if r["split"] == "val")))
        if config.get("taiwanese_dir"):
            tw = Path(config["taiwanese_dir"])
            held = set(config.get("taiwanese_val_subjects") or ())
            for r in _rows(tw):
                kind = "compared" if r["subject"] in held else "trained"
                groups[kind].add(_print(tw / r["path"]))
        if config.get("smiles_dir"):
            smiles = Path(config["smiles_dir"])
            groups["trained"] |= set(_fingerprints(smiles, _rows(smiles)))
    for folder in args.compared:
        groups["compared"] |= set(_fingerprints(folder, _rows(folder)))
    seen = build_seen({k: list(v) for k, v in groups.items()}, args.model, MAX_SIDE[0])
    out = WEIGHTS / f"{args.model}.seen.npz"
    np.savez_compressed(
        out,
        fingerprints=seen.fingerprints,
        kinds=seen.kinds,
        sha256=np.asarray(spec["sha256"]),
        max_side=np.asarray(seen.max_side),
    )
    counts = {k: int((seen.kinds == c).sum()) for c, k in enumerate(groups, start=1)}
    print(
        f"{out}: {len(seen.fingerprints)} images {counts}, longest side {seen.max_side} px, "
        f"{out.stat().st_size / 1e3:.0f} kB"
    )


if __name__ == "__main__":
    main()
