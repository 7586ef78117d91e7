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
