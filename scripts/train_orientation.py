"""Train the upright check: is a detected face upright, or turned a quarter or half turn?

Usage::

    python scripts/train_orientation.py build    # crops into runs/orientation/data.npz
    python scripts/train_orientation.py train    # runs/orientation/best.pt (resumable)
    python scripts/train_orientation.py export   # src/mien/quality/weights/orientation_v2.*

A sideways or upside-down face (a photo whose orientation tag was lost, a person lying down)
is still found by BlazeFace, but its keypoints are placed as if the face were upright, so the
aligned crop holds a turned face and the expression model reads it with confidence: on 120 of
the ``media/faces`` photos turned a half turn, 39 of the 102 faces found got a committed label
(not abstained), 32 of them not the upright photo's label.

The check is a small CNN on the same 48 px grey aligned crop the quality measures read. Its
training crops are made the way the product makes them: each source image is turned by 0, 90,
180 or 270 degrees, then mien's own detector and aligner cut the crop; the class is the turn.
Sources (no expression label is used): FER2013 ``train`` crops, SMILEsmileD crops and the
Taiwanese performers outside fold 0 (the held-out performers), and (v2) copies of some of
them made small in a large frame (:func:`degrade`): v1, trained on crops at their own size,
called 43 % of the video frames of an upright 55 px face turned, as the detector's eye points
are less precise on a face small in a large frame. Validation: FER2013 ``val``, and such
copies of the Taiwanese performers of fold 0 (``val_small``); the epoch with the best mean
turn accuracy of the two is kept.
The 400 ``media/faces`` photos are never used here; ``benchmarks/upright_check.py`` tests on
them. Needs ``pip install -e .[train]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RUN = ROOT / "runs" / "orientation_v2"
WEIGHTS = ROOT / "src" / "mien" / "quality" / "weights"
NAME = "orientation_v2"
TURNS = (0, 90, 180, 270)
"""Class ``k`` holds faces turned ``TURNS[k]`` degrees clockwise from upright."""
CV2_TURN = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}
SIDE = 48
STEPS = ("build", "train", "export")
log = logging.getLogger("orientation")


def turn(image: np.ndarray, degrees: int) -> np.ndarray:
    """``image`` turned ``degrees`` (0, 90, 180 or 270) clockwise."""
    return image if degrees == 0 else cv2.rotate(image, CV2_TURN[degrees])


def degrade(image: np.ndarray, face_px: float, rng: np.random.Generator) -> np.ndarray:
    """``image`` as a face small in a large video frame: shrunk so that its face
    (``face_px`` wide) is 28-80 px wide, pasted at a random place into a blurred, noisy
    640x360 frame of a random colour, then JPEG-compressed at quality 30-90."""
    target = rng.uniform(28, 80)
    scale = min(1.0, target / max(face_px, 1.0))
    h, w = image.shape[:2]
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)[:359, :639]
    sh, sw = small.shape[:2]
    base = rng.integers(40, 200, 3)
    canvas = np.clip(base + rng.normal(0, 12, (360, 640, 3)), 0, 255).astype(np.uint8)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 3)
    y, x = int(rng.integers(0, 360 - sh)), int(rng.integers(0, 640 - sw))
    canvas[y : y + sh, x : x + sw] = small
    quality = int(rng.integers(30, 91))
    ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else canvas


def sources(
    seed: int, n_fer: int, n_smiles: int, small: tuple[int, int, int] = (2, 1500, 2000)
) -> dict[str, list[tuple[Path, bool]]]:
    """``(path, made small)`` by split: ``train`` (FER ``train``, smiles, Taiwanese folds 1-3,
    and :func:`degrade` copies of each Taiwanese image ``small[0]`` times, of ``small[1]``
    smiles and ``small[2]`` FER images), ``val`` (FER ``val``) and ``val_small`` (the Taiwanese
    fold 0 performers, each made small twice)."""
    """Image paths by split: ``train`` (FER ``train``, smiles, Taiwanese folds 1-3) and
    ``val`` (FER ``val``)."""
    rng = np.random.default_rng(seed)
    fer = list(csv.DictReader(open(DATA / "fer" / "labels.csv", newline="")))
    fer_train = [DATA / "fer" / r["path"] for r in fer if r["split"] == "train"]
    fer_val = [DATA / "fer" / r["path"] for r in fer if r["split"] == "val"]
    smiles = [
        DATA / "smiles" / r["path"]
        for r in csv.DictReader(open(DATA / "smiles" / "labels.csv", newline=""))
    ]
    folds = json.loads((ROOT / "src/mien/evaluation/subsets/taiwanese_folds.json").read_text())
    held_out = set(folds["folds"][0])
    taiwanese = list(csv.DictReader(open(DATA / "taiwanese" / "labels.csv", newline="")))
    tw = [DATA / "taiwanese" / r["path"] for r in taiwanese if r["subject"] not in held_out]
    tw_held = [DATA / "taiwanese" / r["path"] for r in taiwanese if r["subject"] in held_out]

    def pick(paths: list[Path], n: int) -> list[Path]:
        return [paths[i] for i in rng.permutation(len(paths))[:n]]

    fer_picked, smiles_picked = pick(fer_train, n_fer), pick(smiles, n_smiles)
    plain = fer_picked + smiles_picked + tw
    degraded = tw * small[0] + smiles_picked[: small[1]] + fer_picked[: small[2]]
    return {
        "train": [(p, False) for p in plain] + [(p, True) for p in degraded],
        "val": [(p, False) for p in pick(fer_val, n_fer // 5)],
        "val_small": [(p, True) for p in tw_held * 2],
    }


def build(args: argparse.Namespace) -> None:
    from mien.alignment import align_faces
    from mien.detection import MediaPipeFaceDetector
    from mien.io import read_image

    RUN.mkdir(parents=True, exist_ok=True)
    out: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(args.seed + 1)
    with MediaPipeFaceDetector("auto") as detector:
        for split, paths in sources(args.seed, args.n_fer, args.n_smiles).items():
            crops, labels, found = [], [], 0
            t0 = time.perf_counter()
            for i, (path, degraded) in enumerate(paths):
                image = read_image(path)
                if degraded:
                    up = detector.detect(image)
                    if not len(up):
                        continue
                    box = up.xyxy[int(np.argmax(up.area))]
                    image = degrade(image, float(box[2] - box[0]), rng)
                for k, degrees in enumerate(TURNS):
                    faces = detector.detect(turn(image, degrees))
                    if not len(faces):
                        continue
                    crop, _ = align_faces(
                        turn(image, degrees), faces[int(np.argmax(faces.area))], size=SIDE
                    )
                    crops.append(crop[0])
                    labels.append(k)
                    found += 1
                if i % 2000 == 0:
                    log.info("%s %d/%d %.0f s", split, i, len(paths), time.perf_counter() - t0)
            out[f"{split}_x"] = np.stack(crops)
            out[f"{split}_y"] = np.asarray(labels, np.int64)
            log.info(
                "%s: %d images x 4 turns, %d crops (per turn %s)",
                split,
                len(paths),
                found,
                np.bincount(out[f"{split}_y"], minlength=4).tolist(),
            )
    np.savez_compressed(RUN / "data.npz", **out)


def net():  # type: ignore[no-untyped-def]
    """About 70 k parameters: per-image standardisation, five 3×3 conv-BN-ReLU layers (16, 32,
    32, 64, 64 channels; stride 2 in the first, second and fourth), global average pooling, a
    linear layer to the 4 turns."""
    from torch import nn

    from mien.training.nets import Standardize

    def block(cin: int, cout: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
        )

    return nn.Sequential(
        Standardize(),
        block(1, 16, 2),
        block(16, 32, 2),
        block(32, 32, 1),
        block(32, 64, 2),
        block(64, 64, 1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, len(TURNS)),
    )


def train(args: argparse.Namespace) -> None:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = np.load(RUN / "data.npz")
    x_tr = torch.from_numpy(data["train_x"]).float()[:, None]
    y_tr = torch.from_numpy(data["train_y"])
    x_va = torch.from_numpy(data["val_x"]).float()[:, None]
    y_va = torch.from_numpy(data["val_y"])
    x_vs = torch.from_numpy(data["val_small_x"]).float()[:, None]
    y_vs = torch.from_numpy(data["val_small_y"])
    model = net()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = args.epochs * (len(x_tr) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    start, best = 0, -1.0
    ckpt = RUN / "last.pt"
    if ckpt.exists():
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start, best = state["epoch"] + 1, state["best"]
        log.info("resumed after epoch %d", start - 1)
    gen = torch.Generator().manual_seed(args.seed)
    for epoch in range(start, args.epochs):
        model.train()
        t0 = time.perf_counter()
        for idx in torch.randperm(len(x_tr), generator=gen).split(args.batch):
            if len(idx) < args.batch:
                continue
            # a mirrored face turned 90 degrees clockwise is turned 270: swap those labels
            xb, yb = x_tr[idx], y_tr[idx].clone()
            mirror = torch.rand(len(idx), generator=gen) < 0.5
            xb[mirror] = xb[mirror].flip(-1)
            quarter, three_quarter = mirror & (yb == 1), mirror & (yb == 3)
            yb[quarter], yb[three_quarter] = 3, 1
            loss = F.cross_entropy(model(_augment(xb, gen)), yb, label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc_f, upright = evaluate(model, x_va, y_va)
        acc_s, sm = evaluate(model, x_vs, y_vs)
        acc = (acc_f + acc_s) / 2
        log.info(
            "epoch %d loss %.3f val %.4f upright %.4f turned %.4f; val_small %.4f upright %.4f "
            "turned %.4f (%.0f s)",
            *(epoch, loss.item(), acc_f, upright[0], upright[1], acc_s, sm[0], sm[1]),
            time.perf_counter() - t0,
        )
        if acc > best:
            best = acc
            torch.save(
                {"model": model.state_dict(), "epoch": epoch, "val_acc": acc}, RUN / "best.pt"
            )
        torch.save(
            {
                "model": model.state_dict(),
                "opt": opt.state_dict(),
                "sched": sched.state_dict(),
                "epoch": epoch,
                "best": best,
            },
            ckpt,
        )
    (RUN / "config.json").write_text(json.dumps(vars(args), default=str, indent=1))


def _augment(x, gen):  # type: ignore[no-untyped-def]
    """Photometric and small geometric jitter that keeps the turn (no mirror: see train)."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]

    def u(lo: float, hi: float):  # type: ignore[no-untyped-def]
        return torch.rand(n, generator=gen) * (hi - lo) + lo

    a = u(-12, 12) * np.pi / 180
    s = u(0.9, 1.1)
    theta = torch.stack(
        [
            torch.stack([torch.cos(a) / s, -torch.sin(a) / s, u(-0.12, 0.12)], 1),
            torch.stack([torch.sin(a) / s, torch.cos(a) / s, u(-0.12, 0.12)], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    x = x * u(0.6, 1.4)[:, None, None, None] + u(-40, 40)[:, None, None, None]
    return x.clamp(0, 255)


def evaluate(model, x, y):  # type: ignore[no-untyped-def]
    """Accuracy over the 4 turns, and recall of upright / turned (any turn) at p(upright) ≥ 0.5."""
    import torch

    model.eval()
    with torch.no_grad():
        p = torch.cat([model(b).softmax(1) for b in x.split(1024)])
    acc = float((p.argmax(1) == y).float().mean())
    up = p[:, 0] >= 0.5
    return acc, (float(up[y == 0].float().mean()), float((~up[y != 0]).float().mean()))


def export(args: argparse.Namespace) -> None:
    import hashlib

    import torch

    state = torch.load(RUN / "best.pt")
    model = net()
    model.load_state_dict(state["model"])
    model.eval()
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    onnx_path = WEIGHTS / f"{NAME}.onnx"

    class Probs(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.m(x).softmax(1)

    torch.onnx.export(
        Probs(),
        torch.zeros(1, 1, SIDE, SIDE),
        onnx_path,
        input_names=["crops"],
        output_names=["turn_probabilities"],
        dynamic_axes={"crops": {0: "n"}, "turn_probabilities": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    data = np.load(RUN / "data.npz")
    acc, (up, turned) = evaluate(
        model, torch.from_numpy(data["val_x"]).float()[:, None], torch.from_numpy(data["val_y"])
    )
    acc_s, (up_s, turned_s) = evaluate(
        model,
        torch.from_numpy(data["val_small_x"]).float()[:, None],
        torch.from_numpy(data["val_small_y"]),
    )
    spec = {
        "name": NAME,
        "input": "(n, 1, 48, 48) float32 grey aligned crops, values 0-255",
        "output": "(n, 4) float32 probabilities of turns 0, 90, 180, 270 degrees clockwise",
        "turns_deg": list(TURNS),
        "sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "trained_epoch": state["epoch"],
        "val_fer_turn_accuracy": round(acc, 4),
        "val_fer_upright_recall": round(up, 4),
        "val_fer_turned_recall": round(turned, 4),
        "val_crops": len(data["val_y"]),
        "val_small_turn_accuracy": round(acc_s, 4),
        "val_small_upright_recall": round(up_s, 4),
        "val_small_turned_recall": round(turned_s, 4),
        "val_small_crops": len(data["val_small_y"]),
        "train_crops": len(data["train_y"]),
        "recipe": " && ".join(f"python scripts/train_orientation.py {step}" for step in STEPS),
        "config": json.loads((RUN / "config.json").read_text())
        if (RUN / "config.json").exists()
        else None,
    }
    (WEIGHTS / f"{NAME}.json").write_text(json.dumps(spec, indent=1) + "\n")
    log.info("wrote %s: %s", onnx_path, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("step", choices=STEPS)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-fer", type=int, default=6000, help="FER train images (val: a fifth)")
    ap.add_argument("--n-smiles", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    {"build": build, "train": train, "export": export}[args.step](args)


if __name__ == "__main__":
    main()
