"""Batch augmentation on ``(n, 1, H, W)`` float tensors in ``[0, 255]`` (torch, any device).

Every random draw comes from one CPU generator, so a seed gives the same draws on CPU and GPU.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mien.training.config import TrainConfig


def augment(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random similarity warp + flip, brightness/contrast, gamma, blur, JPEG artefacts, low
    resolution and random erasing (each strength or probability from ``cfg``; 0 = off).

    Args:
        x: ``(n, 1, H, W)`` float32 in ``[0, 255]``.
        cfg: the augmentation strengths.
        gen: the seeded generator every random draw comes from.

    Returns:
        A new ``(n, 1, H, W)`` float32 tensor in ``[0, 255]``.
    """
    n, _, h, w = x.shape
    dev = x.device

    def u(lo: float, hi: float, size: int = n) -> torch.Tensor:
        return torch.rand(size, generator=gen) * (hi - lo) + lo

    angle = u(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    scale = u(*cfg.scale_range)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    tx, ty = u(-cfg.translate, cfg.translate) * 2, u(-cfg.translate, cfg.translate) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
    ).to(dev)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    c = u(1 - cfg.contrast, 1 + cfg.contrast).view(n, 1, 1, 1).to(dev)
    b = (u(-cfg.brightness, cfg.brightness) * 255).view(n, 1, 1, 1).to(dev)
    x = (x - mean) * c + mean + b

    if cfg.gamma > 0:
        g = torch.exp(u(-cfg.gamma, cfg.gamma)).view(n, 1, 1, 1).to(dev)
        x = 255.0 * (x.clamp(0, 255) / 255.0) ** g

    if cfg.blur_p > 0:
        pick = (torch.rand(n, generator=gen) < cfg.blur_p).to(dev)
        if pick.any():
            # sigma 0.5 to 1.5 px and a 5-tap kernel at 48 px; both scale with the side, so a 64 or
            # 96 px crop is blurred as much as the same face at 48 px
            sigma = float(u(0.5, 1.5, 1)) * (h / 48)
            r = max(2, round(2 * h / 48))
            k = torch.arange(-r, r + 1, dtype=torch.float32)
            kern = torch.exp(-(k**2) / (2 * sigma**2))
            kern = (kern / kern.sum()).view(1, 1, 1, 2 * r + 1).to(dev)
            y = F.conv2d(F.pad(x[pick], (r, r, 0, 0), mode="replicate"), kern)
            x[pick] = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), kern.transpose(2, 3))

    if cfg.jpeg_p > 0:
        pick = torch.nonzero(torch.rand(n, generator=gen) < cfg.jpeg_p).flatten().tolist()
        if pick:
            import cv2
            import numpy as np

            quality = int(torch.randint(20, 70, (1,), generator=gen))
            for i in pick:
                img = x[i, 0].clamp(0, 255).round().to(torch.uint8).cpu().numpy()
                ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
                if ok:
                    dec = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_GRAYSCALE)
                    x[i, 0] = torch.from_numpy(dec.astype(np.float32)).to(dev)

    if cfg.lowres_p > 0:
        pick = (torch.rand(n, generator=gen) < cfg.lowres_p).to(dev)
        if pick.any():
            side = int(torch.randint(16, 36, (1,), generator=gen))  # of 48 px: scale to h
            side = round(side * h / 48)
            small = F.interpolate(x[pick], size=(side, side), mode="area")
            x[pick] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)

    if cfg.erase_p > 0:
        pick = torch.nonzero(torch.rand(n, generator=gen) < cfg.erase_p).flatten()
        # per-row draws in a fixed order (cheap, on CPU), then one masked fill on x's device
        boxes = torch.zeros(n, 4)  # y0, y1, x0, x1: an empty box for rows not picked
        fill = torch.zeros(n)
        for i in pick.tolist():
            eh, ew = int(u(0.1, 0.4, 1) * h), int(u(0.1, 0.4, 1) * w)
            y0 = int(torch.randint(0, h - eh + 1, (1,), generator=gen))
            x0 = int(torch.randint(0, w - ew + 1, (1,), generator=gen))
            boxes[i] = torch.tensor([y0, y0 + eh, x0, x0 + ew], dtype=torch.float32)
            fill[i] = torch.rand(1, generator=gen) * 255
        if len(pick):
            boxes, fill = boxes.to(dev).view(n, 4, 1, 1), fill.to(dev).view(n, 1, 1, 1)
            yy = torch.arange(h, device=dev, dtype=torch.float32).view(1, 1, h, 1)
            xx = torch.arange(w, device=dev, dtype=torch.float32).view(1, 1, 1, w)
            inside = (yy >= boxes[:, 0:1]) & (yy < boxes[:, 1:2])
            inside = inside & (xx >= boxes[:, 2:3]) & (xx < boxes[:, 3:4])
            x = torch.where(inside, fill, x)
    return x.clamp_(0, 255)
