"""The Hugging Face transformers ViT converter, against the files
`save_pretrained` wrote in tests/fixtures/families/ (made by
tests/fixtures/make_families.py; transformers 5.24) and their float64
reference outputs. Neither torch nor transformers is needed here."""

import json
import pathlib

import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.checkpoints import hf_transformers, layout, read_safetensors
from keras_vit.checkpoints.safetensors_io import open_safetensors

DIRECTORY = pathlib.Path(__file__).parents[1] / "fixtures" / "families"
# keras_vit (float32) vs transformers in float64 (measured: 5e-7 logits,
# 1.6e-6 last_hidden_state).
TOLERANCE = 1e-5
TINY = dict(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32, input_shape=(16, 16, 3))


def arrays_of(case):
    return read_safetensors(DIRECTORY / f"{case}.safetensors")[0]


def reference(case, name):
    with np.load(DIRECTORY / "reference.npz", allow_pickle=False) as data:
        return data[f"{case}/{name}"]


def hf_config(case):
    return json.loads(str(reference(case, "config")))["hf_config"]


def model_for(case, **options):
    config = hf_config(case)
    assert config["hidden_act"] == hf_transformers.MLP_ACTIVATION
    options = {"layer_norm_epsilon": config["layer_norm_eps"], "mlp_activation": "gelu", **options}
    if case == "hf_vit_classifier":
        return VisionTransformer(classes=5, classifier_activation=None, **TINY, **options)
    return VisionTransformer(include_top=False, pooling=None, **TINY, **options)


def assign(model, arrays, num_heads=2):
    variables = {v.path: v for v in model.weights}
    weights, source = hf_transformers.to_keras(
        arrays, num_heads, description="fixture", expected={k: tuple(v.shape) for k, v in variables.items()}
    )
    assert sorted(weights) == sorted(variables)
    for key, value in weights.items():
        variables[key].assign(value)
    return source


def outputs(model, case):
    return np.asarray(keras.ops.convert_to_numpy(model(reference(case, "images"), training=False)), "float64")


def in_memory_names(arrays):
    """The file under transformers 5's in-memory names (`layers.{i}.attention.q_proj`, ...)."""
    renames = [
        ("encoder.layer.", "layers."),
        ("attention.attention.query", "attention.q_proj"),
        ("attention.attention.key", "attention.k_proj"),
        ("attention.attention.value", "attention.v_proj"),
        ("attention.output.dense", "attention.o_proj"),
        ("intermediate.dense", "mlp.fc1"),
        ("output.dense", "mlp.fc2"),
    ]
    renamed = {}
    for key, value in arrays.items():
        for old, new in renames:
            key = key.replace(old, new)
        renamed[key] = value
    return renamed


def test_classifier_matches_transformers_logits():
    model = model_for("hf_vit_classifier")
    source = assign(model, arrays_of("hf_vit_classifier"))
    assert source.unused() == []
    difference = np.abs(outputs(model, "hf_vit_classifier") - reference("hf_vit_classifier", "logits")).max()
    assert difference < TOLERANCE


def test_vit_model_matches_transformers_last_hidden_state():
    model = model_for("hf_vit_model")
    source = assign(model, arrays_of("hf_vit_model"))
    # The tanh pooler feeds no keras_vit head; it is declared non-functional.
    assert source.unused() == ["pooler.dense.bias", "pooler.dense.weight"]
    assert all(k.startswith(hf_transformers.NON_FUNCTIONAL_PREFIXES) for k in source.unused())
    expected = reference("hf_vit_model", "last_hidden_state")
    got = outputs(model, "hf_vit_model")
    assert got.shape == expected.shape == (2, 17, 16)
    assert np.abs(got - expected).max() < TOLERANCE


def test_lazy_arrays_and_in_memory_names_convert_identically():
    eager = arrays_of("hf_vit_classifier")
    reference_weights, _ = hf_transformers.to_keras(eager, 2)
    lazy, _ = open_safetensors(DIRECTORY / "hf_vit_classifier.safetensors")
    for arrays in (lazy, in_memory_names(eager)):
        assert hf_transformers.looks_like(arrays)
        weights, source = hf_transformers.to_keras(arrays, 2)
        assert source.unused() == []
        assert sorted(weights) == sorted(reference_weights)
        for key, value in weights.items():
            np.testing.assert_array_equal(value, reference_weights[key], err_msg=key)


