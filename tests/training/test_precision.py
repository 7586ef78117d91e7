import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer, preprocess_input
from keras_vit.data import load_digits
from keras_vit.training import create_adamw, precision_policy
from tests.test_case import to_numpy


@pytest.fixture(scope="module")
def digits():
    (x_train, y_train), _, (x_test, y_test) = load_digits(image_size=16, seed=0)
    return (to_numpy(preprocess_input(x_train)), y_train), (to_numpy(preprocess_input(x_test)), y_test)


def train(precision, digits, epochs):
    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = digits
    model = VisionTransformer(
        patch_size=4, hidden_dim=32, num_layers=2, num_heads=2, mlp_dim=64, input_shape=(16, 16, 3),
        classes=10, classifier_activation=None, dtype=precision_policy(precision),
    )
    model.compile(
        create_adamw(2e-3, weight_decay=0.05),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=32, epochs=epochs, verbose=0,
                        callbacks=[keras.callbacks.TerminateOnNaN()])
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return model, history, accuracy


def _jax_on_cpu():
    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "cpu"


@pytest.mark.skipif(
    _jax_on_cpu(),
    reason="JAX's CPU backend has no float16 matmul with float32 accumulation "
    "('F16_F16_F32' is not supported by dot_general on CPU); mixed_float16 on JAX needs a GPU",
)
def test_mixed_float16_trains_like_float32(digits):
    epochs = 6  # 40 steps each: 240 steps
    half, half_history, half_accuracy = train("mixed_float16", digits, epochs)
    full, _, full_accuracy = train("float32", digits, epochs)
    assert int(half.optimizer.iterations) >= 200
    # Loss scaling is on, and what must stay float32 does.
    assert isinstance(half.optimizer, keras.optimizers.LossScaleOptimizer)
    assert half.get_layer("transformer_block_0").compute_dtype == "float16"
    assert half.get_layer("head").compute_dtype == "float32"
    assert keras.backend.standardize_dtype(half(digits[1][0][:2]).dtype) == "float32"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in half.weights)
    assert len(half_history.history["loss"]) == epochs  # TerminateOnNaN did not stop it
    assert np.all(np.isfinite(half_history.history["loss"]))
    assert all(np.all(np.isfinite(w)) for w in half.get_weights())
    assert full_accuracy > 0.6, full_accuracy
    assert half_accuracy > full_accuracy - 0.05, (half_accuracy, full_accuracy)


def test_mixed_bfloat16_steps_are_finite(digits):
    (x_train, y_train), test = digits
    model, history, _ = train("mixed_bfloat16", ((x_train[:256], y_train[:256]), test), epochs=1)
    assert model.get_layer("transformer_block_0").compute_dtype == "bfloat16"
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(history.history["loss"][0])


def test_unknown_precision():
    with pytest.raises(ValueError, match="precision='float8'"):
        precision_policy("float8")
