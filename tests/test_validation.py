"""Arguments are checked strictly and before any weight is created.

Booleans must be bools (NumPy's too), integers any integral type (NumPy's
too) but not floats or bools, floats finite, and a model's size is bounded
by its parameter count, computed from the configuration alone.
"""

import inspect
import json
import math
import time

import keras
import numpy as np
import pytest

from keras_vit import (
    VisionTransformer,
    ViTHuge,
    ViTTiny,
    build_segmenter,
    from_preset,
    get_variant_config,
    resize_model,
    vit,
    vit_backbone,
)
from keras_vit.layers import (
    DropPath,
    LayerScale,
    MLPBlock,
    MultiHeadSelfAttention,
    TransformerBlock,
    TruncatedNormal,
    resample_position_embedding,
)
from keras_vit.models import count_parameters, unet_head, vision_transformer
from keras_vit.models.backbone import default_block_indices
from keras_vit.models.variants import PUBLISHED_PARAMETER_COUNTS
from keras_vit.training import (
    GradientNormMonitor,
    ThroughputMeter,
    UnfreezeCallback,
    compute_gradients,
    freeze,
    gradient_function,
)
from keras_vit.visualization import attention_rollout, overlay_attention
from tests.test_case import random_inputs

TINY = dict(patch_size=4, hidden_dim=16, num_layers=1, num_heads=2, mlp_dim=32, input_shape=(16, 16, 3))
PRESET = "vit_base_patch16_384.augreg_in21k_ft_in1k"


@pytest.fixture
def no_weights(monkeypatch):
    """Makes creating any layer weight an error: the checks must come first."""

    def refuse(layer, *args, **kwargs):
        raise AssertionError(f"{layer.name} created a weight before the arguments were checked")

    monkeypatch.setattr(keras.layers.Layer, "add_weight", refuse)


def _escape(text):
    return "".join("\\" + c if c in "()[]{}.*+?^$|" else c for c in text)


# --------------------------------------------------------------------------
# Booleans
# --------------------------------------------------------------------------

# (builder taking the flag's value, argument name, whether None is meaningful)
FLAGS = [
    (lambda v: VisionTransformer(**TINY, include_top=v), "include_top", False),
    (lambda v: VisionTransformer(**TINY, use_qkv_bias=v), "use_qkv_bias", False),
    (lambda v: VisionTransformer(**TINY, approximate_gelu=v), "approximate_gelu", True),
    (lambda v: VisionTransformer(**TINY, fused_qkv=v), "fused_qkv", True),
    (lambda v: VisionTransformer(**TINY, remat=v), "remat", False),
    (lambda v: ViTTiny(input_shape=(32, 32, 3), include_top=v), "include_top", False),
    (lambda v: ViTHuge(input_shape=(28, 28, 3), use_qkv_bias=v), "use_qkv_bias", False),
    (lambda v: vit("Ti/16", input_shape=(32, 32, 3), approximate_gelu=v), "approximate_gelu", True),
    (lambda v: from_preset(PRESET, include_top=v), "include_top", False),
    (lambda v: TransformerBlock(num_heads=2, mlp_dim=8, approximate_gelu=v), "approximate_gelu", False),
    (lambda v: TransformerBlock(num_heads=2, mlp_dim=8, use_qkv_bias=v), "use_qkv_bias", False),
    (lambda v: TransformerBlock(num_heads=2, mlp_dim=8, remat=v), "remat", False),
    (lambda v: TransformerBlock(num_heads=2, mlp_dim=8, fused_qkv=v), "fused_qkv", True),
    (lambda v: MultiHeadSelfAttention(num_heads=2, use_qkv_bias=v), "use_qkv_bias", False),
    (lambda v: MLPBlock(mlp_dim=8, approximate_gelu=v), "approximate_gelu", False),
    (lambda v: resample_position_embedding(np.zeros((1, 5, 2)), 2, 3, antialias=v), "antialias", False),
]


@pytest.mark.parametrize("build, name, allows_none", FLAGS)
def test_flags_accept_only_booleans(build, name, allows_none, no_weights):
    # Each of these was read as truthy or falsy before.
    for value in ["no", "yes", "", 0, 1, 1.0, np.int64(1), [True]] + ([] if allows_none else [None]):
        accepted = "True, False or None" if allows_none else "True or False"
        with pytest.raises(TypeError, match=_escape(f"`{name}` must be {accepted}. Received: {name}={value!r}")):
            build(value)


