"""Training pieces (run only where the ``mien[train]`` extra is installed; CI has no torch)."""

from __future__ import annotations

from pathlib import Path

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


def test_augment_and_network_take_64_px_crops():
    cfg = TrainConfig(input_size=64, lowres_p=1.0, erase_p=1.0)  # every row gets both
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (8, 1, 64, 64))).float()
    a = augment(x.clone(), cfg, torch.Generator().manual_seed(1))
    assert a.shape == (8, 1, 64, 64) and float(a.min()) >= 0 and float(a.max()) <= 255
    net = build_from_config(TrainConfig(widths=[8, 16], depths=[1, 1], stem=8), 8).eval()
    small = net(torch.nn.functional.interpolate(x, size=(48, 48), mode="area"))
    assert net(x).shape == small.shape == (8, 8)  # the same weights at either size


def test_logit_adjustment_picks_the_best_tau_within_the_accuracy_budget():
    from mien.training.export import choose_logit_bias

    rng = np.random.default_rng(0)
    labels = rng.choice(3, size=600, p=[0.7, 0.2, 0.1])
    logits = np.eye(3)[labels] * 1.0 + rng.normal(0, 0.8, (600, 3))
    logits[:, 0] += 0.6  # a model biased towards the frequent class
    train = rng.choice(3, size=5000, p=[0.7, 0.2, 0.1])
    bias, tau, grid = choose_logit_bias(logits, labels, train)
    assert grid[0]["tau"] == 0.0 and tau in [g["tau"] for g in grid]
    assert abs(bias.sum()) < 1e-9 and bias[0] < bias[2]  # frequent class pushed down
    chosen = next(g for g in grid if g["tau"] == tau)
    assert chosen["accuracy"] >= grid[0]["accuracy"] - 0.002
    assert chosen["macro_f1"] == max(
        g["macro_f1"] for g in grid if g["accuracy"] >= grid[0]["accuracy"] - 0.002
    )


def test_soft_target_loss_is_cross_entropy_and_not_happiness_for_empty_targets():
    from mien.training.loop import HAPPINESS, soft_target_loss

    logits = torch.tensor([[0.5, -1.0, 0.0, 2.0, 0.1, 0.0, 0.3, -2.0]] * 2)
    targets = torch.zeros(2, 8)
    targets[0, HAPPINESS] = 0.6
    targets[0, 6] = 0.4
    p = torch.softmax(logits[0], 0)
    ce = -(0.6 * torch.log(p[HAPPINESS]) + 0.4 * torch.log(p[6]))
    not_happy = -torch.log(1 - p[HAPPINESS])
    torch.testing.assert_close(soft_target_loss(logits, targets), (ce + not_happy) / 2)


def test_upsampling_network_takes_48px_crops_and_resizes_inside():
    cfg = TrainConfig(widths=[8, 16], depths=[1, 1], stem=8, upsample_to=64)
    net = build_from_config(cfg, 8).eval()
    seen = []
    net.stem.register_forward_hook(lambda _m, inp, _out: seen.append(inp[0].shape))
    assert net(torch.rand(2, 1, 48, 48) * 255).shape == (2, 8)
    assert seen == [(2, 1, 64, 64)]


def test_distill_targets_mix_the_teachers_mean_and_leave_empty_rows():
    from mien.training.loop import distill_targets

    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = torch.tensor(logits)

        def forward(self, x):
            return self.logits.expand(len(x), -1)

    teachers = [Fixed([2.0, 0.0, 0.0]), Fixed([0.0, 2.0, 0.0])]
    targets = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    out = distill_targets(teachers, torch.zeros(2, 1, 4, 4), targets, alpha=0.5)
    p = torch.softmax(torch.tensor([2.0, 0.0, 0.0]), 0)
    mean = (p + p[[1, 0, 2]]) / 2
    torch.testing.assert_close(out[0], 0.5 * targets[0] + 0.5 * mean)
    torch.testing.assert_close(out[1], targets[1])  # a "not happiness" row stays as it is
    assert float(out[0].sum()) == pytest.approx(1.0)
    torch.testing.assert_close(
        distill_targets(teachers, torch.zeros(1, 1, 4, 4), targets[:1], 0.0), targets[:1]
    )


