import keras
import numpy as np
import pytest

from keras_vit.layers import MLPBlock, MultiHeadSelfAttention, projection
from keras_vit.layers.projection import activation_first_gradient, direct_projections, project
from keras_vit.models import VisionTransformer
from tests.test_case import random_inputs, to_numpy

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


def _tiny(fused_qkv, dtype):
    return VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32,
                             input_shape=(16, 16, 3), classes=5, classifier_activation=None,
                             fused_qkv=fused_qkv, dtype=dtype)


def _step(fast_path, on, weights, fused_qkv, dtype):
    # One SGD step of a small ViT from the given weights: its logits before
    # the step, its weights after it.
    fast_path(on)
    model = _tiny(fused_qkv, dtype)
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(0.5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=BACKEND != "torch")
    x = random_inputs((4, 16, 16, 3), seed=2)
    y = np.array([0, 1, 2, 3])
    logits = to_numpy(model.predict_on_batch(x)).astype("float32")
    model.train_on_batch(x, y)
    return logits, [to_numpy(w) for w in model.weights]


# float32: the two forms agree to float rounding; mixed_bfloat16: to the
# rounding of bfloat16 activations and gradients (8 bits of mantissa).
TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6), "mixed_bfloat16": dict(rtol=2e-2, atol=2e-3)}


@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("fused_qkv", [False, True])
def test_a_training_step_is_the_same_with_and_without_the_fast_path(fast_path, fused_qkv, dtype):
    start = _tiny(fused_qkv, "float32")
    initial = [to_numpy(w) for w in start.weights]
    logits_off, after_off = _step(fast_path, False, initial, fused_qkv, dtype)
    logits_on, after_on = _step(fast_path, True, initial, fused_qkv, dtype)
    np.testing.assert_allclose(logits_on, logits_off, **TOLERANCE[dtype])
    moved = 0
    for w, before, off, on in zip(start.weights, initial, after_off, after_on):
        np.testing.assert_allclose(on, off, err_msg=w.path, **TOLERANCE[dtype])
        moved += not np.allclose(off, before, rtol=0, atol=1e-4)
    # Every projection kernel took a step, so the comparison covers their gradients.
    kernels = [w for w in start.weights if w.path.endswith("kernel")]
    assert moved >= len(kernels)


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
