import json
import pathlib

import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.training import compute_gradients
from tests.test_case import random_inputs, to_numpy

FIXTURE = pathlib.Path(__file__).parents[1] / "fixtures" / "tiny_vit_reference.npz"

TINY = dict(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32, input_shape=(16, 16, 3))


def tiny(**kwargs):
    return VisionTransformer(**{**TINY, "classes": 7, **kwargs})


@pytest.mark.parametrize("include_top", [True, False])
@pytest.mark.parametrize("pooling", ["token", "gap", None])
@pytest.mark.parametrize("num_register_tokens", [0, 3])
def test_include_top_and_pooling_combinations(include_top, pooling, num_register_tokens):
    if include_top and pooling is None:
        with pytest.raises(ValueError, match="pooling"):
            tiny(include_top=include_top, pooling=pooling)
        return
    model = tiny(include_top=include_top, pooling=pooling, num_register_tokens=num_register_tokens)
    out = to_numpy(model(random_inputs((2, 16, 16, 3))))
    if include_top:
        assert out.shape == (2, 7)
        np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)  # softmax by default
    elif pooling is None:
        assert out.shape == (2, 1 + num_register_tokens + 16, 16)
    else:
        assert out.shape == (2, 16)
    assert tuple(model.output_shape) == (None,) + out.shape[1:]


def test_pooling_selects_the_documented_tokens():
    model = tiny(include_top=False, pooling=None, num_register_tokens=2)
    x = random_inputs((2, 16, 16, 3))
    sequence = to_numpy(model(x))
    token = tiny(include_top=False, pooling="token", num_register_tokens=2)
    gap = tiny(include_top=False, pooling="gap", num_register_tokens=2)
    token.set_weights(model.get_weights())
    gap.set_weights(model.get_weights())
    np.testing.assert_allclose(to_numpy(token(x)), sequence[:, 0], atol=1e-6)
    # Mean over patch tokens only: class token and registers are excluded.
    np.testing.assert_allclose(to_numpy(gap(x)), sequence[:, 3:].mean(1), atol=1e-6)


def test_stable_layer_and_weight_names():
    model = tiny(num_register_tokens=1, layer_scale_init=0.1, num_layers=1)
    assert [layer.name for layer in model.layers] == [
        "images", "patch_embedding", "class_token", "position_embedding", "register_tokens",
        "embedding_dropout", "transformer_block_0", "encoder_norm", "head",
    ]
    paths = [w.path for w in model.weights]
    assert paths == [
        "patch_embedding/projection/kernel", "patch_embedding/projection/bias",
        "class_token/class_token", "position_embedding/position_embedding",
        "register_tokens/register_tokens",
        "transformer_block_0/layer_norm_1/gamma", "transformer_block_0/layer_norm_1/beta",
        "transformer_block_0/attention/query/kernel", "transformer_block_0/attention/query/bias",
        "transformer_block_0/attention/key/kernel", "transformer_block_0/attention/key/bias",
        "transformer_block_0/attention/value/kernel", "transformer_block_0/attention/value/bias",
        "transformer_block_0/attention/attention_output/kernel",
        "transformer_block_0/attention/attention_output/bias",
        "transformer_block_0/layer_norm_2/gamma", "transformer_block_0/layer_norm_2/beta",
        "transformer_block_0/mlp/dense_1/kernel", "transformer_block_0/mlp/dense_1/bias",
        "transformer_block_0/mlp/dense_2/kernel", "transformer_block_0/mlp/dense_2/bias",
        "transformer_block_0/layer_scale_1/layer_scale", "transformer_block_0/layer_scale_2/layer_scale",
        "encoder_norm/gamma", "encoder_norm/beta", "head/kernel", "head/bias",
    ]


def test_initialisation_follows_the_reference():
    keras.utils.set_random_seed(0)  # the statistics below are of one fixed draw
    model = VisionTransformer(patch_size=4, hidden_dim=64, num_layers=1, num_heads=4, mlp_dim=256,
                              input_shape=(32, 32, 3), classes=100)
    weights = {w.path: to_numpy(w) for w in model.weights}
    for path in ("transformer_block_0/mlp/dense_1/kernel", "transformer_block_0/attention/query/kernel",
                 "position_embedding/position_embedding", "head/kernel"):
        value = weights[path]
        assert np.abs(value).max() <= 0.04 + 1e-6, path  # truncated at 2 std
        assert 0.012 < value.std() < 0.02, path  # truncated N(0, 0.02) has std 0.0176
    patch = weights["patch_embedding/projection/kernel"]
    assert 0.9 < patch.std() * np.sqrt(4 * 4 * 3) < 1.1  # LeCun normal: std 1/sqrt(fan_in)
    for path, value in weights.items():
        if path.endswith("bias") or path.endswith("beta"):
            assert not value.any(), path
        if path.endswith("gamma"):
            np.testing.assert_array_equal(value, 1.0)


