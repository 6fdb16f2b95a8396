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
from mien.training.data import balanced_weights, load_training_data
from mien.training.nets import build_from_config, load_network
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
    """``(n, K)`` float32 logits for ``(n, S, S)`` uint8 crops (mean over a flip if asked),
    computed on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(images[i : i + batch]).float().unsqueeze(1).to(device)
        logits = model(x)
        if flip:
            logits = (logits + model(torch.flip(x, dims=[3]))) / 2
        out.append(logits.float().cpu())
    return torch.cat(out).numpy()


def load_teacher(
    checkpoint: str | Path, device: torch.device, input_size: int | None = None
) -> torch.nn.Module:
    """A checkpoint's EMA network in eval mode on ``device`` (its own config gives the
    architecture, so a teacher may be wider or upsample its input).

    Raises:
        ValueError: ``input_size`` is given and the teacher was trained on crops of another
            size (it would see crops it never learned from).
    """
    net, cfg = load_network(checkpoint)
    if input_size is not None and cfg.input_size != input_size:
        raise ValueError(
            f"{checkpoint}: the teacher takes {cfg.input_size} px crops, the data is "
            f"{input_size} px"
        )
    return net.to(device, memory_format=torch.channels_last)


@torch.no_grad()
def distill_targets(
    teachers: list[torch.nn.Module],
    x: torch.Tensor,
    targets: torch.Tensor,
    alpha: float,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Targets mixed with the teachers' mean probability on the same input ``x``.

    ``(1 - alpha) * targets + alpha * mean_t softmax(teacher_t(x) / temperature)``, for
    ``(n, K)`` float32 ``targets``; rows whose target is all zeros (a "not happiness" row)
    are left as they are. Returns ``(n, K)`` float32 rows summing to 1 (or 0).
    """
    probs = torch.stack([F.softmax(t(x).float() / temperature, dim=1) for t in teachers]).mean(0)
    mixed = (1 - alpha) * targets + alpha * probs
    return torch.where(targets.sum(1, keepdim=True) > 0, mixed, targets)


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


def train(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Train per ``cfg``; returns the run folder. See the module docstring for its files.

    Raises:
        FileExistsError: ``cfg.out`` already holds a finished or started run (``best.pt`` or
            ``last.pt``) and neither ``resume`` nor ``overwrite`` is set.
    """
    out = Path(cfg.out)
    if not (resume or overwrite) and any((out / f).exists() for f in ("best.pt", "last.pt")):
        raise FileExistsError(f"{out}: already holds a run; resume it, or overwrite it on purpose")
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

    if cfg.teachers and cfg.teacher_probs:
        raise ValueError("set teachers (online distillation) or teacher_probs (offline), not both")
    data = load_training_data(cfg)
    train_set = data.train_rows(cfg.taiwanese_repeat)
    val, clean, tw_val = data.val, data.val_clean, data.taiwanese_val
    log.info(
        "data: train %d, val %d (clean %d), taiwanese val %d, loaded in %.0f s",
        len(train_set),
        len(val),
        int(clean.sum()),
        0 if tw_val is None else len(tw_val),
        time.time() - t_start,
    )
    device = torch.device(cfg.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    teachers = [load_teacher(t, device, data.side) for t in cfg.teachers]
    if teachers:
        log.info("distilling from %d teacher(s), alpha %.2f", len(teachers), cfg.distill_alpha)

    model = build_from_config(cfg, len(EXPRESSIONS))
    if cfg.init_from:
        init = torch.load(cfg.init_from, map_location="cpu", weights_only=False)
        model.load_state_dict(init["ema"])
        log.info("initialised from %s", cfg.init_from)
    model = model.to(device, memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval()
    ema_float = [t for t in ema.state_dict().values() if t.dtype.is_floating_point]
    model_float = [t for t in model.state_dict().values() if t.dtype.is_floating_point]
    ema_other = [t for t in ema.state_dict().values() if not t.dtype.is_floating_point]
    model_other = [t for t in model.state_dict().values() if not t.dtype.is_floating_point]
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
    budget_epochs: int | None = None
    if resume and (out / "last.pt").exists():
        state = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        start_epoch, best_acc, step = state["epoch"] + 1, state["best_acc"], state["step"]
        budget_epochs = state.get("budget_epochs")
        if budget_epochs:  # a time budget shortened the schedule: keep it
            cfg.epochs = budget_epochs
            total = steps_per_epoch * cfg.epochs
        t_start -= state["elapsed_s"]
        log.info("resumed at epoch %d", start_epoch)

    images = torch.from_numpy(train_set.images).unsqueeze(1).to(device)
    targets = torch.from_numpy(train_set.targets).to(device)
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
        if epoch >= cfg.epochs:  # the time budget shortened the schedule
            break
        t0 = time.time()
        model.train()
        order = (
            torch.randperm(len(train_set), generator=gen)
            if sample_weights is None
            else torch.multinomial(sample_weights, len(train_set), True, generator=gen)
        )
        losses = []
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size].to(device)
            x = augment(images[idx].float(), cfg, gen).contiguous(memory_format=torch.channels_last)
            lr = _lr_at(step, total, warmup, cfg.lr)
            for g in opt.param_groups:
                g["lr"] = lr
            target = targets[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                if teachers:
                    target = distill_targets(
                        teachers, x, target, cfg.distill_alpha, cfg.distill_temperature
                    )
                logits = model(x)
            loss = soft_target_loss(logits.float(), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            d = min(cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                torch._foreach_mul_(ema_float, d)
                torch._foreach_add_(ema_float, model_float, alpha=1 - d)
                for pe, pm in zip(ema_other, model_other, strict=True):
                    pe.copy_(pm)
            losses.append(loss.detach())
        mean_loss = float(torch.stack(losses).mean()) if losses else float("nan")
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
                    f"{mean_loss:.4f}",
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
            mean_loss,
            acc,
            acc_flip,
            acc_clean,
            tw_acc,
            time.time() - t0,
        )
        if epoch == 1 and start_epoch == 0 and cfg.time_budget_s:
            # epoch 1 is the first at full speed (epoch 0 pays for start-up and kernel tuning);
            # its time includes validation. Never stop before the LR has decayed after warm-up.
            fit = int((cfg.time_budget_s - (time.time() - t_start)) // (time.time() - t0)) + 2
            fit = max(fit, math.ceil(cfg.warmup_epochs) + 2)
            if fit < cfg.epochs:
                log.info("time budget: %d epochs instead of %d", fit, cfg.epochs)
                cfg.epochs = budget_epochs = fit
                total = steps_per_epoch * cfg.epochs
        if acc > best_acc:
            best_acc = acc
            torch.save(
                {
                    "ema": {k: v.cpu() for k, v in ema.state_dict().items()},
                    "epoch": epoch,
                    "val_acc": acc,
                    "config": cfg.to_dict(),
                },
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
                "budget_epochs": budget_epochs,
                "elapsed_s": elapsed,
            },
            out / "last.pt",
        )
    wall = time.time() - t_start
    if budget_epochs:  # the schedule was shortened: keep the record true
        (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        best = torch.load(out / "best.pt", weights_only=False)
        best["config"] = cfg.to_dict()
        torch.save(best, out / "best.pt")
    (out / "timing.json").write_text(
        json.dumps({"train_wall_s": round(wall, 1), "best_val_acc": best_acc}, indent=2)
    )
    log.info("done in %.1f min, best val acc %.4f", wall / 60, best_acc)
    logging.getLogger("mien").removeHandler(handler)
    return out


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())
