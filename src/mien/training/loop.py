"""The training loop: seeded, one-cycle SGD, weight EMA, model selection on ``val`` only.

Writes to ``cfg.out``: ``config.yaml`` (resolved), ``summary.csv`` (one row per epoch),
``train.log``, ``last.pt`` (resumable), ``best.pt`` (EMA weights with the best FER+ ``val``
accuracy) and ``timing.json`` (wall time).
"""

from __future__ import annotations

import copy
import csv
import json
import logging
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mien.training.augment import augment
from mien.training.config import TrainConfig
from mien.training.data import (
    ArraySet,
    balanced_weights,
    load_fer,
    load_fer_clean_mask,
    load_smiles,
    load_taiwanese,
)
from mien.training.nets import build_from_config
from mien.types import EXPRESSIONS

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, images: np.ndarray, *, flip: bool = False, batch: int = 512
) -> np.ndarray:
    """``(n, K)`` float32 logits for ``(n, 48, 48)`` uint8 crops (mean over a flip if asked)."""
    model.eval()
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i : i + batch]).float().unsqueeze(1)
        logits = model(x)
        if flip:
            logits = (logits + model(torch.flip(x, dims=[3]))) / 2
        out.append(logits.float())
    return torch.cat(out).numpy()


HAPPINESS = EXPRESSIONS.index("happiness")


