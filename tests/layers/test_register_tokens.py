import numpy as np
import pytest

from keras_vit.layers import RegisterTokens
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_layer_contract(tmp_path):
    run_layer_test(
        RegisterTokens, {"num_tokens": 4}, (2, 10, 8), (2, 14, 8), tmp_path,
        expected_num_trainable_weights=1,
    )


@pytest.mark.parametrize("index", [0, 1, 3])
def test_inserts_registers_at_index(index):
    layer = RegisterTokens(num_tokens=2, insert_index=index)
    tokens = random_inputs((2, 3, 4))
    out = to_numpy(layer(tokens))
    registers = to_numpy(layer.register_tokens)[0]
    np.testing.assert_array_equal(out[:, :index], tokens[:, :index])
    np.testing.assert_array_equal(out[:, index:index + 2], np.broadcast_to(registers, (2, 2, 4)))
    np.testing.assert_array_equal(out[:, index + 2:], tokens[:, index:])


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_tokens"):
        RegisterTokens(num_tokens=0)
    with pytest.raises(ValueError, match="insert_index"):
        RegisterTokens(num_tokens=1, insert_index=-1)
    with pytest.raises(ValueError, match="insert_index"):
        RegisterTokens(num_tokens=1, insert_index=5)(np.zeros((1, 3, 4), "float32"))