@pytest.mark.backend_independent
def test_conversion_layout():
    arrays = arrays_of("hf_vit_classifier")
    weights, _ = hf_transformers.to_keras(arrays, 2)
    np.testing.assert_array_equal(
        weights[layout.PATCH_KERNEL],
        arrays["vit.embeddings.patch_embeddings.projection.weight"].transpose(2, 3, 1, 0))
    # The class slot stays in the table.
    np.testing.assert_array_equal(weights[layout.POSITION_EMBEDDING], arrays["vit.embeddings.position_embeddings"])
    query = arrays["vit.encoder.layer.1.attention.attention.query.weight"]
    np.testing.assert_array_equal(weights["transformer_block_1/attention/query/kernel"], query.T.reshape(16, 2, 8))
    output = arrays["vit.encoder.layer.1.attention.output.dense.weight"]
    np.testing.assert_array_equal(
        weights["transformer_block_1/attention/attention_output/kernel"], output.T.reshape(2, 8, 16))
    np.testing.assert_array_equal(
        weights["transformer_block_0/mlp/dense_2/kernel"], arrays["vit.encoder.layer.0.output.dense.weight"].T)
    np.testing.assert_array_equal(weights[layout.HEAD_KERNEL], arrays["classifier.weight"].T)


@pytest.mark.backend_independent
@pytest.mark.parametrize("case", ["hf_vit_classifier", "hf_vit_model"])
def test_architecture_reads_the_headers(case):
    lazy, _ = open_safetensors(DIRECTORY / f"{case}.safetensors")
    options = hf_transformers.architecture(lazy)
    expected = dict(hidden_dim=16, num_layers=2, mlp_dim=32, patch_size=4, use_qkv_bias=True,
                    layer_norm_epsilon=hf_config(case)["layer_norm_eps"])
    if case == "hf_vit_classifier":
        expected["classes"] = 5
    assert options == expected
    assert options["layer_norm_epsilon"] == hf_transformers.LAYER_NORM_EPSILON == 1e-12


@pytest.mark.backend_independent
def test_without_qkv_bias():
    arrays = {k: v for k, v in arrays_of("hf_vit_classifier").items()
              if not (k.endswith(".bias") and ".attention.attention." in k)}
    assert hf_transformers.architecture(arrays)["use_qkv_bias"] is False
    model = VisionTransformer(classes=5, use_qkv_bias=False, **TINY)
    variables = {v.path for v in model.weights}
    weights, source = hf_transformers.to_keras(arrays, 2)
    assert sorted(weights) == sorted(variables) and source.unused() == []


@pytest.mark.backend_independent
def test_mask_token_is_non_functional():
    arrays = dict(arrays_of("hf_vit_model"), **{"embeddings.mask_token": np.zeros((1, 1, 16), "float32")})
    assert hf_transformers.refusal(arrays) is None
    _, source = hf_transformers.to_keras(arrays, 2)
    assert "embeddings.mask_token" in source.unused()
    assert all(k.startswith(hf_transformers.NON_FUNCTIONAL_PREFIXES) for k in source.unused())


def test_from_keras_round_trip():
    for case in ("hf_vit_classifier", "hf_vit_model"):
        model = model_for(case)
        assign(model, arrays_of(case))
        exported = hf_transformers.from_keras({v.path: keras.ops.convert_to_numpy(v) for v in model.weights})
        original = {k: v for k, v in arrays_of(case).items() if not k.startswith("pooler.")}
        assert sorted(exported) == sorted(original)
        for key, value in original.items():
            np.testing.assert_array_equal(exported[key], value, err_msg=f"{case}: {key}")


@pytest.mark.backend_independent
def test_from_keras_refuses_what_vit_cannot_hold():
    weights, _ = hf_transformers.to_keras(arrays_of("hf_vit_classifier"), 2)
    with pytest.raises(ValueError, match="register tokens"):
        hf_transformers.from_keras({**weights, layout.REGISTER_TOKENS: np.zeros((1, 4, 16), "float32")})
    with pytest.raises(ValueError, match="LayerScale"):
        hf_transformers.from_keras({**weights, "transformer_block_0/layer_scale_1/layer_scale": np.ones(16)})