def test_numpy_booleans_are_accepted_and_saved_as_python_bools():
    model = VisionTransformer(
        **TINY, classes=3, include_top=np.bool_(True), use_qkv_bias=np.bool_(False),
        approximate_gelu=np.bool_(True), fused_qkv=np.bool_(True), remat=np.bool_(False),
    )
    config = model.get_config()
    for key in ("include_top", "use_qkv_bias", "approximate_gelu", "fused_qkv", "remat"):
        assert type(config[key]) is bool, key
    assert config["use_qkv_bias"] is False and config["approximate_gelu"] is True
    assert VisionTransformer.from_config(json.loads(json.dumps(config))).get_config() == config
    block = model.get_layer("transformer_block_0")
    assert block.use_qkv_bias is False and block.approximate_gelu is True
    assert not any(w.path.endswith("query/bias") for w in model.weights)


def test_backbone_and_segmenter_flags():
    model = VisionTransformer(**TINY, include_top=False)
    for build in (lambda v: vit_backbone(model, apply_norm=v),
                  lambda v: build_segmenter(model, 3, apply_norm=v, decoder_filters=8)):
        with pytest.raises(TypeError, match="apply_norm='no'"):
            build("no")
        with pytest.raises(TypeError, match="apply_norm=1"):
            build(1)
    assert vit_backbone(model, apply_norm=np.bool_(True)).apply_norm is True
    build_segmenter(model, 3, apply_norm=np.bool_(False), decoder_filters=8)
    build_segmenter(model, 3, apply_norm=None, decoder_filters=8)


def test_visualization_and_training_flags():
    maps = [np.full((1, 2, 5, 5), 0.2)] * 2
    with pytest.raises(TypeError, match="residual='no'"):
        attention_rollout(maps, residual="no")
    np.testing.assert_allclose(attention_rollout(maps, residual=np.bool_(False)), 0.2, rtol=1e-6)
    with pytest.raises(TypeError, match="overwrite='no'"):
        overlay_attention(np.zeros((8, 8)), np.ones((2, 2)), overwrite="no")

    model = VisionTransformer(**TINY, classes=3)
    images, labels = random_inputs((2, 16, 16, 3)), np.array([0, 1])
    loss = keras.losses.SparseCategoricalCrossentropy()
    with pytest.raises(TypeError, match="training='yes'"):
        compute_gradients(model, images, labels, loss, training="yes")
    with pytest.raises(TypeError, match="inputs_gradient=1"):
        gradient_function(model, loss, inputs_gradient=1)
    with pytest.raises(TypeError, match="training='yes'"):
        GradientNormMonitor((images, labels), training="yes")
    with pytest.raises(TypeError, match="verbose='no'"):
        UnfreezeCallback(epoch=1, verbose="no")
    assert freeze(model, num_blocks=np.int64(1), embeddings=np.bool_(True), head=np.bool_(False))[0] == "patch_embedding"
    with pytest.raises(TypeError, match="head=0"):
        freeze(model, head=0)
    with pytest.raises(TypeError, match="batch_size=32.5"):
        ThroughputMeter(batch_size=32.5)
    with pytest.raises(TypeError, match="batch_size=True"):
        ThroughputMeter(batch_size=True)
    assert ThroughputMeter(batch_size=np.int64(32)).batch_size == 32


# --------------------------------------------------------------------------
# Integers
# --------------------------------------------------------------------------


