import numpy as np
import pytest

# The preset machinery is plain Python over NumPy files; building ViT-Ti
# costs seconds per backend, so this module runs once (TensorFlow).
pytestmark = pytest.mark.backend_independent

import keras_vit
from keras_vit.checkpoints import PRESETS, export_weights, presets


@pytest.fixture
def tiny_preset(monkeypatch, tmp_path):
    """A ViT-Ti/16 preset at 32 px whose file sits in a local directory."""
    model = keras_vit.ViTTiny(input_shape=(32, 32, 3), classes=10, classifier_activation=None)
    local = tmp_path / "weights"
    local.mkdir()
    export_weights(model, local / "tiny.safetensors", format="timm")
    preset = presets.Preset("test_tiny", "https://example.invalid/tiny.safetensors",
                            "tiny.safetensors", "tiny", 16, 32, 10, "vit", False)
    monkeypatch.setitem(PRESETS, "test_tiny", preset)
    return model, local


def test_from_preset_builds_the_architecture_and_loads(tiny_preset):
    source, local = tiny_preset
    model = keras_vit.from_preset("test_tiny", local_dir=str(local), classifier_activation=None)
    assert model.image_shape == (32, 32, 3) and model.hidden_dim == 192 and model.classes == 10
    assert model.load_report.unused == [] and model.load_report.skipped == []
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(images, verbose=0), source.predict(images, verbose=0))


def test_from_preset_overrides_classes_and_resolution(tiny_preset):
    _, local = tiny_preset
    model = keras_vit.from_preset("test_tiny", local_dir=str(local), classes=3,
                                  input_shape=(64, 64, 3))
    assert model.output_shape == (None, 3)
    assert model.load_report.resampled == ((2, 2), (4, 4))


def test_builder_with_a_preset_of_another_variant_raises_first(tiny_preset, monkeypatch):
    _, local = tiny_preset
    monkeypatch.setenv("KERAS_VIT_WEIGHTS_DIR", str(local))
    with pytest.raises(ValueError, match="Preset 'test_tiny' is ViT tiny with patch size 16"):
        keras_vit.ViTSmall(weights="test_tiny")
    model = keras_vit.ViTTiny(weights="test_tiny", classes=10)  # resolution from the preset
    assert model.image_shape == (32, 32, 3)
