import keras
import numpy as np
import pytest

from keras_vit.layers import DropPath
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_layer_contract(tmp_path):
    run_layer_test(DropPath, {"rate": 0.2, "seed": 1}, (4, 3, 8), (4, 3, 8), tmp_path,
                   call_kwargs={"training": True})


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_drops_whole_samples_at_rate_and_rescales(rate):
    x = np.ones((20000, 3, 2), "float32")
    out = to_numpy(DropPath(rate, seed=3)(x, training=True))
    per_sample = out.reshape(len(out), -1)
    dropped = np.all(per_sample == 0, axis=1)
    kept = np.all(per_sample == np.float32(1 / (1 - rate)), axis=1)
    assert np.all(dropped | kept), "a sample was partly dropped or wrongly scaled"
    # Binomial std of the dropped fraction is < 0.0036 here; 0.015 is > 4 std.
    assert abs(dropped.mean() - rate) < 0.015
    # The expectation is preserved.
    assert abs(out.mean() - 1.0) < 0.05


def test_identity_at_inference_and_rate_zero():
    x = random_inputs((8, 4, 3))
    for training in (False, None):
        np.testing.assert_array_equal(to_numpy(DropPath(0.5)(x, training=training)), x)
    np.testing.assert_array_equal(to_numpy(DropPath(0.0)(x, training=True)), x)


def test_seeded_layers_are_reproducible():
    x = np.ones((64, 2), "float32")
    first = to_numpy(DropPath(0.5, seed=7)(x, training=True))
    second = to_numpy(DropPath(0.5, seed=7)(x, training=True))
    np.testing.assert_array_equal(first, second)
    layer = DropPath(0.5, seed=7)
    assert not np.array_equal(to_numpy(layer(x, training=True)), to_numpy(layer(x, training=True)))


def test_works_in_a_jit_compiled_fit():
    # The compiled step must draw fresh masks each step (seed-generator state
    # threaded through jit), so the training loss varies between epochs.
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(1, kernel_initializer="ones")(DropPath(0.5, seed=0)(inputs))
    model = keras.Model(inputs, outputs)
    # jit_compile=True: XLA on TensorFlow and JAX, torch.compile on PyTorch.
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", jit_compile=True)
    x = np.ones((32, 4), "float32")
    history = model.fit(x, np.zeros((32, 1)), batch_size=32, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert len(set(np.round(losses, 6))) > 1
    np.testing.assert_allclose(to_numpy(model.predict(x, verbose=0)), 4.0 + np.zeros((32, 1)), rtol=1e-6)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_rejects_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        DropPath(rate)
