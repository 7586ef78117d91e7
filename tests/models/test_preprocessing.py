import numpy as np
import pytest

from keras_vit import preprocess_input, preprocessing_layer
from keras_vit.models.preprocessing import IMAGENET_MEAN, IMAGENET_STD
from tests.test_case import to_numpy


def test_vit_mode_maps_pixels_to_minus_one_one():
    x = np.array([0.0, 63.75, 127.5, 255.0]).reshape(1, 1, 4, 1)
    np.testing.assert_allclose(to_numpy(preprocess_input(x)).ravel(), [-1.0, -0.5, 0.0, 1.0], atol=1e-7)


def test_imagenet_and_unit_modes():
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3))
    expected = (x / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    np.testing.assert_allclose(to_numpy(preprocess_input(x, "imagenet")), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(preprocess_input(x, "unit")), x / 255.0, rtol=1e-6)
    assert to_numpy(preprocess_input(x.astype("uint8"))).dtype == np.float32


def test_bad_mode_and_channels():
    with pytest.raises(ValueError, match="mode='torch'"):
        preprocess_input(np.zeros((1, 2, 2, 3)), mode="torch")
    with pytest.raises(ValueError, match="3-channel"):
        preprocess_input(np.zeros((1, 2, 2, 1)), mode="imagenet")


@pytest.mark.parametrize("mode", ["vit", "imagenet", "unit"])
def test_preprocessing_layer_matches_preprocess_input_also_in_tf_data(mode):
    x = np.random.default_rng(1).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    layer = preprocessing_layer(mode)
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(preprocess_input(x, mode)), rtol=1e-6, atol=1e-6)
    tf = pytest.importorskip("tensorflow")
    (mapped,) = list(tf.data.Dataset.from_tensors(x).map(layer))
    np.testing.assert_allclose(mapped.numpy(), to_numpy(preprocess_input(x, mode)), rtol=1e-6, atol=1e-6)