def test_drop_path_rises_linearly_over_blocks():
    model = tiny(num_layers=5, drop_path_rate=0.2)
    rates = [model.get_layer(f"transformer_block_{i}").drop_path_rate for i in range(5)]
    np.testing.assert_allclose(rates, [0.0, 0.05, 0.1, 0.15, 0.2])


def test_keras_save_and_load_give_identical_outputs(tmp_path):
    model = tiny(num_register_tokens=2, layer_scale_init=0.1, pooling="gap", dropout_rate=0.1,
                 drop_path_rate=0.1, classifier_activation=None)
    x = random_inputs((3, 16, 16, 3))
    path = tmp_path / "vit.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is VisionTransformer
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(to_numpy(loaded.predict(x, verbose=0)), to_numpy(model.predict(x, verbose=0)))


def test_config_round_trip():
    model = tiny(patch_size=(4, 2), input_shape=(8, 12, 1), classifier_activation=None)
    config = model.get_config()
    assert config["patch_size"] == (4, 2) and config["input_shape"] == (8, 12, 1)
    rebuilt = VisionTransformer.from_config(json.loads(json.dumps(config)))
    assert rebuilt.get_config() == config
    assert rebuilt.count_params() == model.count_params()


@pytest.mark.parametrize("pooling", ["token", "gap"])
def test_every_variable_and_every_patch_receives_gradient(pooling):
    # The loss reaches every weight, and through attention and the residual
    # path every input patch, including those far from the class token.
    # Except the key biases: softmax ignores a constant added to a row of
    # scores, so their gradient is 0 but for float rounding (about 1e-11,
    # against 1e-5 for the smallest real gradient); it must not count.
    keras.utils.set_random_seed(0)
    model = tiny(pooling=pooling, num_register_tokens=1, layer_scale_init=0.5, classifier_activation=None)
    images = random_inputs((4, 16, 16, 3))
    labels = np.array([0, 3, 5, 6], "int32")
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    var_grads, input_grad = compute_gradients(
        model, images, labels, loss, training=True, inputs_gradient=True
    )
    assert len(var_grads) == len(model.trainable_variables)
    largest = max(np.abs(grad).max() for grad in var_grads)
    for variable, grad in zip(model.trainable_variables, var_grads):
        assert np.all(np.isfinite(grad)), variable.path
        if variable.path.endswith("key/bias"):
            assert np.abs(grad).max() < 1e-6 * largest, variable.path
        else:
            assert np.abs(grad).max() > 1e-6 * largest, f"{variable.path} receives no gradient"
    per_patch = np.abs(input_grad).reshape(4, 4, 4, 4, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(4, 16, -1)
    assert np.all(per_patch.max(-1) > 0), "some patch receives no gradient"


def test_fit_memorises_a_small_batch():
    # Seeded: unseeded, one fresh-clone run in many stopped at 0.52 (> 0.6 x 0.69).
    keras.utils.set_random_seed(0)
    model = tiny(classes=2, classifier_activation=None)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((32, 16, 16, 3)).astype("float32")
    labels = (images[:, :8].mean((1, 2, 3)) > images[:, 8:].mean((1, 2, 3))).astype("int32")
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images, labels, batch_size=32, epochs=60, verbose=0)
    # Seen over repeated unseeded runs: 0.69 -> 0.10..0.30.
    assert history.history["loss"][-1] < 0.6 * history.history["loss"][0]


def test_mixed_bfloat16_model():
    model = tiny(dtype="mixed_bfloat16")
    for weight in model.weights:
        assert keras.backend.standardize_dtype(weight.dtype) == "float32", weight.path
    out = model(random_inputs((2, 16, 16, 3)))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"  # the head stays float32
    np.testing.assert_allclose(to_numpy(out).sum(-1), 1.0, rtol=1e-5)
    hidden = model.get_layer("transformer_block_0").output
    assert keras.backend.standardize_dtype(hidden.dtype) == "bfloat16"


