"""The training-data cache (numpy + OpenCV only, so this runs in CI too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mien.training.data import ArraySet, TrainingData


def _part(rng: np.random.Generator, n: int, source: str, side: int = 48) -> ArraySet:
    targets = rng.random((n, 8)).astype(np.float32)
    return ArraySet(
        rng.integers(0, 256, (n, side, side), dtype=np.uint8),
        targets / targets.sum(1, keepdims=True),
        rng.integers(0, 8, n).astype(np.int64),
        np.full(n, source),
    )


def test_cache_round_trip_is_exact_and_keeps_missing_parts_missing(tmp_path):
    rng = np.random.default_rng(0)
    data = TrainingData(
        _part(rng, 5, "fer_train"),
        _part(rng, 3, "fer_val"),
        np.array([True, False, True]),
        taiwanese_train=_part(rng, 2, "taiwanese_aligned"),
        taiwanese_val=_part(rng, 0, "empty"),
    )
    data.save(tmp_path / "c.npz")
    back = TrainingData.load(tmp_path / "c.npz")
    for name in ("fer_train", "val", "taiwanese_train", "taiwanese_val"):
        a, b = getattr(data, name), getattr(back, name)
        for f in ("images", "targets", "labels", "source"):  # WebP is lossless: pixels equal
            np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    np.testing.assert_array_equal(back.val_clean, data.val_clean)
    assert back.taiwanese_val.images.shape == (0, 48, 48) and back.smiles is None


def test_train_rows_repeat_the_taiwanese_part():
    rng = np.random.default_rng(1)
    data = TrainingData(_part(rng, 4, "fer_train"), _part(rng, 2, "v"), np.ones(2, bool))
    assert len(data.train_rows(5)) == 4
    data.taiwanese_train = _part(rng, 3, "taiwanese_whole")
    rows = data.train_rows(5)
    assert len(rows) == 4 + 3 * 5
    assert (rows.source == "taiwanese_whole").sum() == 15


def test_a_file_that_is_not_a_cache_is_refused(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a training-data cache"):
        TrainingData.load(tmp_path / "other.npz")


def test_teacher_probabilities_are_mixed_and_a_wrong_file_is_refused(tmp_path):
    from mien.training.data import mix_teacher_probs

    rng = np.random.default_rng(2)
    data = TrainingData(_part(rng, 4, "fer_train"), _part(rng, 2, "v"), np.ones(2, bool))
    before = data.fer_train.targets.copy()
    teacher = np.eye(8, dtype=np.float16)[[0, 1, 2, 3]]
    np.savez(tmp_path / "probs.npz", **{"fer_train.probs": teacher})
    mix_teacher_probs(data, tmp_path / "probs.npz", alpha=0.25)
    np.testing.assert_allclose(data.fer_train.targets, 0.75 * before + 0.25 * teacher, atol=1e-6)
    np.savez(tmp_path / "short.npz", **{"fer_train.probs": teacher[:3]})
    with pytest.raises(ValueError, match="fer_train has 3 teacher rows, the data 4"):
        mix_teacher_probs(data, tmp_path / "short.npz", alpha=0.5)
    good = {"fer_train.probs": teacher, "fer_train.fingerprint": data.fer_train.fingerprint()}
    np.savez(tmp_path / "marked.npz", **good)
    mix_teacher_probs(data, tmp_path / "marked.npz", alpha=0.0)  # same rows: accepted
    shuffled = data.fer_train.subset(np.array([1, 0, 2, 3]))
    assert shuffled.fingerprint() != data.fer_train.fingerprint()
    np.savez(tmp_path / "other.npz", **(good | {"fer_train.fingerprint": shuffled.fingerprint()}))
    with pytest.raises(ValueError, match="predicted on other rows than these"):
        mix_teacher_probs(data, tmp_path / "other.npz", alpha=0.5)
    data.save(tmp_path / "cache.npz")  # a cache is not a teacher file
    with pytest.raises(ValueError, match=r"no fer_train\.probs"):
        mix_teacher_probs(data, tmp_path / "cache.npz", alpha=0.5)


def test_a_64_px_cache_keeps_its_side_and_a_config_of_another_size_refuses_it(tmp_path):
    from mien.training.config import TrainConfig
    from mien.training.data import load_training_data

    rng = np.random.default_rng(3)
    data = TrainingData(
        _part(rng, 3, "fer_train", 64),
        _part(rng, 2, "fer_val", 64),
        np.ones(2, bool),
        taiwanese_val=_part(rng, 0, "empty", 64),
    )
    data.save(tmp_path / "c64.npz")
    back = TrainingData.load(tmp_path / "c64.npz")
    assert back.side == 64 and back.taiwanese_val.images.shape == (0, 64, 64)
    np.testing.assert_array_equal(back.fer_train.images, data.fer_train.images)
    cfg = TrainConfig(data_cache=str(tmp_path / "c64.npz"))  # input_size 48 by default
    with pytest.raises(ValueError, match="crops are 64 px, the config's input_size is 48"):
        load_training_data(cfg)
    cfg.input_size = 64
    assert load_training_data(cfg).side == 64


FER = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fer"


@pytest.mark.skipif(not FER.exists(), reason="needs ../shared/data/fer")
def test_fer_crops_at_64_px_are_the_48_px_images_enlarged_as_at_run_time():
    from mien.alignment import crop_whole_image
    from mien.training.data import load_fer

    small, large = load_fer(FER, "val"), load_fer(FER, "val", size=64)
    assert small.images.shape[1:] == (48, 48) and large.images.shape[1:] == (64, 64)
    np.testing.assert_array_equal(large.labels, small.labels)
    for i in (0, 17, len(small) - 1):  # exactly what the pipeline does to a 48 px image
        np.testing.assert_array_equal(large.images[i], crop_whole_image(small.images[i], size=64))
        bgr = np.repeat(small.images[i][..., None], 3, axis=2)
        np.testing.assert_array_equal(large.images[i], crop_whole_image(bgr, size=64))


def test_a_cache_without_a_side_key_is_48_px_and_a_mismatched_part_is_refused(tmp_path):
    rng = np.random.default_rng(4)
    data = TrainingData(
        _part(rng, 2, "fer_train"), _part(rng, 2, "v"), np.ones(2, bool),
        taiwanese_val=_part(rng, 0, "empty"),
    )  # fmt: skip
    data.save(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as z:  # as written before caches recorded their side
        np.savez(tmp_path / "old.npz", **{k: z[k] for k in z.files if k != "side"})
    old = TrainingData.load(tmp_path / "old.npz")
    assert old.side == 48 and old.taiwanese_val.images.shape == (0, 48, 48)
    data.taiwanese_train = _part(rng, 1, "taiwanese_aligned", 64)
    with pytest.raises(ValueError, match="crops differ in size"):
        data.save(tmp_path / "mixed.npz")


def test_teacher_probabilities_without_fingerprints_are_used_with_a_warning(tmp_path, caplog):
    from mien.training.data import mix_teacher_probs

    rng = np.random.default_rng(5)
    data = TrainingData(_part(rng, 2, "fer_train"), _part(rng, 2, "v"), np.ones(2, bool))
    np.savez(tmp_path / "p.npz", **{"fer_train.probs": np.eye(8, dtype=np.float16)[[0, 1]]})
    with caplog.at_level("WARNING", logger="mien"):
        mix_teacher_probs(data, tmp_path / "p.npz", alpha=1.0)
    assert "no fer_train.fingerprint; matched by row count only" in caplog.text
    np.testing.assert_allclose(data.fer_train.targets, np.eye(8)[[0, 1]], atol=1e-6)


def test_a_cache_for_other_held_out_performers_is_refused(tmp_path):
    from mien.training.config import TrainConfig
    from mien.training.data import load_training_data

    rng = np.random.default_rng(3)
    data = TrainingData(
        _part(rng, 4, "fer_train"),
        _part(rng, 2, "v"),
        np.ones(2, bool),
        taiwanese_val_subjects=("P02", "P06"),
    )
    data.save(tmp_path / "fold.npz")
    assert TrainingData.load(tmp_path / "fold.npz").taiwanese_val_subjects == ("P02", "P06")
    ok = TrainConfig.load(
        None, {"data_cache": str(tmp_path / "fold.npz"), "taiwanese_val_subjects": ["P06", "P02"]}
    )
    assert load_training_data(ok).taiwanese_val_subjects == ("P02", "P06")
    other = TrainConfig.load(None, {"data_cache": str(tmp_path / "fold.npz")})  # fold 0's
    with pytest.raises(ValueError, match=r"fold.npz: holds out performers \['P02', 'P06'\]"):
        load_training_data(other)
    data.taiwanese_val_subjects = None  # a cache from before 0.2.3: not checked
    data.save(tmp_path / "old.npz")
    old = TrainConfig.load(None, {"data_cache": str(tmp_path / "old.npz")})
    assert load_training_data(old).taiwanese_val_subjects is None