def test_numpy_scalars_are_accepted_everywhere_and_saved_as_python_numbers():
    i64, i32 = np.int64, np.int32
    model = VisionTransformer(
        patch_size=i64(4), hidden_dim=i64(16), num_layers=np.int8(1), num_heads=np.uint16(2),
        mlp_dim=i32(32), input_shape=(i64(16), i32(16), np.uint8(3)), classes=i64(3),
        num_register_tokens=i64(1), max_parameters=i64(10**6), layer_norm_epsilon=np.float32(1e-5),
        layer_scale_init=np.float64(0.1), dropout_rate=np.float32(0.25),
    )
    assert model.output_shape == (None, 3)
    config = model.get_config()
    restored = VisionTransformer.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config
    for key in ("hidden_dim", "num_layers", "num_heads", "mlp_dim", "classes", "num_register_tokens"):
        assert type(config[key]) is int, key
    for key in ("layer_norm_epsilon", "layer_scale_init", "dropout_rate"):
        assert type(config[key]) is float, key
    assert all(type(v) is int for v in config["patch_size"] + config["input_shape"])

    model = VisionTransformer(**{**TINY, "patch_size": (i64(4), i32(2))}, classes=i32(2))
    assert model.patch_size == (4, 2) and model.grid_size == (4, 8)
    assert get_variant_config("base", patch_size=i64(32))["patch_size"] == 32
    assert type(get_variant_config("base", patch_size=i64(32))["patch_size"]) is int
    resized = resize_model(model, (i64(8), i64(8), i64(3)))
    assert resized.image_shape == (8, 8, 3)
    block = TransformerBlock(num_heads=i64(2), mlp_dim=i64(8), seed=i64(3))
    assert json.dumps(block.get_config())
    assert default_block_indices(i64(12), i64(4)) == [2, 5, 8, 11]


NOT_INTEGERS = [
    ("classes", 3.0), ("classes", True), ("classes", np.float64(3)), ("classes", "3"),
    ("hidden_dim", 16.0), ("hidden_dim", True), ("num_layers", np.float32(1)),
    ("num_heads", 2.0), ("mlp_dim", False), ("num_register_tokens", 1.0),
    ("max_parameters", 1e9), ("max_parameters", True),
]


def test_floats_and_bools_are_not_integers(no_weights):
    for name, value in NOT_INTEGERS:
        match = _escape(f"`{name}` must be") + ".*" + _escape(f"{name}={value!r}")
        with pytest.raises((TypeError, ValueError), match=match):
            VisionTransformer(**{**TINY, name: value})


def test_shapes_hold_integers(no_weights):
    for name, value in [("input_shape", (16.0, 16, 3)), ("input_shape", (16, 16, True)),
                        ("input_shape", (16, np.float64(16), 3)), ("input_shape", (16, 16)),
                        ("patch_size", 4.0), ("patch_size", (4, 4.0)), ("patch_size", True),
                        ("patch_size", (4, False)), ("patch_size", np.bool_(True))]:
        with pytest.raises((TypeError, ValueError), match=_escape(f"`{name}` must") + ".*" + _escape(repr(value))):
            VisionTransformer(**{**TINY, name: value})


def test_other_integer_arguments(no_weights):
    with pytest.raises(TypeError, match=r"`patch_size` must be .*patch_size=16\.0"):
        get_variant_config("base", patch_size=16.0)
    with pytest.raises(TypeError, match="patch_size=True"):
        ViTTiny(patch_size=True)
    with pytest.raises(ValueError, match=r"`output_size` must hold 2 positive integers.*\(8\.5, 8\)"):
        unet_head([keras.Input((2, 2, 4))], 3, output_size=(8.5, 8))
    with pytest.raises(TypeError, match="num_layers=12.0"):
        default_block_indices(12.0)
    with pytest.raises(TypeError, match="seed=1.5"):
        DropPath(0.1, seed=1.5)
    with pytest.raises(TypeError, match="seed='0'"):
        TransformerBlock(num_heads=2, mlp_dim=8, seed="0")


# --------------------------------------------------------------------------
# Floats
# --------------------------------------------------------------------------


def test_non_finite_floats_are_refused(no_weights):
    for name in ("layer_norm_epsilon", "layer_scale_init"):
        for value in (math.inf, -math.inf, math.nan):
            with pytest.raises(ValueError, match=_escape(f"`{name}` must be") + ".*" + f"{name}={value!r}"):
                VisionTransformer(**TINY, **{name: value})


def test_layer_norm_epsilon_is_a_positive_float(no_weights):
    for value in (math.inf, math.nan, 0.0, -1e-6, None, "1e-6", True):
        with pytest.raises((TypeError, ValueError), match="layer_norm_epsilon"):
            VisionTransformer(**TINY, layer_norm_epsilon=value)
        with pytest.raises((TypeError, ValueError), match="layer_norm_epsilon"):
            TransformerBlock(num_heads=2, mlp_dim=8, layer_norm_epsilon=value)


def test_non_finite_floats_are_refused_by_the_layers():
    for value in (math.inf, math.nan):
        with pytest.raises(ValueError, match="init_value"):
            LayerScale(value)
        with pytest.raises(ValueError, match="layer_scale_init"):
            TransformerBlock(num_heads=2, mlp_dim=8, layer_scale_init=value)
        with pytest.raises(ValueError, match="stddev"):
            TruncatedNormal(stddev=value)
        with pytest.raises(ValueError, match="mean"):
            TruncatedNormal(mean=value)


