"""Expression-model architectures (torch; training only — inference runs the ONNX export)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from mien.training.config import TrainConfig
from mien.types import EXPRESSIONS


def _conv_bn(cin: int, cout: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block (He et al., "Deep Residual Learning", CVPR 2016)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, stride)
        self.conv2 = _conv_bn(cout, cout, 1, relu=False)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class Standardize(nn.Module):
    """Per-image standardisation: ``(x - mean) / max(std, 1)`` over each image's pixels.

    Makes the model blind to global brightness and contrast. Input is grey in ``[0, 255]``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
        return (x - mean) / std


class FerResNet(nn.Module):
    """A small ResNet for ``(n, 1, S, S)`` grey face crops with values in ``[0, 255]``
    (``S`` = 48 for mien's models; any side works, the head pools globally).

    A stride-2 stem takes a 48 px crop to 24×24, then one stage per entry of ``widths`` (each
    after the first halves the resolution). Compute grows as ``S²``: a 64 px crop costs
    ``(64 / 48)²`` = 1.78 times a 48 px one. With ``upsample_to`` set, the crop is first
    resized (bilinear) to ``upsample_to``×``upsample_to``, which buys resolution in every stage
    at ``(upsample_to / S)²`` times the compute (used for larger teachers). ``forward_features``
    gives the pooled ``(n, C)`` features, ``forward_head`` the ``(n, num_classes)`` logits
    (timm's split).
    """

    def __init__(
        self,
        num_classes: int = 8,
        widths: tuple[int, ...] | list[int] = (48, 96, 192, 384),
        depths: tuple[int, ...] | list[int] = (2, 2, 2, 1),
        stem: int = 32,
        dropout: float = 0.3,
        upsample_to: int | None = None,
    ) -> None:
        super().__init__()
        self.upsample_to = upsample_to
        self.standardize = Standardize()
        self.stem = _conv_bn(1, stem, 2)
        blocks: list[nn.Module] = []
        cin = stem
        for i, (w, d) in enumerate(zip(widths, depths, strict=True)):
            for j in range(d):
                blocks.append(BasicBlock(cin, w, 2 if (j == 0 and i > 0) else 1))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        self.num_features = cin

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample_to:
            side = (self.upsample_to, self.upsample_to)
            x = nn.functional.interpolate(x, size=side, mode="bilinear", align_corners=False)
        return self.pool(self.blocks(self.stem(self.standardize(x)))).flatten(1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.fc(self.dropout(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


ARCHS = {"fer_resnet": FerResNet}


def build_from_config(cfg: TrainConfig, num_classes: int) -> nn.Module:
    """The untrained network a :class:`~mien.training.config.TrainConfig` describes."""
    return build_model(
        cfg.arch,
        num_classes=num_classes,
        widths=cfg.widths,
        depths=cfg.depths,
        stem=cfg.stem,
        dropout=cfg.dropout,
        upsample_to=cfg.upsample_to,
    )


def load_network(checkpoint: str | Path) -> tuple[nn.Module, TrainConfig]:
    """A ``best.pt``'s EMA network (eval mode, on the CPU) and its training config; the
    config gives the architecture, so any width, depth or ``upsample_to`` loads."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = TrainConfig(**state["config"])
    net = build_from_config(cfg, len(EXPRESSIONS))
    net.load_state_dict(state["ema"])
    return net.eval(), cfg


def build_model(arch: str, **kwargs: object) -> nn.Module:
    """Build an architecture by name.

    Raises:
        ValueError: unknown ``arch``; the message lists the known ones.
    """
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {sorted(ARCHS)}; got {arch!r}")
    return ARCHS[arch](**kwargs)  # type: ignore[arg-type]
