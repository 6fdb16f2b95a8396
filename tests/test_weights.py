from __future__ import annotations

import json
import shutil

import pytest

from mien import WeightsError, create_model, list_models
from mien.registry import DEFAULT_MODEL, get_spec
from mien.weights import bundled_dir, sha256_of
from tests.helpers import make_export


def test_bundled_model_is_listed_and_verified():
    assert list_models("fer_*") == [DEFAULT_MODEL]  # one shipped model: the one its card describes
    spec = get_spec(DEFAULT_MODEL)
    assert sha256_of(bundled_dir() / spec.file) == spec.sha256
    assert (bundled_dir() / spec.file).stat().st_size <= 20 * 1024 * 1024
    assert spec.names == (
        "anger",
        "disgust",
        "fear",
        "happiness",
        "sadness",
        "surprise",
        "neutral",
        "contempt",
    )
    assert spec.temperature > 0 and 0 < spec.abstain_threshold < 1


def test_unknown_model_name():
    import mien

    with pytest.raises(
        mien.UnknownModelError, match=rf"model must be one of \['{DEFAULT_MODEL}'\]"
    ) as info:
        create_model("vgg_face")
    assert isinstance(info.value, mien.MienError) and isinstance(info.value, ValueError)


def test_corrupt_weights_fail_the_checksum(tmp_path):
    spec = get_spec(DEFAULT_MODEL)
    bad = tmp_path / spec.file
    data = bytearray((bundled_dir() / spec.file).read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    shutil.copy(bundled_dir() / f"{DEFAULT_MODEL}.json", tmp_path / f"{DEFAULT_MODEL}.json")
    with pytest.raises(WeightsError, match="sha256") as info:
        create_model(DEFAULT_MODEL, weights=bad)
    assert str(bad) in str(info.value)


def test_missing_and_unloadable_weights(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        create_model(DEFAULT_MODEL, weights=tmp_path / "gone.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(WeightsError, match="cannot load"):
        create_model(DEFAULT_MODEL, weights=junk)


def test_a_spec_naming_an_unknown_alignment_is_refused_on_load(tmp_path):
    onnx = make_export(tmp_path, "odd")
    spec = json.loads(onnx.with_suffix(".json").read_text())
    onnx.with_suffix(".json").write_text(json.dumps({**spec, "alignment": "other"}))
    with pytest.raises(
        WeightsError, match="alignment must be one of \\['fer'\\]; got 'other'"
    ) as e:
        create_model(DEFAULT_MODEL, weights=onnx)
    assert str(onnx) in str(e.value)


def test_own_weights_file_without_spec_uses_the_named_spec(tmp_path):
    copy = tmp_path / "mine.onnx"
    shutil.copy(bundled_dir() / get_spec(DEFAULT_MODEL).file, copy)
    model = create_model(DEFAULT_MODEL, weights=copy)
    assert model.path == copy and model.spec.sha256 == ""
    # the rows' model column said "fer_resnet_v3" for the user's own weights
    assert model.spec.name == f"mine.onnx (spec: {DEFAULT_MODEL})"
    assert model.spec.names == get_spec(DEFAULT_MODEL).names


def test_a_weights_folder_and_bad_thread_counts_are_refused(tmp_path):
    with pytest.raises(WeightsError, match="a folder, not a weight file"):
        create_model(DEFAULT_MODEL, weights=tmp_path)  # was "weight file ... not found"
    for bad in (-3, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads must be a whole number >= 0"):
            create_model(DEFAULT_MODEL, threads=bad)


def test_model_card_describes_the_shipped_weights():
    spec = get_spec(DEFAULT_MODEL)
    card = (bundled_dir() / "MODEL_CARD.md").read_text()
    assert card.startswith(f"# Model card: `{DEFAULT_MODEL}`")
    assert f"sha256 `{spec.sha256[:12]}" in card
    assert "Quick check only" not in card  # the shipped card is measured on the full sets


@pytest.mark.parametrize("given", ["https://example.com/m.onnx", "https:/example.com/m.onnx"])
def test_a_url_for_weights_is_refused_as_a_url(given):
    """mien never downloads; the CLI's path option had turned the URL into 'https:/…', which was
    then reported as a missing file."""
    from mien.weights import check_export

    with pytest.raises(WeightsError, match="a URL; mien never downloads weights"):
        check_export(given)


def test_a_windows_drive_is_not_taken_for_a_url():
    from mien.weights import check_export

    with pytest.raises(WeightsError, match="no such file"):
        check_export("C:/models/m.onnx")