def test_train_from_a_cache_with_a_teacher_and_a_time_budget(tmp_path):
    from mien.training.data import ArraySet, TrainingData
    from mien.training.loop import train

    rng = np.random.default_rng(0)

    def part(n):
        labels = rng.integers(0, 8, n)
        return ArraySet(
            rng.integers(0, 256, (n, 48, 48), dtype=np.uint8),
            np.eye(8, dtype=np.float32)[labels],
            labels.astype(np.int64),
            np.full(n, "synthetic"),
        )

    TrainingData(part(64), part(16), np.ones(16, bool)).save(tmp_path / "cache.npz")
    small = {"widths": [8, 16], "depths": [1, 1], "stem": 8, "batch_size": 16, "threads": 1}
    common = {"data_cache": str(tmp_path / "cache.npz"), "bf16": False, **small}
    teacher = train(TrainConfig(out=str(tmp_path / "t"), epochs=1, upsample_to=56, **common))
    student = train(
        TrainConfig(
            out=str(tmp_path / "s"),
            epochs=6,
            warmup_epochs=0.5,
            # spent at once: the schedule stops at the first epoch after warm-up + 1 of decay
            time_budget_s=1e-3,
            teachers=[str(teacher / "best.pt")],
            **common,
        )
    )
    rows = (student / "summary.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 3
    state = torch.load(student / "best.pt", weights_only=False)
    assert state["config"]["epochs"] == 3 and state["config"]["teachers"] == [
        str(teacher / "best.pt")
    ]
    assert all(t.device.type == "cpu" for t in state["ema"].values())
    # resuming keeps the shortened schedule; without a budget a larger `epochs` extends a run
    train(TrainConfig.load(student / "config.yaml"), resume=True)
    assert len((student / "summary.csv").read_text().strip().splitlines()) == 1 + 3
    train(TrainConfig(out=str(teacher), epochs=2, upsample_to=56, **common), resume=True)
    assert len((teacher / "summary.csv").read_text().strip().splitlines()) == 1 + 2
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(TrainConfig(out=str(teacher), epochs=1, **common))
    with pytest.raises(ValueError, match="not both"):
        train(TrainConfig(out=str(tmp_path / "x"), teachers=["a"], teacher_probs="b", **common))


def test_training_time_is_summed_per_device_over_teachers_and_parents(tmp_path):
    import json

    import yaml

    from mien.training.export import training_wall_s

    def run(name, wall, device, **config):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "timing.json").write_text(json.dumps({"train_wall_s": wall}))
        (folder / "config.yaml").write_text(yaml.safe_dump({"device": device}))
        torch.save({"ema": {}, "config": config}, folder / "best.pt")
        return str(folder / "best.pt")

    teacher = run("teacher", 100.0, "cuda")
    (tmp_path / "teacher" / "best.pt").unlink()  # a teacher's weights need not be here
    student = run("student", 50.0, "cuda", teachers=[teacher])
    finetune = run("finetune", 30.0, "cpu", init_from=student)
    assert training_wall_s([Path(finetune)]) == {"cpu": 30.0, "cuda": 150.0}
    (tmp_path / "student" / "timing.json").unlink()
    assert training_wall_s([Path(finetune)]) is None


def test_soup_averages_fine_tunes_and_may_include_their_parent(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]

    def run(name, value, init_from=None):
        (tmp_path / name).mkdir()
        state = {"ema": {"w": torch.full((2,), value), "n": torch.tensor(3)}, "config": {}}
        state["config"]["init_from"] = init_from
        torch.save(state, tmp_path / name / "best.pt")
        return str(tmp_path / name)

    parent = run("parent", 0.0)
    a = run("a", 3.0, init_from=parent + "/best.pt")
    b = run("b", 6.0, init_from=parent + "/best.pt")
    other = run("other", 9.0, init_from="elsewhere/best.pt")

    def soup(out, *runs):
        cmd = [sys.executable, str(root / "scripts/soup.py"), str(tmp_path / out), *runs]
        return subprocess.run(cmd, capture_output=True, text=True)

    assert soup("ab_parent", a, b, parent).returncode == 0
    state = torch.load(tmp_path / "ab_parent" / "best.pt", weights_only=False)
    torch.testing.assert_close(state["ema"]["w"], torch.full((2,), 3.0))
    assert int(state["ema"]["n"]) == 3 and state["config"]["init_from"] == parent + "/best.pt"
    assert [i["checkpoint"] for i in state["soup_of"]] == [
        a + "/best.pt",
        b + "/best.pt",
        parent + "/best.pt",
    ]
    failed = soup("mixed", a, other)
    assert failed.returncode != 0 and "must share one init_from" in failed.stderr
    failed = soup("parent_first", parent, a, b)
    assert failed.returncode != 0 and "list a fine-tuned run first" in failed.stderr
    failed = soup("scratch", parent, run("scratch2", 1.0))
    assert failed.returncode != 0 and "no init_from" in failed.stderr
    big = run("big", 1.0, init_from=parent + "/best.pt")
    state = torch.load(tmp_path / "big" / "best.pt", weights_only=False)
    state["config"]["input_size"] = 64
    torch.save(state, tmp_path / "big" / "best.pt")
    failed = soup("sizes", a, big)
    assert failed.returncode != 0 and "crops of different sizes" in failed.stderr
    assert f"{big}: 64 px" in failed.stderr


def _tiny_checkpoint(path: Path, **config) -> Path:
    cfg = TrainConfig(widths=[8, 16], depths=[1, 1], stem=8, **config)
    net = build_from_config(cfg, 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"ema": net.state_dict(), "config": cfg.to_dict()}, path)
    return path


