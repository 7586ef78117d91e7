import keras
import numpy as np
import pytest

from keras_vit.layers import MLPBlock, MultiHeadSelfAttention, projection
from keras_vit.layers.projection import activation_first_gradient, direct_projections, project
from tests.test_case import assert_same_step, one_training_step, random_inputs, tiny_vit, to_numpy

BACKEND = keras.backend.backend()
# The activation-first gradient is a keras.ops.custom_gradient, which the
# PyTorch backend does not implement; there `project` is always ops.matmul.
HAS_CUSTOM_GRADIENT = BACKEND in ("jax", "tensorflow")
needs_custom_gradient = pytest.mark.skipif(
    not HAS_CUSTOM_GRADIENT, reason=f"keras.ops.custom_gradient is not implemented on {BACKEND}")


@pytest.fixture
def fast_path(monkeypatch):
    # on: the attention's direct 2-D projections, and the activation-first
    # gradient where the backend has custom gradients.
    def switch(on):
        monkeypatch.setitem(projection.DIRECT_PROJECTIONS, BACKEND, on)
        monkeypatch.setitem(projection.ACTIVATION_FIRST_GRADIENT, BACKEND, on and HAS_CUSTOM_GRADIENT)
        assert direct_projections() is on
        assert activation_first_gradient() is (on and HAS_CUSTOM_GRADIENT)
    return switch


@pytest.mark.parametrize("on", [False, pytest.param(True, marks=needs_custom_gradient)])
def test_project_is_a_matmul_over_the_last_axis(fast_path, on):
    fast_path(on)
    x, kernel = random_inputs((2, 5, 8)), random_inputs((8, 3), seed=1)
    np.testing.assert_allclose(to_numpy(project(x, kernel)), x @ kernel, rtol=1e-5, atol=1e-6)


def test_project_refuses_a_kernel_that_is_not_2d():
    with pytest.raises(ValueError, match="`kernel` must be 2-D"):
        project(random_inputs((2, 8)), random_inputs((8, 2, 2)))


def test_the_fast_paths_are_on_only_where_they_were_measured():
    measured = {"jax": True, "tensorflow": False, "torch": False, "numpy": False, "openvino": False}
    assert projection.ACTIVATION_FIRST_GRADIENT == measured
    assert projection.DIRECT_PROJECTIONS == measured


def _step(fast_path, on, weights, fused_qkv, dtype):
    fast_path(on)
    return one_training_step(tiny_vit(dtype, fused_qkv=fused_qkv), weights)


# float32: the two forms agree to float rounding; mixed_bfloat16: to the
# rounding of bfloat16 activations and gradients (8 bits of mantissa).
TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6), "mixed_bfloat16": dict(rtol=2e-2, atol=2e-3)}


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("fused_qkv", [False, True])
def test_a_training_step_is_the_same_with_and_without_the_fast_path(fast_path, fused_qkv, dtype):
    start = tiny_vit(fused_qkv=fused_qkv)
    initial = [to_numpy(w) for w in start.weights]
    off = _step(fast_path, False, initial, fused_qkv, dtype)
    on = _step(fast_path, True, initial, fused_qkv, dtype)
    assert_same_step(start, initial, off, on, **TOLERANCE[dtype])


def test_a_lora_enabled_projection_is_called_as_a_layer(fast_path):
    fast_path(BACKEND != "tensorflow")  # TensorFlow: custom_gradient asks for the LoRA variables
    layer = MLPBlock(mlp_dim=16)
    x = random_inputs((2, 5, 8))
    layer(x)
    layer.dense_1.enable_lora(2)
    layer.dense_1.lora_kernel_b.assign(np.ones(layer.dense_1.lora_kernel_b.shape, "float32"))
    hidden = keras.ops.gelu(layer.dense_1(x), approximate=False)
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(layer.dense_2(hidden)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fused_qkv", [False, True])
def test_attention_with_a_lora_enabled_projection_uses_it(fast_path, fused_qkv):
    fast_path(BACKEND != "tensorflow")  # TensorFlow: custom_gradient asks for the LoRA variables
    layer = MultiHeadSelfAttention(num_heads=2, fused_qkv=fused_qkv)
    x = random_inputs((2, 5, 8))
    plain = to_numpy(layer(x))
    layer.attention_output.enable_lora(2)
    layer.attention_output.lora_kernel_b.assign(
        np.ones(layer.attention_output.lora_kernel_b.shape, "float32"))
    assert not np.allclose(to_numpy(layer(x)), plain)