# --------------------------------------------------------------------------
# Model size
# --------------------------------------------------------------------------

_COUNTED = set(inspect.signature(count_parameters).parameters)

CONFIGS = [
    dict(TINY, classes=7),
    dict(TINY, num_layers=3, classes=5, num_register_tokens=2, layer_scale_init=0.1),
    dict(TINY, use_qkv_bias=False, include_top=False, pooling="gap"),
    dict(TINY, include_top=False, pooling=None, num_register_tokens=4, use_qkv_bias=False,
         layer_scale_init=1e-5),
    dict(patch_size=(4, 2), hidden_dim=12, num_layers=2, num_heads=3, mlp_dim=20, input_shape=(8, 12, 1),
         classes=1),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_closed_form_parameter_count_matches_the_built_model(config):
    model = VisionTransformer(**config)
    assert count_parameters(**{k: v for k, v in config.items() if k in _COUNTED}) == model.count_params()


def test_closed_form_parameter_count_matches_the_published_counts():
    for (variant, patch_size), published in PUBLISHED_PARAMETER_COUNTS.items():
        config = get_variant_config(variant, patch_size=patch_size)
        assert count_parameters(**config) == published, (variant, patch_size)


def test_the_largest_published_vits_stay_under_the_default_limit(monkeypatch):
    # ViT-G/14 (Zhai et al. 2022, 1.8B parameters) and ViT-e (PaLI, 3.9B).
    giant = dict(patch_size=14, hidden_dim=1664, num_layers=48, num_heads=16, mlp_dim=8192)
    enormous = dict(patch_size=14, hidden_dim=1792, num_layers=56, num_heads=16, mlp_dim=15360)
    assert 1.8e9 < count_parameters(**giant) < 1.9e9
    assert 3.8e9 < count_parameters(**enormous) < 4.0e9
    assert vision_transformer.MAX_PARAMETERS >= 4e9

    class Reached(Exception):
        pass

    def stop(*args, **kwargs):
        raise Reached  # every check passed: the first layer is being created

    monkeypatch.setattr(vision_transformer, "PatchEmbedding", stop)
    for config in (giant, enormous):
        with pytest.raises(Reached):
            VisionTransformer(**config)


def test_absurd_models_fail_fast_with_their_parameter_count(no_weights):
    start = time.perf_counter()
    with pytest.raises(ValueError, match="max_parameters") as info:
        VisionTransformer(hidden_dim=2**30, num_heads=16)
    assert time.perf_counter() - start < 5
    count = count_parameters(hidden_dim=2**30)
    message = str(info.value)
    assert f"{count:,}" in message and "hidden_dim=1073741824" in message
    assert f"{vision_transformer.MAX_PARAMETERS:,}" in message
    with pytest.raises(ValueError, match="max_parameters"):
        ViTHuge(max_parameters=10**8)
    with pytest.raises(ValueError, match="num_layers=1000000"):
        VisionTransformer(num_layers=10**6)


def test_max_parameters_is_an_override_that_survives_saving():
    count = count_parameters(**{k: v for k, v in dict(TINY, classes=3).items() if k in _COUNTED})
    with pytest.raises(ValueError, match=f"{count:,}"):
        VisionTransformer(**TINY, classes=3, max_parameters=count - 1)
    model = VisionTransformer(**TINY, classes=3, max_parameters=count)
    assert model.count_params() == count
    config = model.get_config()
    assert config["max_parameters"] == count
    assert VisionTransformer.from_config(config).count_params() == count
    assert "max_parameters" not in VisionTransformer(**TINY).get_config()
    with pytest.raises(ValueError, match="max_parameters=0"):
        VisionTransformer(**TINY, max_parameters=0)


def test_count_parameters_checks_its_arguments():
    with pytest.raises(TypeError, match="hidden_dim=16.0"):
        count_parameters(hidden_dim=16.0)
    with pytest.raises(ValueError, match="input_shape"):
        count_parameters(patch_size=16, input_shape=(30, 30, 3))
    # A variant's configuration spreads in (num_heads does not change the count).
    assert count_parameters(**get_variant_config("Ti/16")) == 5_717_416