def test_a_64_px_checkpoint_exports_and_runs_as_64_px_and_teachers_must_match(tmp_path):
    import onnxruntime as ort

    from mien.expression.model import ExpressionModel
    from mien.training.export import export_onnx
    from mien.training.loop import load_teacher
    from mien.weights import WeightSpec

    ckpt = _tiny_checkpoint(tmp_path / "r" / "best.pt", input_size=64)
    cfg = export_onnx(ckpt, tmp_path / "m.onnx")
    assert cfg.input_size == 64
    shape = ort.InferenceSession(str(tmp_path / "m.onnx")).get_inputs()[0].shape
    assert shape[1:] == [1, 64, 64]
    spec = WeightSpec(
        name="m", file="m.onnx", sha256="", input_size=64, grey=True, input_range=(0.0, 255.0),
        alignment="fer", names=tuple(f"l{i}" for i in range(8)), temperature=1.0,
        abstain_threshold=0.5,
    )  # fmt: skip
    model = ExpressionModel(spec, tmp_path / "m.onnx")
    assert model.logits(np.zeros((2, 64, 64), np.uint8)).shape == (2, 8)
    with pytest.raises(ValueError, match="must be uint8 \\(n, 64, 64\\)"):
        model.logits(np.zeros((2, 48, 48), np.uint8))
    assert load_teacher(ckpt, torch.device("cpu"), 64) is not None
    with pytest.raises(ValueError, match="the teacher takes 64 px crops, the data is 48 px"):
        load_teacher(ckpt, torch.device("cpu"), 48)


GOLDEN_SUM = 1202338.5  # augment() as of 0.2.0 (commit 32aad4d), the code v1 and v3 trained with
GOLDEN_ROW = [118.444, 121.368, 125.313, 130.669]


def test_augment_at_48_px_is_unchanged():
    """Golden values of the default augmentation at 48 px (seed 1): a change to augment() must
    not move what every earlier run was trained on."""
    cfg = TrainConfig(lowres_p=1.0, blur_p=1.0, gamma=0.2)
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (4, 1, 48, 48))).float()
    a = augment(x, cfg, torch.Generator().manual_seed(1))
    assert float(a.sum()) == pytest.approx(GOLDEN_SUM, rel=1e-5)
    np.testing.assert_allclose(a[0, 0, 20, 20:24].numpy(), GOLDEN_ROW, atol=1e-2)


def test_augment_blur_scales_with_the_crop_side():
    """The same draw blurs a point twice as wide at 96 px as at 48 px (σ and kernel scale)."""
    cfg = TrainConfig(
        rotate_deg=0.0, scale_range=(1.0, 1.0), translate=0.0, brightness=0.0, contrast=0.0,
        lowres_p=0.0, erase_p=0.0, blur_p=1.0,
    )  # fmt: skip

    def spread(side: int) -> float:
        x = torch.zeros(1, 1, side, side)
        x[0, 0, side // 2, side // 2] = 255.0
        y = augment(x, cfg, torch.Generator().manual_seed(3))[0, 0].sum(0)  # along x
        pos = torch.arange(side, dtype=torch.float32)
        mean = (y * pos).sum() / y.sum()
        return float(((y * (pos - mean) ** 2).sum() / y.sum()).sqrt())

    assert spread(96) / spread(48) == pytest.approx(2.0, rel=0.05)


def test_arch_cost_config_argument(tmp_path):
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("arch_cost", root / "benchmarks/arch_cost.py")
    arch_cost = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(arch_cost)
    (tmp_path / "c.yaml").write_text("epochs: 3\n")
    label, cfg = arch_cost.parse_config(
        f"{tmp_path}/c.yaml:input_size=64;widths=[8, 16];depths=[1, 1]"
    )
    assert (cfg.input_size, cfg.widths, cfg.epochs) == (64, [8, 16], 3)
    assert label.endswith("c.yaml input_size=64;widths=[8, 16];depths=[1, 1]")
    assert arch_cost.parse_config(f"{tmp_path}/c.yaml")[1].input_size == 48
    with pytest.raises(ValueError, match="key=value pairs"):
        arch_cost.parse_config(f"{tmp_path}/c.yaml:input_size64")
    with pytest.raises(ValueError, match=r"expected PATH\.yaml"):
        arch_cost.parse_config("configs/nothing")
    with pytest.raises(ValueError, match="unknown config keys"):
        arch_cost.parse_config(f"{tmp_path}/c.yaml:size=3")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"input_size": "abc"}, "whole number of pixels"),
        ({"input_size": 64.5}, "whole number of pixels"),
        ({"input_size": 8}, "at least 16 px"),
        ({"widths": [32, 64]}, "one entry per stage; got 2 widths and 4 depths"),
        ({"widths": [], "depths": []}, "at least one stage"),
        ({"upsample_to": 8}, "upsample_to must be None or a whole number"),
    ],
)
def test_config_refuses_a_crop_size_or_network_that_cannot_work(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.load(None, overrides)