# --- refused layouts -------------------------------------------------------------------------


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "case, name, marker",
    [("hf_dinov2", "Dinov2Model", "encoder.layer.0.layer_scale1.lambda1"),
     ("hf_clip_vision", "CLIPVisionModel", "embeddings.class_embedding"),
     ("hf_siglip_vision", "SiglipVisionModel", "head.probe")],
)
def test_other_transformers_models_are_refused_with_a_pointer(case, name, marker):
    lazy, _ = open_safetensors(DIRECTORY / f"{case}.safetensors")
    for arrays in (lazy, list(lazy)):
        message = hf_transformers.refusal(arrays)
        assert message.startswith(f"This is a transformers {name} file ({marker!r})")
        assert "keras_vit.vit(" in message and "huggingface.co/timm/" in message
        assert "\n" not in message
        assert hf_transformers.looks_like(arrays)
    with pytest.raises(ValueError, match=f"fixture: This is a transformers {name} file"):
        hf_transformers.to_keras(lazy, 2, description="fixture")
    with pytest.raises(ValueError, match=name):
        hf_transformers.architecture(lazy)


def shapes(**named):
    """Zero-cost arrays of the given shapes (keys with dots passed as a dict)."""
    return {key: np.broadcast_to(np.float32(0), shape) for key, shape in named.items()}


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "arrays, name, timm_name",
    [
        (shapes(**{"embeddings.cls_token": (1, 1, 768), "embeddings.mask_token": (1, 768),
                   "encoder.layer.0.norm1.weight": (768,),
                   "encoder.layer.0.layer_scale1.lambda1": (768,)}),
         "Dinov2Model", "vit_base_patch14_dinov2.lvd142m"),
        (shapes(**{"embeddings.cls_token": (1, 1, 384), "embeddings.register_tokens": (1, 4, 384),
                   "encoder.layer.0.layer_scale1.lambda1": (384,)}),
         "Dinov2WithRegistersModel", "vit_small_patch14_reg4_dinov2.lvd142m"),
        (shapes(**{"vision_model.embeddings.class_embedding": (768,),
                   "vision_model.embeddings.patch_embedding.weight": (768, 3, 16, 16),
                   "vision_model.embeddings.position_embedding.weight": (197, 768),
                   "text_model.final_layer_norm.weight": (512,)}),
         "CLIPModel", "vit_base_patch16_clip_quickgelu_224.openai"),
        (shapes(**{"embeddings.class_embedding": (1024,),
                   "embeddings.patch_embedding.weight": (1024, 3, 14, 14),
                   "embeddings.position_embedding.weight": (577, 1024)}),
         "CLIPVisionModel", "vit_large_patch14_clip_quickgelu_336.openai"),
        (shapes(**{"vision_model.head.probe": (1, 1, 768),
                   "vision_model.embeddings.patch_embedding.weight": (768, 3, 16, 16),
                   "vision_model.embeddings.position_embedding.weight": (196, 768),
                   "vision_model.post_layernorm.weight": (768,), "text_model.head.weight": (768, 768)}),
         "SiglipModel", "vit_base_patch16_siglip_224.webli"),
        # Without the attention-pool head (vision_use_head=False): post_layernorm, no class token.
        (shapes(**{"embeddings.patch_embedding.weight": (1152, 3, 14, 14),
                   "embeddings.position_embedding.weight": (729, 1152),
                   "post_layernorm.weight": (1152,)}),
         "SiglipVisionModel", "vit_so400m_patch14_siglip_378.webli"),
    ],
)
def test_refusal_names_the_timm_copy_of_published_sizes(arrays, name, timm_name):
    message = hf_transformers.refusal(arrays)
    assert message.startswith(f"This is a transformers {name} file")
    assert f"keras_vit.vit({timm_name!r})" in message
    assert f"huggingface.co/timm/{timm_name}" in message


@pytest.mark.backend_independent
def test_vit_files_are_not_refused_and_others_not_claimed():
    for case in ("hf_vit_classifier", "hf_vit_model"):
        assert hf_transformers.refusal(arrays_of(case)) is None
    timm_keys = ["patch_embed.proj.weight", "cls_token", "pos_embed", "blocks.0.norm1.weight", "norm.weight"]
    assert not hf_transformers.looks_like(timm_keys)
    assert hf_transformers.refusal(timm_keys) is None
    with pytest.raises(ValueError, match="not a transformers ViTModel"):
        hf_transformers.to_keras(dict.fromkeys(timm_keys, np.zeros(1, "float32")), 2)


# --- broken files ----------------------------------------------------------------------------


@pytest.mark.backend_independent
def test_num_heads_that_do_not_divide_the_width_raise():
    with pytest.raises(ValueError, match="`num_heads`=3 does not divide the checkpoint's width 16"):
        hf_transformers.to_keras(arrays_of("hf_vit_classifier"), 3)


