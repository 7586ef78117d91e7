import keras
import numpy as np
import pytest

from keras_vit.layers import TransformerBlock
from tests import numpy_reference as ref
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_layer_contract(tmp_path):
    # The fit step asserts that every weight changes, which fails whenever
    # drop path drops a branch for the whole batch: unseeded, on a batch of
    # 2 at rate 0.1, about 2% of runs. Seeded, the draws are fixed; and on a
    # batch of 8 a whole-batch drop would need 8 drops (1e-8) wherever the
    # seeded stream differs (another device or Keras version).
    run_layer_test(
        TransformerBlock,
        {"num_heads": 2, "mlp_dim": 16, "dropout_rate": 0.1, "drop_path_rate": 0.1, "layer_scale_init": 0.5,
         "seed": 0},
        (8, 5, 8), (8, 5, 8), tmp_path, expected_num_trainable_weights=18,
    )


def _weights(block):
    return {f"block/{w.path.split('/', 1)[1]}": to_numpy(w) for w in block.weights}


@pytest.mark.parametrize("layer_scale_init", [None, 0.3])
def test_matches_numpy_pre_ln_reference(layer_scale_init):
    block = TransformerBlock(num_heads=2, mlp_dim=16, layer_scale_init=layer_scale_init, name="block")
    x = random_inputs((2, 5, 8))
    out = to_numpy(block(x))
    expected = ref.block(x.astype("float64"), _weights(block), "block")
    np.testing.assert_allclose(out, expected, atol=1e-5)
    names = {w.path.split("/", 1)[1] for w in block.weights}
    assert ("layer_scale_1/layer_scale" in names) == (layer_scale_init is not None)


def test_returns_attention_probabilities():
    block = TransformerBlock(num_heads=2, mlp_dim=16)
    x = random_inputs((3, 5, 8))
    out, probs = block(x, return_attention_scores=True)
    assert tuple(probs.shape) == (3, 2, 5, 5)
    np.testing.assert_allclose(to_numpy(out), to_numpy(block(x)), atol=1e-6)


def test_drop_path_is_stochastic_in_training_only():
    block = TransformerBlock(num_heads=2, mlp_dim=16, drop_path_rate=0.5, seed=0)
    x = random_inputs((16, 5, 8))
    inference = to_numpy(block(x))
    np.testing.assert_array_equal(inference, to_numpy(block(x, training=False)))
    training = to_numpy(block(x, training=True))
    assert not np.allclose(training, inference)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"drop_path_rate": 1.0}, "drop_path_rate"), ({"dropout_rate": -0.5}, "dropout_rate"),
     ({"attention_dropout_rate": 2.0}, "attention_dropout_rate"),
     ({"layer_scale_init": 0.0}, "layer_scale_init"), ({"mlp_dim": -1}, "mlp_dim")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformerBlock(**{"num_heads": 2, "mlp_dim": 16, **kwargs})


def test_remat_recomputes_both_branches_in_training_only(monkeypatch):
    wrapped = []
    original = keras.remat

    def counting_remat(function):
        wrapped.append(function.__name__)
        return original(function)

    monkeypatch.setattr(keras, "remat", counting_remat)
    block = TransformerBlock(num_heads=2, mlp_dim=16, remat=True, drop_path_rate=0.1, seed=0)
    plain = TransformerBlock(num_heads=2, mlp_dim=16)
    x = random_inputs((2, 5, 8))
    plain(x)
    inference = to_numpy(block(x))
    assert wrapped == []
    block.set_weights(plain.get_weights())
    np.testing.assert_allclose(to_numpy(block(x)), to_numpy(plain(x)), atol=1e-6)
    assert wrapped == []
    block(x, training=True)
    assert wrapped == ["_attention_branch", "_mlp_branch"]
    assert inference.shape == (2, 5, 8)
    assert TransformerBlock.from_config(block.get_config()).remat is True


def test_remat_refuses_dropout_whose_masks_would_change_in_the_recomputation():
    with pytest.raises(ValueError, match="`remat=True` needs dropout_rate=0"):
        TransformerBlock(num_heads=2, mlp_dim=16, remat=True, dropout_rate=0.1)
    with pytest.raises(ValueError, match="attention_dropout_rate"):
        TransformerBlock(num_heads=2, mlp_dim=16, remat=True, attention_dropout_rate=0.1)
    with pytest.raises(TypeError, match="remat"):
        TransformerBlock(num_heads=2, mlp_dim=16, remat=1)
