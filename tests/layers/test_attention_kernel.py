import keras
import numpy as np
import pytest

from keras_vit.layers import attention_kernel
from keras_vit.layers.attention_kernel import attention, per_head_attention, per_head_attention_enabled
from tests import numpy_reference
from tests.test_case import assert_same_step, one_training_step, random_inputs, tiny_vit, to_numpy

BACKEND = keras.backend.backend()
_FIRST_DEVICE_IS_CPU = attention_kernel._first_device_is_cpu


def _reference(query, key, value):
    # softmax(q k^T / sqrt(d)) v per batch element and head, in float64.
    q, k, v = (np.asarray(t, "float64") for t in (query, key, value))
    probs = numpy_reference.softmax(np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1]))
    return np.einsum("bnts,bsnh->btnh", probs, v)


@pytest.fixture
def per_head(monkeypatch):
    # The tests run on a CPU; on a backend where Keras cannot list its
    # devices (PyTorch) the kernel would stay off, so the device check is
    # answered "CPU" there to test the per-head path on it too.
    if not attention_kernel._first_device_is_cpu():
        monkeypatch.setattr(attention_kernel, "_first_device_is_cpu", lambda: True)

    def switch(on):
        monkeypatch.setitem(attention_kernel.PER_HEAD_ATTENTION, BACKEND, on)
        assert per_head_attention_enabled("float32") is on  # the tests run on a CPU
    return switch


def test_per_head_attention_is_scaled_dot_product_attention():
    query, key, value = (random_inputs((2, 7, 3, 4), seed=s) for s in range(3))
    expected = _reference(query, key, value)
    np.testing.assert_allclose(to_numpy(per_head_attention(query, key, value)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(keras.ops.dot_product_attention(query, key, value)), expected,
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("on", [False, True])
def test_attention_takes_either_kernel_with_the_same_result(per_head, on):
    per_head(on)
    query, key, value = (random_inputs((2, 5, 2, 8), seed=s) for s in range(3))
    np.testing.assert_allclose(to_numpy(attention(query, key, value)), _reference(query, key, value),
                               rtol=1e-5, atol=1e-6)


def test_the_per_head_kernel_is_float32_only(per_head):
    per_head(True)
    assert not per_head_attention_enabled("bfloat16")
    assert not per_head_attention_enabled("float16")


def test_the_per_head_kernel_is_on_only_where_it_was_measured():
    measured = {"jax": True, "tensorflow": False, "torch": False, "numpy": False, "openvino": False}
    assert attention_kernel.PER_HEAD_ATTENTION == measured
    # On this CPU, float32 attention takes it exactly there.
    assert per_head_attention_enabled("float32") is measured[BACKEND]


def test_the_per_head_kernel_needs_a_cpu(per_head, monkeypatch):
    per_head(True)
    monkeypatch.setattr(keras.distribution, "list_devices", lambda *args: ["gpu:0", "gpu:1"])
    monkeypatch.setattr(attention_kernel, "_first_device_is_cpu", _FIRST_DEVICE_IS_CPU)
    assert not per_head_attention_enabled("float32")
    monkeypatch.setattr(keras.distribution, "list_devices", lambda *args: ["cpu:0"])
    assert per_head_attention_enabled("float32")


def test_a_training_step_is_the_same_with_either_kernel(per_head):
    start = tiny_vit()
    initial = [to_numpy(w) for w in start.weights]
    steps = []
    for on in (False, True):
        per_head(on)
        steps.append(one_training_step(tiny_vit(), initial))
    assert_same_step(start, initial, *steps, rtol=1e-5, atol=1e-6)
