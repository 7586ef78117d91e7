import numpy as np
import pytest

from keras_vit.layers import MLPBlock
from tests import numpy_reference as ref
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_layer_contract(tmp_path):
    run_layer_test(MLPBlock, {"mlp_dim": 16, "dropout_rate": 0.1, "seed": 0}, (2, 5, 8), (2, 5, 8), tmp_path,
                   expected_num_trainable_weights=4)


def _weights(layer):
    return {f"mlp/{w.path.split('/', 1)[1]}": to_numpy(w) for w in layer.weights}


@pytest.mark.parametrize("approximate", [False, True])
def test_matches_numpy_reference(approximate):
    layer = MLPBlock(mlp_dim=16, approximate_gelu=approximate, name="mlp")
    x = random_inputs((2, 5, 8)) * 3
    out = to_numpy(layer(x))
    expected = ref.mlp(x.astype("float64"), _weights(layer), "mlp", approximate_gelu=approximate)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_exact_and_tanh_gelu_differ():
    # Large inputs put the pre-activations where the two GELU forms differ.
    x = random_inputs((2, 5, 8)) * 100
    exact = MLPBlock(mlp_dim=16, name="mlp")
    exact(x)
    tanh = MLPBlock(mlp_dim=16, approximate_gelu=True, name="mlp")
    tanh(x)
    tanh.set_weights(exact.get_weights())
    assert np.abs(to_numpy(exact(x)) - to_numpy(tanh(x))).max() > 1e-5


def test_dropout_only_in_training():
    layer = MLPBlock(mlp_dim=16, dropout_rate=0.5, seed=1)
    x = random_inputs((2, 5, 8))
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(layer(x, training=False)))
    assert not np.allclose(to_numpy(layer(x, training=True)), to_numpy(layer(x)))


@pytest.mark.parametrize("kwargs, match", [({"mlp_dim": 0}, "mlp_dim"),
                                            ({"mlp_dim": 4, "dropout_rate": 1.0}, "dropout_rate")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLPBlock(**kwargs)


def test_quick_gelu_is_x_times_sigmoid_of_1_702_x():
    layer = MLPBlock(mlp_dim=16, activation="quick_gelu", name="mlp")
    x = random_inputs((2, 5, 8)) * 3
    out = to_numpy(layer(x)).astype("float64")
    w = _weights(layer)
    h = x.astype("float64") @ w["mlp/dense_1/kernel"] + w["mlp/dense_1/bias"]
    h = h / (1.0 + np.exp(-1.702 * h))
    np.testing.assert_allclose(out, h @ w["mlp/dense_2/kernel"] + w["mlp/dense_2/bias"], atol=1e-5)
    assert layer.get_config()["activation"] == "quick_gelu"


def test_unknown_activation_and_contradiction_are_refused():
    with pytest.raises(ValueError, match="mlp_activation"):
        MLPBlock(mlp_dim=4, activation="relu")
    with pytest.raises(ValueError, match="approximate_gelu=True"):
        MLPBlock(mlp_dim=4, activation="quick_gelu", approximate_gelu=True)
