import numpy as np

from keras_vit.layers import ClassToken
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_layer_contract(tmp_path):
    run_layer_test(ClassToken, {}, (2, 9, 8), (2, 10, 8), tmp_path, expected_num_trainable_weights=1)


def test_prepends_the_same_token_to_every_sample():
    layer = ClassToken()
    tokens = random_inputs((3, 4, 6))
    out = to_numpy(layer(tokens))
    token = to_numpy(layer.class_token)[0, 0]
    assert layer.class_token.name == "class_token"
    for sample in range(3):
        np.testing.assert_array_equal(out[sample, 0], token)
    np.testing.assert_array_equal(out[:, 1:], tokens)
    # Truncated normal, std 0.02: no value beyond two standard deviations.
    assert np.abs(token).max() <= 0.04 + 1e-7


def test_saves_inside_a_plain_functional_model_with_a_policy_object(tmp_path):
    # The builders pass `dtype` as a DTypePolicy object; Keras's automatic
    # config cannot serialise that, so the layer needs its own get_config.
    import keras

    inputs = keras.Input((9, 8))
    layer = ClassToken(dtype=keras.dtype_policies.DTypePolicy("float32"), name="cls")
    model = keras.Model(inputs, layer(inputs))
    assert layer.get_config()["name"] == "cls"
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    x = random_inputs((2, 9, 8))
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))


def test_distillation_token_contract(tmp_path):
    from keras_vit.layers import DistillationToken

    out = run_layer_test(DistillationToken, {}, (2, 9, 8), (2, 10, 8), tmp_path,
                         expected_num_trainable_weights=1)
    layer = DistillationToken(name="distillation_token")
    layer(np.zeros((1, 3, 4), "float32"))
    assert layer.weights[0].path == "distillation_token/distillation_token"
    assert out is not None
