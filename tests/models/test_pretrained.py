import importlib

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
    preset = presets.Preset(name="test_tiny", url="https://example.invalid/tiny.safetensors",
                            filename="tiny.safetensors", architecture="vit_tiny_patch16_224", family="vit",
                            layout="timm", variant="tiny", patch_size=16, image_size=32, classes=10,
                            preprocessing="vit")
    monkeypatch.setitem(PRESETS, "test_tiny", preset)
    return model, local


@pytest.fixture
def built(monkeypatch):
    """Records `keras_vit.models.builders.vit` calls instead of building: a list of
    `(architecture, kwargs)`."""
    vit_module = importlib.import_module("keras_vit.models.builders")
    calls = []
    monkeypatch.setattr(vit_module, "vit", lambda architecture, **kwargs: calls.append((architecture, kwargs)))
    return calls


def test_from_preset_builds_the_timm_architecture_with_the_preset_s_settings(tiny_preset, built):
    _, local = tiny_preset
    keras_vit.from_preset("test_tiny", local_dir=str(local))
    assert built == [("vit_tiny_patch16_224", dict(input_shape=(32, 32, 3), classes=10, name="test_tiny",
                                                   weights=str(local / "tiny.safetensors")))]
    # The architecture name decides the activation: no approximate_gelu.
    built.clear()
    keras_vit.from_preset("vit_large_patch14_clip_quickgelu_224.openai")
    assert built == [("vit_large_patch14_clip_quickgelu_224", dict(
        input_shape=(224, 224, 3), classes=768, name="vit_large_patch14_clip_quickgelu_224_openai",
        weights="vit_large_patch14_clip_quickgelu_224.openai"))]


def test_from_preset_without_a_head_builds_no_top_unless_told(built):
    keras_vit.from_preset("vit_small_patch14_reg4_dinov2.lvd142m")
    keras_vit.from_preset("vit_base_patch16_siglip_224.webli", include_top=True, classes=5,
                          input_shape=(256, 256, 3), drop_path_rate=0.1)
    assert built == [
        ("vit_small_patch14_reg4_dinov2", dict(input_shape=(518, 518, 3), include_top=False,
                                               name="vit_small_patch14_reg4_dinov2_lvd142m",
                                               weights="vit_small_patch14_reg4_dinov2.lvd142m")),
        ("vit_base_patch16_siglip_224", dict(input_shape=(256, 256, 3), include_top=True, classes=5,
                                             name="vit_base_patch16_siglip_224_webli", drop_path_rate=0.1,
                                             weights="vit_base_patch16_siglip_224.webli")),
    ]


def test_from_preset_refuses_weights_and_unknown_names(built):
    with pytest.raises(TypeError, match="`weights` cannot be passed"):
        keras_vit.from_preset("deit_tiny_distilled_patch16_224.fb_in1k", weights="other.safetensors")
    with pytest.raises(ValueError, match="Unknown preset 'vit_tiny'"):
        keras_vit.from_preset("vit_tiny")
    assert built == []


# The tests below build real models: they need keras_vit.vit to accept timm
# architecture names (`vit("vit_tiny_patch16_224", ...)`).
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
    # The message names the file's sizes and how to build them.
    with pytest.raises(ValueError, match=r"hidden_dim 192.*keras_vit\.from_preset\('test_tiny'\)"):
        keras_vit.ViTSmall(weights="test_tiny")
    model = keras_vit.ViTTiny(weights="test_tiny", classes=10)  # resolution from the preset
    assert model.image_shape == (32, 32, 3)