@pytest.mark.parametrize("name", ["plain", "extended"])
def test_logits_match_numpy_reference_fixture(name):
    # Weights and float64 NumPy logits stored once by tests/fixtures/make_reference.py;
    # every backend must reproduce them.
    data = np.load(FIXTURE, allow_pickle=False)
    config = json.loads(str(data[f"{name}/config"]))
    model = VisionTransformer(**config, classifier_activation=None)
    prefix = f"{name}/weights/"
    stored = {key[len(prefix):]: data[key] for key in data.files if key.startswith(prefix)}
    assert sorted(stored) == sorted(w.path for w in model.weights)
    for weight in model.weights:
        weight.assign(stored[weight.path])
    logits = to_numpy(model(data[f"{name}/images"]))
    np.testing.assert_allclose(logits, data[f"{name}/logits"], atol=1e-5, rtol=0)


BAD_ARGUMENTS = [
    (dict(input_shape=(30, 32, 3)), "divisible by `patch_size`"),
    (dict(input_shape=(32, 30, 3)), "input_shape"),
    (dict(input_shape=(None, None, 3)), "input_shape"),
    (dict(input_shape=(32, 32)), "input_shape"),
    (dict(hidden_dim=18, num_heads=4), "hidden_dim=18, num_heads=4"),
    (dict(pooling="max"), "pooling='max'"),
    (dict(pooling=None), "pooling=None"),
    (dict(classes=0), "classes=0"),
    (dict(classes=-3), "classes=-3"),
    (dict(dropout_rate=-0.1), "dropout_rate=-0.1"),
    (dict(dropout_rate=1.0), "dropout_rate=1.0"),
    (dict(attention_dropout_rate=1.5), "attention_dropout_rate=1.5"),
    (dict(drop_path_rate=-1e-3), "drop_path_rate=-0.001"),
    (dict(drop_path_rate=1.0), "drop_path_rate=1.0"),
    (dict(layer_scale_init=-1.0), "layer_scale_init=-1.0"),
    (dict(num_register_tokens=-1), "num_register_tokens=-1"),
    (dict(num_layers=0), "num_layers=0"),
    (dict(weights="imagenet"), "`weights`='imagenet' is neither an existing file nor a preset name"),
    (dict(classifier_activation="no_such_activation"), "no_such_activation"),
    (dict(remat=True, dropout_rate=0.1), "`remat=True` needs dropout_rate=0"),
]


@pytest.mark.parametrize("kwargs, match", BAD_ARGUMENTS)
def test_bad_arguments_raise_before_any_work(kwargs, match):
    with pytest.raises(ValueError, match=match.replace("(", r"\(").replace(")", r"\)")):
        VisionTransformer(**{**TINY, "input_shape": (32, 32, 3), **kwargs})


@pytest.mark.parametrize("kwargs", [dict(fused_qkv="on"), dict(remat=None)])
def test_fast_path_flags_must_be_booleans(kwargs):
    with pytest.raises(TypeError, match=next(iter(kwargs))):
        VisionTransformer(**{**TINY, "input_shape": (32, 32, 3), **kwargs})


def test_fast_paths_change_neither_outputs_nor_training_steps():
    # remat recomputes each block's branches in the backward pass and
    # fused_qkv merges the q/k/v matmuls: a compiled (XLA on TensorFlow and
    # JAX) training step must give the same weights as the plain model.
    keras.utils.set_random_seed(0)
    plain = tiny(classifier_activation=None, fused_qkv=False, layer_scale_init=0.5)
    fast = tiny(classifier_activation=None, fused_qkv=True, remat=True, layer_scale_init=0.5)
    fast.set_weights(plain.get_weights())
    images = random_inputs((4, 16, 16, 3))
    labels = np.array([0, 3, 5, 6], "int32")
    np.testing.assert_allclose(to_numpy(fast.predict_on_batch(images)),
                               to_numpy(plain.predict_on_batch(images)), atol=1e-5)
    initial = plain.get_weights()
    for model in (plain, fast):
        model.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.train_on_batch(images, labels)
    paths = [w.path for w in plain.weights]
    for path, start, after_plain, after_fast in zip(paths, initial, plain.get_weights(), fast.get_weights()):
        np.testing.assert_allclose(after_fast, after_plain, atol=1e-5, err_msg=path)
        # Every weight took a step, but the key bias: softmax is invariant to
        # adding the same number to every score of a row, so its gradient is 0.
        assert np.allclose(after_plain, start) == path.endswith("key/bias"), path
    assert fast.get_config()["remat"] is True and fast.get_config()["fused_qkv"] is True


