import keras
import numpy as np
import pytest

from keras_vit.layers import ResampleFeatureMap, TokensToFeatureMap
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_tokens_to_feature_map_contract(tmp_path):
    run_layer_test(
        TokensToFeatureMap, {"grid_size": (2, 3), "num_prefix_tokens": 2}, (2, 8, 4), (2, 2, 3, 4),
        tmp_path, expected_num_trainable_weights=0,
    )


def test_token_lands_at_its_grid_cell():
    grid_h, grid_w, dim = 3, 5, 2
    for prefix in (0, 1, 3):
        tokens = random_inputs((2, prefix + grid_h * grid_w, dim), seed=prefix)
        out = to_numpy(TokensToFeatureMap((grid_h, grid_w), num_prefix_tokens=prefix)(tokens))
        assert out.shape == (2, grid_h, grid_w, dim)
        for r in range(grid_h):
            for c in range(grid_w):
                np.testing.assert_array_equal(out[:, r, c], tokens[:, prefix + r * grid_w + c])


def test_tokens_to_feature_map_wrong_length_raises():
    with pytest.raises(ValueError, match="expects tokens of shape"):
        TokensToFeatureMap(2)(np.zeros((1, 6, 4), "float32"))
    with pytest.raises(ValueError, match="grid_size"):
        TokensToFeatureMap((0, 2))
    with pytest.raises(TypeError, match="num_prefix_tokens"):
        TokensToFeatureMap(2, num_prefix_tokens=1.5)


def test_resample_contract(tmp_path):
    run_layer_test(
        ResampleFeatureMap, {"scale": 2}, (2, 4, 6, 3), (2, 8, 12, 3), tmp_path,
        expected_num_trainable_weights=0,
    )


def test_resample_sizes():
    x = random_inputs((1, 4, 6, 5))
    cases = [(4, (16, 24)), (2, (8, 12)), (1, (4, 6)), (0.5, (2, 3)), (1.5, (6, 9)),
             ((2, 1), (8, 6)), ((0.5, 1), (2, 6))]
    for scale, size in cases:
        layer = ResampleFeatureMap(scale)
        assert tuple(layer(x).shape) == (1, *size, 5), scale
        assert layer.compute_output_shape((None, 4, 6, 5)) == (None, *size, 5)


def _bilinear_matrix(size, factor):
    """Half-pixel-centre linear interpolation weights, edges clamped."""
    centres = (np.arange(size * factor) + 0.5) / factor - 0.5
    centres = np.clip(centres, 0, size - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, size - 1)
    frac = centres - low
    matrix = np.zeros((size * factor, size))
    matrix[np.arange(size * factor), low] += 1 - frac
    matrix[np.arange(size * factor), high] += frac
    return matrix


def test_bilinear_upsampling_matches_numpy_reference():
    x = random_inputs((2, 3, 4, 2))
    out = to_numpy(ResampleFeatureMap(2)(x))
    expected = np.einsum("ih,jw,bhwc->bijc", _bilinear_matrix(3, 2), _bilinear_matrix(4, 2), x)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_average_pooling_matches_numpy_reference():
    x = random_inputs((2, 4, 6, 3))
    out = to_numpy(ResampleFeatureMap(0.5)(x))
    np.testing.assert_allclose(out, x.reshape(2, 2, 2, 3, 2, 3).mean(axis=(2, 4)), atol=1e-6)
    mixed = ResampleFeatureMap(0.5, dtype="mixed_bfloat16")(x)
    assert keras.backend.standardize_dtype(mixed.dtype) == "bfloat16"


def test_scale_one_is_identity_and_nearest_repeats():
    x = random_inputs((1, 3, 3, 2))
    np.testing.assert_array_equal(to_numpy(ResampleFeatureMap(1)(x)), x)
    nearest = to_numpy(ResampleFeatureMap(2, interpolation="nearest")(x))
    np.testing.assert_array_equal(nearest, x.repeat(2, axis=1).repeat(2, axis=2))


def test_resample_bad_arguments():
    for scale in (0, -2, float("inf")):
        with pytest.raises(ValueError, match="scale"):
            ResampleFeatureMap(scale)
    for scale in ("2", None, True, (1, 2, 3)):
        with pytest.raises(TypeError, match="scale"):
            ResampleFeatureMap(scale)
    for scale in (0.3, (2, 0.5)):
        with pytest.raises(ValueError, match="1/k"):
            ResampleFeatureMap(scale)
    with pytest.raises(ValueError, match="interpolation"):
        ResampleFeatureMap(2, interpolation="area")
    with pytest.raises(ValueError, match="whole output size"):
        ResampleFeatureMap(0.5)(np.zeros((1, 3, 4, 1), "float32"))
    with pytest.raises(ValueError, match="channels-last"):
        ResampleFeatureMap(2)(np.zeros((1, 3, 4), "float32"))
