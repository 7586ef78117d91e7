import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.checkpoints import google, read_checkpoint
from tests.checkpoints import _fixtures


def _npz(tmp_path, name, arrays):
    path = tmp_path / name
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def test_google_npz_matches_timm_logits():
    # timm evaluates Google files with the exact GELU; so do we, on request.
    model = _fixtures.model_for("plain", approximate_gelu=False)
    from keras_vit.checkpoints import load_weights

    report = load_weights(model, _fixtures.path("plain.npz"), verbose=False)
    assert report.format == "google" and report.unused == [] and report.skipped == []
    assert _fixtures.max_difference(model, "plain") < _fixtures.TOLERANCE


def test_google_npz_defaults_to_the_tanh_gelu_it_was_trained_with():
    config, images, expected = _fixtures.reference("plain")
    config.pop("approximate_gelu")
    config["input_shape"] = tuple(config["input_shape"])
    model = VisionTransformer(**config, weights=_fixtures.path("plain.npz"))
    assert model.approximate_gelu is True
    difference = np.abs(_fixtures.logits(model, images) - expected).max()
    # Only the GELU form differs from timm's exact-GELU logits.
    assert 1e-5 < difference < 0.1


def test_big_vision_npz_matches_timm_no_embed_class_logits():
    model = _fixtures.model_for("no_class_slot", approximate_gelu=False)
    from keras_vit.checkpoints import load_weights

    report = load_weights(model, _fixtures.path("no_class_slot.npz"), verbose=False)
    assert report.format == "big_vision"
    # big_vision adds no position embedding to the class token.
    slot = np.asarray(model.get_layer("position_embedding").position_embedding)[0, 0]
    np.testing.assert_array_equal(slot, 0.0)
    assert _fixtures.max_difference(model, "no_class_slot") < _fixtures.TOLERANCE


@pytest.mark.backend_independent
def test_opt_target_prefix_and_scanned_blocks_give_the_same_weights(tmp_path):
    _, arrays = read_checkpoint(_fixtures.path("plain.npz"))
    expected, _ = google.to_keras(arrays)
    prefixed = {f"opt/target/{k}": v for k, v in arrays.items()}
    scanned = {k: v for k, v in arrays.items() if "encoderblock_" not in k}
    for name in {k.split("/", 2)[2] for k in arrays if "encoderblock_0/" in k}:
        scanned[f"Transformer/encoderblock/{name}"] = np.stack(
            [arrays[f"Transformer/encoderblock_{i}/{name}"] for i in range(2)]
        )
    for variant in (prefixed, scanned):
        kind, loaded = read_checkpoint(_npz(tmp_path, "v.npz", variant))
        assert kind == "google"
        converted, source = google.to_keras(loaded)
        assert source.unused() == []
        assert sorted(converted) == sorted(expected)
        for key in expected:
            np.testing.assert_array_equal(converted[key], expected[key], err_msg=key)


def test_pre_logits_head_is_skipped_and_listed(tmp_path, capsys):
    arrays = dict(np.load(_fixtures.path("plain.npz")))
    arrays["pre_logits/kernel"] = np.eye(16, dtype="float32")
    arrays["pre_logits/bias"] = np.zeros(16, "float32")
    model = _fixtures.model_for("plain")
    before = np.asarray(model.get_layer("head").kernel).copy()
    from keras_vit.checkpoints import load_weights

    report = load_weights(model, _npz(tmp_path, "p.npz", arrays))
    assert report.skipped == ["head/kernel", "head/bias"]
    assert {"pre_logits/kernel", "pre_logits/bias", "head/kernel", "head/bias"} <= set(report.unused)
    np.testing.assert_array_equal(np.asarray(model.get_layer("head").kernel), before)
    assert "pre_logits" in capsys.readouterr().out


@pytest.mark.backend_independent
def test_layouts_keras_vit_cannot_represent_raise(tmp_path):
    arrays = dict(np.load(_fixtures.path("plain.npz")))
    no_class = {k: v for k, v in arrays.items() if k != "cls"}
    with pytest.raises(ValueError, match="no class token"):
        google.to_keras(no_class)
    with pytest.raises(ValueError, match="MAP head"):
        google.to_keras({**arrays, "MAPHead_0/probe": np.zeros((1, 1, 16))})


def test_export_reproduces_the_fixture_arrays_exactly(tmp_path):
    from keras_vit.checkpoints import export_weights, load_weights

    model = _fixtures.model_for("plain")
    load_weights(model, _fixtures.path("plain.npz"), verbose=False)
    export_weights(model, tmp_path / "out.npz", format="google")
    original = np.load(_fixtures.path("plain.npz"))
    exported = np.load(tmp_path / "out.npz")
    assert sorted(exported.files) == sorted(original.files)
    for key in original.files:
        np.testing.assert_array_equal(exported[key], original[key], err_msg=key)


def test_export_refuses_what_the_layout_cannot_hold(tmp_path):
    from keras_vit.checkpoints import export_weights

    model = _fixtures.model_for("registers")
    with pytest.raises(ValueError, match="register tokens"):
        export_weights(model, tmp_path / "r.npz", format="google")
    assert not (tmp_path / "r.npz").exists()
