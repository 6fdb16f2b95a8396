"""Training pieces (run only where the ``mien[train]`` extra is installed; CI has no torch)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mien.training.augment import augment  # noqa: E402
from mien.training.config import TrainConfig  # noqa: E402
from mien.training.nets import build_from_config  # noqa: E402


def test_config_overlay_and_unknown_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 3\nwidths: [8, 16]\ndepths: [1, 1]\n")
    cfg = TrainConfig.load(path, {"lr": 0.5})
    assert (cfg.epochs, cfg.widths, cfg.lr, cfg.batch_size) == (3, [8, 16], 0.5, 128)
    with pytest.raises(ValueError, match="unknown config keys \\['epoch'\\]"):
        TrainConfig.load(None, {"epoch": 3})


def test_network_shapes_and_feature_split():
    net = build_from_config(TrainConfig(widths=[8, 16], depths=[1, 1], stem=8), 8).eval()
    x = torch.rand(3, 1, 48, 48) * 255
    feats = net.forward_features(x)
    assert feats.shape == (3, 16)
    assert net(x).shape == (3, 8)
    torch.testing.assert_close(net.forward_head(feats), net(x))
    # per-image standardisation: brightness and contrast changes do not move the logits
    torch.testing.assert_close(net(x * 0.5 + 20), net(x), atol=1e-4, rtol=1e-4)


def test_augment_is_seeded_and_stays_in_range():
    cfg = TrainConfig()
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (16, 1, 48, 48))).float()
    a = augment(x.clone(), cfg, torch.Generator().manual_seed(1))
    b = augment(x.clone(), cfg, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 255
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, x)
