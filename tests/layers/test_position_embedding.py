import numpy as np
import pytest

from keras_vit.layers import PositionEmbedding, resample_position_embedding
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_layer_contract(tmp_path):
    run_layer_test(
        PositionEmbedding, {"grid_size": (2, 3), "num_prefix_tokens": 1}, (2, 7, 8), (2, 7, 8),
        tmp_path, expected_num_trainable_weights=1,
    )


def test_adds_the_table():
    layer = PositionEmbedding(grid_size=2, num_prefix_tokens=1)
    x = random_inputs((3, 5, 4))
    out = to_numpy(layer(x))
    np.testing.assert_allclose(out, x + to_numpy(layer.position_embedding), rtol=1e-6)
    assert layer.position_embedding.name == "position_embedding"


def test_wrong_sequence_length_raises():
    with pytest.raises(ValueError, match="expects 5 tokens"):
        PositionEmbedding(grid_size=2)(np.zeros((1, 6, 4), "float32"))


@pytest.mark.parametrize("prefix", [0, 1, 2])
def test_same_grid_is_identity(prefix):
    table = random_inputs((1, prefix + 6 * 4, 8))
    np.testing.assert_array_equal(resample_position_embedding(table, (6, 4), (6, 4), prefix), table)


@pytest.mark.parametrize("target", [(24, 24), (10, 7), (3, 2), (14, 28)])
def test_resampled_shape_and_untouched_prefix(target):
    table = random_inputs((1, 1 + 14 * 14, 16))
    out = resample_position_embedding(table, 14, target)
    assert out.shape == (1, 1 + target[0] * target[1], 16)
    assert out.dtype == table.dtype
    np.testing.assert_array_equal(out[:, :1], table[:, :1])


def test_constant_grid_stays_constant():
    # Bicubic weights sum to one, so a constant field is reproduced exactly
    # (up to float rounding) at any size.
    table = np.full((1, 1 + 5 * 5, 3), 0.7, "float32")
    np.testing.assert_allclose(resample_position_embedding(table, 5, (9, 4))[:, 1:], 0.7, rtol=1e-6)


@pytest.mark.parametrize("target", [(12, 9), (4, 3), (7, 10)])
def test_matches_jax_image_resize(target):
    jax_image = pytest.importorskip("jax.image")
    table = random_inputs((1, 1 + 7 * 5, 6), seed=3)
    out = resample_position_embedding(table, (7, 5), target)
    grid = table[0, 1:].reshape(7, 5, 6)
    expected = np.asarray(jax_image.resize(grid, (*target, 6), method="bicubic"))
    np.testing.assert_allclose(out[0, 1:].reshape(*target, 6), expected, atol=1e-5)


@pytest.mark.parametrize("target", [(12, 9), (4, 3)])
def test_matches_tf_image_resize(target):
    tf = pytest.importorskip("tensorflow")
    table = random_inputs((1, 1 + 7 * 5, 6), seed=4)
    out = resample_position_embedding(table, (7, 5), target)
    grid = table[:, 1:].reshape(1, 7, 5, 6)
    expected = tf.image.resize(grid, target, method="bicubic", antialias=True).numpy()[0]
    np.testing.assert_allclose(out[0, 1:].reshape(*target, 6), expected, atol=1e-5)


def test_layer_resample_method():
    layer = PositionEmbedding(grid_size=(4, 4))
    layer.build((None, 17, 8))
    assert layer.resample((6, 2)).shape == (1, 13, 8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="embedding"):
        resample_position_embedding(np.zeros((1, 11, 4)), 3, 4)
    with pytest.raises(ValueError, match="target_grid"):
        resample_position_embedding(np.zeros((1, 10, 4)), 3, (0, 4))
    with pytest.raises(ValueError, match="grid_size"):
        PositionEmbedding(grid_size=(0, 3))