def soft_target_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy against ``(n, K)`` target distributions.

    A row whose target is all zeros (a SMILEsmileD non-smile) says only "not happiness" and
    costs ``-log(1 - p_happiness)`` instead.
    """
    logp = F.log_softmax(logits, dim=1)
    ce = -(targets * logp).sum(1)
    p_happy = logp[:, HAPPINESS].exp().clamp(max=1 - 1e-6)
    not_happy = -torch.log1p(-p_happy)
    return torch.where(targets.sum(1) > 0, ce, not_happy).mean()


def _lr_at(step: int, total: int, warmup: int, peak: float) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def train(cfg: TrainConfig, *, resume: bool = False) -> Path:
    """Train per ``cfg``; returns the run folder. See the module docstring for its files."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.getLogger("mien").addHandler(handler)
    logging.getLogger("mien").setLevel(logging.INFO)
    import yaml

    (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    torch.set_num_threads(cfg.threads)
    gen = seed_everything(cfg.seed)
    t_start = time.time()

    train_set = load_fer(cfg.fer_dir, "train", vote_weight=cfg.vote_weight)
    val = load_fer(cfg.fer_dir, "val", vote_weight=cfg.vote_weight)
    clean = load_fer_clean_mask(cfg.fer_dir, "val")
    tw_val: ArraySet | None = None
    if cfg.taiwanese_dir and Path(cfg.taiwanese_dir).exists():
        tw_train, tw_val = load_taiwanese(
            cfg.taiwanese_dir,
            val_subjects=cfg.taiwanese_val_subjects,
            observer_weight=cfg.taiwanese_observer_weight,
        )
        train_set = ArraySet.concat([train_set] + [tw_train] * max(1, cfg.taiwanese_repeat))
    if cfg.smiles_dir:
        train_set = ArraySet.concat([train_set, load_smiles(cfg.smiles_dir)])
    if cfg.limit_train:
        train_set = train_set.subset(np.arange(min(cfg.limit_train, len(train_set))))
    log.info(
        "data: train %d, val %d (clean %d), taiwanese val %d, loaded in %.0f s",
        len(train_set),
        len(val),
        int(clean.sum()),
        0 if tw_val is None else len(tw_val),
        time.time() - t_start,
    )

    model = build_from_config(cfg, len(EXPRESSIONS))
    if cfg.init_from:
        model.load_state_dict(torch.load(cfg.init_from, weights_only=False)["ema"])
        log.info("initialised from %s", cfg.init_from)
    model = model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval()
    decay, no_decay = [], []
    for _name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        momentum=cfg.momentum,
        nesterov=True,
    )
    steps_per_epoch = len(train_set) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    start_epoch, best_acc, step = 0, -1.0, 0
    if resume and (out / "last.pt").exists():
        state = torch.load(out / "last.pt", weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        start_epoch, best_acc, step = state["epoch"] + 1, state["best_acc"], state["step"]
        t_start -= state["elapsed_s"]
        log.info("resumed at epoch %d", start_epoch)

    images = torch.from_numpy(train_set.images).unsqueeze(1)
    targets = torch.from_numpy(train_set.targets)
    sample_weights = (
        torch.from_numpy(balanced_weights(train_set.labels, cfg.class_balance))
        if cfg.class_balance > 0
        else None
    )
    summary = out / "summary.csv"
    if start_epoch == 0:
        with open(summary, "w", newline="") as f:
            csv.writer(f).writerow(
                [
                    "epoch",
                    "lr",
                    "train_loss",
                    "val_acc",
                    "val_acc_flip",
                    "val_clean_acc",
                    "taiwanese_val_acc",
                    "epoch_s",
                    "elapsed_s",
                ]
            )
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.time()
        model.train()
        order = (
            torch.randperm(len(train_set), generator=gen)
            if sample_weights is None
            else torch.multinomial(sample_weights, len(train_set), True, generator=gen)
        )
        losses = []
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            x = augment(images[idx].float(), cfg, gen).contiguous(memory_format=torch.channels_last)
            lr = _lr_at(step, total, warmup, cfg.lr)
            for g in opt.param_groups:
                g["lr"] = lr
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = model(x)
            loss = soft_target_loss(logits.float(), targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            d = min(cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(
                    ema.state_dict().values(), model.state_dict().values(), strict=True
                ):
                    if pe.dtype.is_floating_point:
                        pe.mul_(d).add_(pm.detach(), alpha=1 - d)
                    else:
                        pe.copy_(pm)
            losses.append(loss.item())
        val_logits = predict_logits(ema, val.images)
        acc = _accuracy(val_logits, val.labels)
        acc_flip = _accuracy(predict_logits(ema, val.images, flip=True), val.labels)
        acc_clean = _accuracy(val_logits[clean], val.labels[clean])
        tw_acc = (
            float("nan")
            if tw_val is None
            else _accuracy(predict_logits(ema, tw_val.images), tw_val.labels)
        )
        elapsed = time.time() - t_start
        with open(summary, "a", newline="") as f:
            csv.writer(f).writerow(
                [
                    epoch,
                    f"{lr:.5f}",
                    f"{np.mean(losses):.4f}",
                    f"{acc:.4f}",
                    f"{acc_flip:.4f}",
                    f"{acc_clean:.4f}",
                    f"{tw_acc:.4f}",
                    f"{time.time() - t0:.1f}",
                    f"{elapsed:.0f}",
                ]
            )
        log.info(
            "epoch %d loss %.4f val %.4f flip %.4f clean %.4f tw %.4f (%.0f s)",
            epoch,
            np.mean(losses),
            acc,
            acc_flip,
            acc_clean,
            tw_acc,
            time.time() - t0,
        )
        if acc > best_acc:
            best_acc = acc
            torch.save(
                {"ema": ema.state_dict(), "epoch": epoch, "val_acc": acc, "config": cfg.to_dict()},
                out / "best.pt",
            )
        torch.save(
            {
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "opt": opt.state_dict(),
                "gen": gen.get_state(),
                "epoch": epoch,
                "best_acc": best_acc,
                "step": step,
                "elapsed_s": elapsed,
            },
            out / "last.pt",
        )
    wall = time.time() - t_start
    (out / "timing.json").write_text(
        json.dumps({"train_wall_s": round(wall, 1), "best_val_acc": best_acc}, indent=2)
    )
    log.info("done in %.1f min, best val acc %.4f", wall / 60, best_acc)
    logging.getLogger("mien").removeHandler(handler)
    return out


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())
