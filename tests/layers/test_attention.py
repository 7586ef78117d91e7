import keras
import numpy as np
import pytest

from keras_vit.layers import MultiHeadSelfAttention
from keras_vit.layers.attention import FUSED_QKV_DEFAULT
from tests import numpy_reference as ref
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_layer_contract(tmp_path):
    run_layer_test(MultiHeadSelfAttention, {"num_heads": 2}, (2, 5, 8), (2, 5, 8), tmp_path,
                   expected_num_trainable_weights=8)


def test_layer_contract_without_qkv_bias_with_dropout(tmp_path):
    run_layer_test(
        MultiHeadSelfAttention,
        {"num_heads": 4, "use_qkv_bias": False, "attention_dropout_rate": 0.1, "dropout_rate": 0.1, "seed": 0},
        (2, 6, 8), (2, 6, 8), tmp_path, expected_num_trainable_weights=5,
    )


def _weights(layer):
    return {f"attention/{w.path.split('/', 1)[1]}": to_numpy(w) for w in layer.weights}


def test_google_checkpoint_kernel_shapes():
    layer = MultiHeadSelfAttention(num_heads=12)
    layer.build((None, 197, 768))
    shapes = {w.path.split("/", 1)[1]: tuple(w.shape) for w in layer.weights}
    assert shapes["query/kernel"] == (768, 12, 64)
    assert shapes["value/bias"] == (12, 64)
    assert shapes["attention_output/kernel"] == (12, 64, 768)
    assert shapes["attention_output/bias"] == (768,)


@pytest.mark.parametrize("fused_qkv", [True, False])
@pytest.mark.parametrize("use_qkv_bias", [True, False])
def test_fused_and_explicit_paths_match_numpy_reference(use_qkv_bias, fused_qkv):
    layer = MultiHeadSelfAttention(num_heads=4, use_qkv_bias=use_qkv_bias, fused_qkv=fused_qkv,
                                   name="attention")
    x = random_inputs((2, 7, 16))
    fused = to_numpy(layer(x))
    explicit, probs = layer(x, return_attention_scores=True)
    expected, expected_probs = ref.attention(x.astype("float64"), _weights(layer), "attention", return_probs=True)
    np.testing.assert_allclose(fused, expected, atol=1e-5)
    np.testing.assert_allclose(to_numpy(explicit), expected, atol=1e-5)
    np.testing.assert_allclose(to_numpy(probs), expected_probs, atol=1e-6)
    np.testing.assert_allclose(to_numpy(probs).sum(-1), 1.0, rtol=1e-5)


def test_attention_dropout_only_in_training():
    layer = MultiHeadSelfAttention(num_heads=2, attention_dropout_rate=0.5, seed=0)
    x = random_inputs((2, 6, 8))
    inference = to_numpy(layer(x, training=False))
    np.testing.assert_array_equal(inference, to_numpy(layer(x)))
    assert not np.allclose(to_numpy(layer(x, training=True)), inference)


def test_indivisible_hidden_size_raises():
    with pytest.raises(ValueError, match="num_heads=3"):
        MultiHeadSelfAttention(num_heads=3)(np.zeros((1, 4, 8), "float32"))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"num_heads": 0}, "num_heads"), ({"num_heads": 2, "dropout_rate": -0.1}, "dropout_rate"),
     ({"num_heads": 2, "attention_dropout_rate": 1.0}, "attention_dropout_rate")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadSelfAttention(**kwargs)


def test_returned_scores_under_mixed_precision_are_normalised():
    layer = MultiHeadSelfAttention(num_heads=2, dtype="mixed_bfloat16")
    _, probs = layer(random_inputs((1, 5, 8)), return_attention_scores=True)
    sums = to_numpy(keras.ops.cast(probs, "float32")).sum(-1)
    np.testing.assert_allclose(sums, 1.0, atol=2e-2)


def test_fused_qkv_projection_keeps_weights_and_results():
    separate = MultiHeadSelfAttention(num_heads=3, fused_qkv=False)
    fused = MultiHeadSelfAttention(num_heads=3, fused_qkv=True)
    x = random_inputs((2, 5, 12))
    separate(x), fused(x)
    assert [w.path.split("/", 1)[1] for w in fused.weights] == [
        w.path.split("/", 1)[1] for w in separate.weights]
    fused.set_weights(separate.get_weights())
    np.testing.assert_allclose(to_numpy(fused(x)), to_numpy(separate(x)), atol=1e-6)


def test_fused_qkv_under_mixed_precision_computes_in_bfloat16():
    layer = MultiHeadSelfAttention(num_heads=2, fused_qkv=True, dtype="mixed_bfloat16")
    out = layer(random_inputs((1, 5, 8)))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)


def test_fused_qkv_none_is_saved_as_none_and_picks_the_backend_default():
    layer = MultiHeadSelfAttention(num_heads=2)
    assert layer.get_config()["fused_qkv"] is None
    assert layer._fused == FUSED_QKV_DEFAULT[keras.backend.backend()]
    assert MultiHeadSelfAttention.from_config(layer.get_config()).fused_qkv is None


def test_fused_qkv_must_be_a_bool_or_none():
    with pytest.raises(TypeError, match="fused_qkv"):
        MultiHeadSelfAttention(num_heads=2, fused_qkv="yes")
