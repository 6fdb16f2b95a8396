"""Batch augmentation on ``(n, 1, H, W)`` float tensors in ``[0, 255]`` (torch, CPU)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mien.training.config import TrainConfig


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random similarity warp + flip, brightness/contrast, low resolution, random erasing.

    Args:
        x: ``(n, 1, H, W)`` float32 in ``[0, 255]``.
        cfg: the augmentation strengths.
        gen: the seeded generator every random draw comes from.

    Returns:
        A new ``(n, 1, H, W)`` float32 tensor in ``[0, 255]``.
    """
    n, _, h, w = x.shape

    def u(lo: float, hi: float, size: int = n) -> torch.Tensor:
        return torch.rand(size, generator=gen) * (hi - lo) + lo

    angle = u(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    scale = u(*cfg.scale_range)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = u(-cfg.translate, cfg.translate) * 2, u(-cfg.translate, cfg.translate) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    c = u(1 - cfg.contrast, 1 + cfg.contrast).view(n, 1, 1, 1)
    b = (u(-cfg.brightness, cfg.brightness) * 255).view(n, 1, 1, 1)
    x = (x - mean) * c + mean + b

    if cfg.lowres_p > 0:
        pick = torch.rand(n, generator=gen) < cfg.lowres_p
        if pick.any():
            side = int(torch.randint(16, 36, (1,), generator=gen))
            small = F.interpolate(x[pick], size=(side, side), mode="area")
            x[pick] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)

    if cfg.erase_p > 0:
        pick = torch.nonzero(torch.rand(n, generator=gen) < cfg.erase_p).flatten()
        for i in pick.tolist():
            eh, ew = int(u(0.1, 0.4, 1) * h), int(u(0.1, 0.4, 1) * w)
            y0 = int(torch.randint(0, h - eh + 1, (1,), generator=gen))
            x0 = int(torch.randint(0, w - ew + 1, (1,), generator=gen))
            x[i, :, y0 : y0 + eh, x0 : x0 + ew] = torch.rand(1, generator=gen) * 255
    return x.clamp_(0, 255)