def test_classes_ignored_without_top():
    model = tiny(include_top=False, classes=0)
    assert model.output_shape == (None, 16)


def test_the_model_keeps_its_dtype_policy_through_saving(tmp_path):
    # compile() adds loss scaling only when the model's own policy is
    # mixed_float16, and a reloaded model must rebuild its layers in it.
    model = tiny(dtype="mixed_bfloat16")
    assert model.dtype_policy.name == "mixed_bfloat16"
    model.save(tmp_path / "mixed.keras")
    loaded = keras.models.load_model(tmp_path / "mixed.keras")
    assert loaded.dtype_policy.name == "mixed_bfloat16"
    assert loaded.get_layer("transformer_block_0").compute_dtype == "bfloat16"
    half = tiny(dtype="mixed_float16")
    half.compile("adam", "mse")
    assert isinstance(half.optimizer, keras.optimizers.LossScaleOptimizer)


# ---------------------------------------------------------------------------
# The family options, with the rest of the package
# ---------------------------------------------------------------------------

FAMILY_OPTIONS = {
    "deit_distilled": dict(distillation=True),
    "deit3": dict(layer_scale_init=1e-6, no_embed_class=True),
    "dinov2_reg": dict(layer_scale_init=1e-5, num_register_tokens=4, no_embed_class=True),
    "clip": dict(pre_norm=True, patch_bias=False, layer_norm_epsilon=1e-5, mlp_activation="quick_gelu"),
    "siglip_map": dict(class_token=False, pooling="map"),
    "reg_gap": dict(class_token=False, pooling="gap", fc_norm=True, num_register_tokens=1,
                    no_embed_class=True, use_qkv_bias=False),
}


def _family(name, **overrides):
    return tiny(classes=3, classifier_activation=None, **{**FAMILY_OPTIONS[name], **overrides})


@pytest.mark.parametrize("name", sorted(FAMILY_OPTIONS))
def test_family_keras_round_trip_and_closed_form_count(name, tmp_path):
    from keras_vit.models import count_parameters

    model = _family(name)
    config = model.get_config()
    assert count_parameters(**{k: v for k, v in config.items() if k not in ("name", "trainable", "dtype")}) \
        == model.count_params()
    x = random_inputs((2, 16, 16, 3))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config() == config
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-6)


@pytest.mark.parametrize("name", sorted(FAMILY_OPTIONS))
def test_family_resizes_backbones_freezes_and_decays(name):
    from keras_vit import resize_model, vit_backbone
    from keras_vit.training import freeze, layer_decay_multipliers

    model = _family(name)
    resized = resize_model(model, (24, 24, 3))
    assert resized.grid_size == (6, 6) and resized.output_shape == (None, 3)
    if model.class_token:
        # Prefix slots are copied, not resampled.
        slots = 0 if model.no_embed_class else 1 + model.distillation
        np.testing.assert_array_equal(
            to_numpy(resized.get_layer("position_embedding").position_embedding)[:, :slots],
            to_numpy(model.get_layer("position_embedding").position_embedding)[:, :slots])
    backbone = vit_backbone(_family(name, include_top=False, pooling=None), block_indices=[0, 1])
    assert [tuple(s) for s in backbone.output_shape] == [(None, 4, 4, 16)] * 2
    multipliers = layer_decay_multipliers(model, 0.5)
    assert set(multipliers) == {v.path for v in model.trainable_weights}
    freeze(model, head=False)
    trainable = {layer.name for layer in model.layers if layer.trainable and layer.weights}
    assert trainable == {n for n in ("head", "head_dist") if n in trainable} and "head" in trainable


@pytest.mark.parametrize("name", sorted(FAMILY_OPTIONS))
def test_family_attention_maps(name):
    from keras_vit.visualization import attention_maps

    model = _family(name)
    maps = attention_maps(model, random_inputs((1, 16, 16, 3)))
    tokens = model.num_prefix_tokens + 16
    assert [tuple(m.shape) for m in maps.values()] == [(1, 2, tokens, tokens)] * 2
