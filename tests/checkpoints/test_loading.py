import numpy as np
import pytest

import keras_vit
from keras_vit import VisionTransformer
from keras_vit.checkpoints import load_weights
from tests.checkpoints import _fixtures


def test_builder_weights_argument_loads_and_reports():
    config, _, _ = _fixtures.reference("plain")
    config["input_shape"] = tuple(config["input_shape"])
    model = VisionTransformer(**config, weights=str(_fixtures.path("plain.safetensors")))
    assert model.load_report.format == "timm"
    assert model.approximate_gelu is False
    assert _fixtures.max_difference(model, "plain") < _fixtures.TOLERANCE


def test_another_class_count_keeps_a_fresh_head(capsys):
    model = _fixtures.model_for("plain", classes=7)
    head_before = np.asarray(model.get_layer("head").kernel).copy()
    report = load_weights(model, _fixtures.path("plain.safetensors"))
    assert report.skipped == ["head/kernel", "head/bias"]
    np.testing.assert_array_equal(np.asarray(model.get_layer("head").kernel), head_before)
    out = capsys.readouterr().out
    assert "head not loaded: the checkpoint has 5 classes, the model 7" in out


def test_backbone_without_top_leaves_the_head_unused():
    model = _fixtures.model_for("plain", include_top=False)
    report = load_weights(model, _fixtures.path("plain.npz"), verbose=False)
    assert report.skipped == []
    assert report.unused == ["head/kernel (the model has no head)", "head/bias (the model has no head)"]
    full = _fixtures.model_for("plain")
    load_weights(full, _fixtures.path("plain.npz"), verbose=False)
    _, images, _ = _fixtures.reference("plain")
    features = _fixtures.logits(model, images)
    head = full.get_layer("head")
    recomputed = features @ np.asarray(head.kernel) + np.asarray(head.bias)
    np.testing.assert_allclose(recomputed, _fixtures.logits(full, images), atol=1e-5)


def test_resolution_change_224_to_384_loads_and_runs(tmp_path):
    # A patch-16 checkpoint at 224 px (random weights, written by the
    # exporter) loaded at 384 px: grid 14x14 -> 24x24. Narrow, so it is
    # cheap on every backend; the grid is ViT-B/16's.
    config = dict(patch_size=16, hidden_dim=32, num_layers=1, num_heads=2, mlp_dim=64,
                  classes=10, classifier_activation=None)
    small = VisionTransformer(**config, input_shape=(224, 224, 3))
    keras_vit.checkpoints.export_weights(small, tmp_path / "b16.safetensors", format="timm")
    large = VisionTransformer(**config, input_shape=(384, 384, 3), weights=tmp_path / "b16.safetensors")
    assert large.load_report.resampled == ((14, 14), (24, 24))
    table = np.asarray(large.get_layer("position_embedding").position_embedding)
    original = np.asarray(small.get_layer("position_embedding").position_embedding)
    assert table.shape == (1, 1 + 24 * 24, 32)
    np.testing.assert_array_equal(table[0, 0], original[0, 0])  # class slot untouched
    from keras_vit.layers import resample_position_embedding

    np.testing.assert_allclose(table, resample_position_embedding(original, 14, 24), atol=1e-7)
    logits = _fixtures.logits(large, np.zeros((2, 384, 384, 3), "float32"))
    assert logits.shape == (2, 10) and np.isfinite(logits).all()


def test_missing_weights_raise_naming_them_and_change_nothing():
    model = _fixtures.model_for("plain", layer_scale_init=0.1)
    before = {v.path: np.asarray(v).copy() for v in model.weights}
    with pytest.raises(ValueError, match=r"transformer_block_0/layer_scale_1/layer_scale"):
        load_weights(model, _fixtures.path("plain.safetensors"), verbose=False)
    for v in model.weights:
        np.testing.assert_array_equal(np.asarray(v), before[v.path])


def test_shape_mismatch_names_the_key_and_changes_nothing():
    model = _fixtures.model_for("plain", mlp_dim=48)
    before = {v.path: np.asarray(v).copy() for v in model.weights}
    with pytest.raises(ValueError, match=r"Shape mismatch for weight 'transformer_block_0/mlp/dense_1/bias'"):
        load_weights(model, _fixtures.path("plain.safetensors"), verbose=False)
    for v in model.weights:
        np.testing.assert_array_equal(np.asarray(v), before[v.path])


def test_keras_weights_files_load_across_resolution_and_classes(tmp_path):
    source = _fixtures.model_for("registers")
    load_weights(source, _fixtures.path("registers.safetensors"), verbose=False)
    source.save_weights(tmp_path / "r.weights.h5")
    source.save(tmp_path / "r.keras")
    for name in ("r.weights.h5", "r.keras"):
        same = _fixtures.model_for("registers", weights=tmp_path / name)
        assert same.load_report.format == "keras" and same.load_report.unused == []
        assert _fixtures.max_difference(same, "registers") < _fixtures.TOLERANCE
    bigger = _fixtures.model_for("registers", input_shape=(16, 16, 3), classes=2,
                                 weights=tmp_path / "r.weights.h5")
    assert bigger.load_report.resampled == ((2, 2), (4, 4))
    assert bigger.load_report.skipped == ["head/kernel", "head/bias"]


@pytest.mark.parametrize(
    "weights, error, match",
    [(123, TypeError, "`weights` must be None, a preset name"),
     ("no_such_preset_or_file", ValueError, "neither an existing file nor a preset")],
)
def test_bad_weights_arguments_raise_before_building(weights, error, match):
    with pytest.raises(error, match=match):
        _fixtures.model_for("plain", weights=weights)


def test_load_weights_needs_a_vision_transformer():
    import keras

    with pytest.raises(TypeError, match="VisionTransformer"):
        load_weights(keras.Sequential([keras.layers.Dense(2)]), _fixtures.path("plain.npz"))