def test_num_heads_other_than_the_models_raise():
    model = model_for("hf_vit_classifier")
    expected = {v.path: tuple(v.shape) for v in model.weights}
    with pytest.raises(ValueError, match=r"`num_heads`=4 splits the width 16 into heads of 4, but the model's "
                                         r"attention is 2 heads of 8"):
        hf_transformers.to_keras(arrays_of("hf_vit_classifier"), 4, expected=expected)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "missing",
    ["vit.encoder.layer.1.output.dense.weight", "vit.encoder.layer.0.attention.output.dense.bias",
     "vit.layernorm.bias", "vit.embeddings.position_embeddings", "classifier.bias"],
)
def test_truncated_key_sets_name_the_missing_key(missing):
    arrays = arrays_of("hf_vit_classifier")
    del arrays[missing]
    with pytest.raises(ValueError, match=f"has no key '{missing}'"):
        hf_transformers.to_keras(arrays, 2, description="fixture")


@pytest.mark.backend_independent
def test_a_missing_block_is_named():
    arrays = {k: v for k, v in arrays_of("hf_vit_classifier").items() if ".encoder.layer.0." not in k}
    with pytest.raises(ValueError, match=r"not numbered 0..n-1 \(no 'vit.encoder.layer.0.'"):
        hf_transformers.to_keras(arrays, 2)


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "key, shape, match",
    [("vit.encoder.layer.0.attention.attention.key.weight", (16, 8), r"expected \(16, 16\)"),
     ("vit.encoder.layer.1.intermediate.dense.bias", (31,), r"expected \(32,\)"),
     ("vit.embeddings.position_embeddings", (1, 17, 8), r"expected \(1, 1 \+ patches, 16\)"),
     ("vit.embeddings.patch_embeddings.projection.weight", (8, 3, 4, 4), r"expected \(16, channels"),
     ("vit.layernorm.weight", (15,), "LayerNorm weight"),
     ("classifier.weight", (5, 15), r"expected \(classes, 16\)")],
)
def test_wrong_shapes_name_the_key(key, shape, match):
    arrays = arrays_of("hf_vit_classifier")
    arrays[key] = np.zeros(shape, "float32")
    with pytest.raises(ValueError, match=match) as error:
        hf_transformers.to_keras(arrays, 2)
    assert repr(key) in str(error.value)


# Through the package: the reader tells the layout by content, builders take
# the layout's epsilon, the loader is strict, and the export writes it.


def test_a_builder_loads_a_transformers_file_with_its_epsilon(capsys):
    from keras_vit.checkpoints import sniff_format

    path = DIRECTORY / "hf_vit_classifier.safetensors"
    assert sniff_format(path) == "transformers"
    model = VisionTransformer(classes=5, classifier_activation=None, **TINY, weights=path)
    assert model.layer_norm_epsilon == 1e-12 and model.load_report.format == "transformers"
    assert np.abs(outputs(model, "hf_vit_classifier") - reference("hf_vit_classifier", "logits")).max() < TOLERANCE


def test_a_vit_model_file_loads_with_its_unused_pooler_listed():
    from keras_vit.checkpoints import load_weights

    model = model_for("hf_vit_model")
    report = load_weights(model, DIRECTORY / "hf_vit_model.safetensors", verbose=False)
    assert report.unused == ["pooler.dense.bias", "pooler.dense.weight"]
    got = outputs(model, "hf_vit_model")
    assert np.abs(got - reference("hf_vit_model", "last_hidden_state")).max() < TOLERANCE


@pytest.mark.backend_independent
@pytest.mark.parametrize("case, name", [("hf_dinov2", "Dinov2Model"), ("hf_clip_vision", "CLIPVisionModel"),
                                        ("hf_siglip_vision", "SiglipVisionModel")])
def test_the_reader_refuses_other_transformers_models_by_name(case, name):
    from keras_vit.checkpoints import read_checkpoint

    with pytest.raises(ValueError, match=rf"{name}.*keras_vit\.vit\("):
        read_checkpoint(DIRECTORY / f"{case}.safetensors")


def test_export_to_transformers_reproduces_the_file(tmp_path):
    from keras_vit.checkpoints import export_weights

    path = DIRECTORY / "hf_vit_classifier.safetensors"
    model = VisionTransformer(classes=5, classifier_activation=None, **TINY, weights=path)
    export_weights(model, tmp_path / "out.safetensors", format="transformers")
    original, exported = arrays_of("hf_vit_classifier"), read_safetensors(tmp_path / "out.safetensors")[0]
    assert sorted(original) == sorted(exported)
    for key in original:
        np.testing.assert_allclose(exported[key], original[key], rtol=0, atol=1e-6, err_msg=key)
