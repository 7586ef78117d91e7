"""Shared checks every keras_vit layer must pass, in the spirit of keras's
`run_layer_test` (written here, not imported from the private `keras.src`)."""

import keras
import numpy as np


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def random_inputs(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_shape,
    expected_output_shape,
    tmp_path,
    call_kwargs=None,
    expected_num_trainable_weights=None,
):
    """Checks one layer configuration end to end.

    1. `get_config` returns the constructor arguments, and `from_config`
       rebuilds a layer with the same config.
    2. Symbolic (Keras tensor) and eager output shapes equal
       `expected_output_shape`.
    3. One `fit` step runs, gives a finite loss and changes every trainable
       weight.
    4. A `.keras` save / `load_model` round trip gives identical outputs.
    5. Under `mixed_bfloat16` the output is bfloat16 and the variables stay
       float32.

    Returns the eager output of the layer for further checks. The global
    random state is seeded first (weight initialisation, and the draws of
    stochastic layers built without a `seed`), so every run checks the same
    numbers; give stochastic layers a `seed` in `init_kwargs` as well.
    """
    keras.utils.set_random_seed(0)
    call_kwargs = call_kwargs or {}
    inputs = random_inputs(input_shape)

    # 1. Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert key in config, f"get_config() lacks constructor argument {key!r}"
    rebuilt = layer_cls.from_config(config)
    assert rebuilt.get_config() == config

    # 2. Symbolic and eager shapes.
    symbolic_in = keras.Input(batch_shape=input_shape)
    symbolic_out = layer_cls(**init_kwargs)(symbolic_in, **call_kwargs)
    assert tuple(symbolic_out.shape) == tuple(expected_output_shape)
    eager_out = layer(inputs, **call_kwargs)
    assert tuple(eager_out.shape) == tuple(expected_output_shape)
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights

    # 3. One training step through model.fit.
    model_in = keras.Input(batch_shape=input_shape)
    model = keras.Model(model_in, layer_cls(**init_kwargs)(model_in, **call_kwargs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [to_numpy(w) for w in model.trainable_weights]
    targets = random_inputs(expected_output_shape, seed=1)
    history = model.fit(inputs, targets, batch_size=input_shape[0], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for old, new in zip(before, model.trainable_weights):
        assert not np.array_equal(old, to_numpy(new)), f"{new.path} did not change in training"

    # 4. .keras round trip.
    path = tmp_path / f"{layer_cls.__name__}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[-1], layer_cls)
    np.testing.assert_array_equal(
        to_numpy(loaded(inputs, training=False)), to_numpy(model(inputs, training=False))
    )

    # 5. Mixed precision: bfloat16 compute, float32 variables.
    mixed = layer_cls(**init_kwargs, dtype="mixed_bfloat16")
    mixed_out = mixed(inputs, **call_kwargs)
    assert keras.backend.standardize_dtype(mixed_out.dtype) == "bfloat16"
    for weight in mixed.weights:
        assert keras.backend.standardize_dtype(weight.dtype) == "float32", weight.path
    assert np.all(np.isfinite(to_numpy(keras.ops.cast(mixed_out, "float32"))))
    return eager_out


def tiny_vit(dtype="float32", **kwargs):
    """A two-block ViT on 16 x 16 images with 5 logits, for step checks."""
    from keras_vit.models import VisionTransformer

    return VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32,
                             input_shape=(16, 16, 3), classes=5, classifier_activation=None,
                             dtype=dtype, **kwargs)


def one_training_step(model, weights):
    """One SGD step of `model` from `weights` on a fixed batch: its logits
    before the step (float32), and its weights after it (NumPy arrays)."""
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.SGD(0.5),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=keras.backend.backend() != "torch")
    x = random_inputs((4, 16, 16, 3), seed=2)
    y = np.array([0, 1, 2, 3])
    logits = to_numpy(model.predict_on_batch(x)).astype("float32")
    model.train_on_batch(x, y)
    return logits, [to_numpy(w) for w in model.weights]


def assert_same_step(start, initial, off, on, **tolerance):
    """Two `one_training_step` results from the weights `initial` of the
    model `start` agree to `tolerance`, and every kernel moved (so the
    comparison covers their gradients)."""
    (logits_off, after_off), (logits_on, after_on) = off, on
    np.testing.assert_allclose(logits_on, logits_off, **tolerance)
    moved = 0
    for w, before, a, b in zip(start.weights, initial, after_off, after_on):
        np.testing.assert_allclose(b, a, err_msg=w.path, **tolerance)
        moved += not np.allclose(a, before, rtol=0, atol=1e-4)
    kernels = [w for w in start.weights if w.path.endswith("kernel")]
    assert moved >= len(kernels)
