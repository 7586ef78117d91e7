import warnings

import keras
import numpy as np
import pytest

from keras_vit import preprocess_input, preprocessing_layer
from keras_vit.models.preprocessing import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD
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


def test_statistics_are_timm_s():
    # timm.data.constants (timm 1.0.31): IMAGENET_DEFAULT_MEAN/STD, OPENAI_CLIP_MEAN/STD.
    assert IMAGENET_MEAN == (0.485, 0.456, 0.406) and IMAGENET_STD == (0.229, 0.224, 0.225)
    assert CLIP_MEAN == (0.48145466, 0.4578275, 0.40821073)
    assert CLIP_STD == (0.26862954, 0.26130258, 0.27577711)


def test_clip_mode_is_mean_std_scaling_with_clip_statistics():
    x = np.random.default_rng(4).uniform(0, 255, (2, 4, 4, 3))
    expected = (x / 255.0 - np.array([0.48145466, 0.4578275, 0.40821073])) / np.array(
        [0.26862954, 0.26130258, 0.27577711])
    np.testing.assert_allclose(to_numpy(preprocess_input(x, "clip")), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(preprocessing_layer("clip")(x.astype("float32"))), expected,
                               rtol=1e-5, atol=1e-5)
    assert to_numpy(preprocess_input(x.astype("uint8"), "clip")).dtype == np.float32


def test_siglip_mode_is_mean_half_std_half_which_is_the_vit_mode():
    x = np.random.default_rng(5).uniform(0, 255, (2, 4, 4, 5))  # any channel count, as "vit"
    expected = (x / 255.0 - 0.5) / 0.5
    np.testing.assert_allclose(to_numpy(preprocess_input(x, "siglip")), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(to_numpy(preprocess_input(x, "siglip")), to_numpy(preprocess_input(x, "vit")))
    layer = preprocessing_layer("siglip")
    assert isinstance(layer, keras.layers.Rescaling) and layer.get_config()["scale"] == 1.0 / 127.5


def test_bad_mode_and_channels():
    for bad in ("torch", "CLIP", "inception", None):
        with pytest.raises(ValueError, match=rf"`mode` must be one of .*'clip', 'siglip'.*Received: mode={bad!r}"):
            preprocess_input(np.zeros((1, 2, 2, 3)), mode=bad)
        with pytest.raises(ValueError, match=rf"Received: mode={bad!r}"):
            preprocessing_layer(bad)
    for mode in ("imagenet", "clip"):
        with pytest.raises(ValueError, match=f"mode='{mode}' needs 3-channel images"):
            preprocess_input(np.zeros((1, 2, 2, 1)), mode=mode)


@pytest.mark.parametrize("mode", ["vit", "imagenet", "unit", "clip", "siglip"])
def test_preprocessing_layer_matches_preprocess_input_also_in_tf_data(mode):
    x = np.random.default_rng(1).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    layer = preprocessing_layer(mode)
    np.testing.assert_allclose(to_numpy(layer(x)), to_numpy(preprocess_input(x, mode)), rtol=1e-6, atol=1e-6)
    tf = pytest.importorskip("tensorflow")
    (mapped,) = list(tf.data.Dataset.from_tensors(x).map(layer))
    np.testing.assert_allclose(mapped.numpy(), to_numpy(preprocess_input(x, mode)), rtol=1e-6, atol=1e-6)


def _scaled_images():
    return np.random.default_rng(2).uniform(0, 1, (2, 4, 4, 3)).astype("float32")


@pytest.mark.parametrize("mode", ["vit", "imagenet", "unit", "clip", "siglip"])
def test_warns_for_float_images_already_scaled(mode):
    # [0, 1] images (or images already preprocessed to [-1, 1]) would
    # silently collapse to about -1; as NumPy data or as an eager tensor of
    # the current backend, they are noticed.
    for images in (_scaled_images(), 2 * _scaled_images() - 1, keras.ops.convert_to_tensor(_scaled_images())):
        with pytest.warns(UserWarning, match=r"input_range=\(0, 1\)"):
            preprocess_input(images, mode)


def test_no_warning_for_pixels_integers_or_a_stated_range():
    pixels = np.random.default_rng(3).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        preprocess_input(pixels)
        preprocess_input(keras.ops.convert_to_tensor(pixels))
        preprocess_input(np.ones((2, 4, 4, 3), "uint8"))  # integer pixels are never rescaled
        preprocess_input(_scaled_images(), input_range=(0, 255))  # e.g. truly dark images
        preprocess_input(_scaled_images(), input_range=(0, 1))


def test_the_warning_comes_once_per_call_site():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            preprocess_input(_scaled_images())
    ours = [w for w in caught if "input_range" in str(w.message)]
    assert len(ours) == 1 and ours[0].category is UserWarning and ours[0].filename == __file__


@pytest.mark.parametrize("mode", ["vit", "imagenet", "unit", "clip", "siglip"])
def test_input_range_rescales_to_the_pixel_range(mode):
    unit = _scaled_images()
    expected = to_numpy(preprocess_input(unit * 255.0, mode))
    np.testing.assert_allclose(to_numpy(preprocess_input(unit, mode, input_range=(0, 1))), expected,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(preprocess_input(2 * unit - 1, mode, input_range=(-1, 1))), expected,
                               rtol=1e-5, atol=1e-5)
    for bad in ((1, 0), (0, np.inf), (0,), "0-1", (0, True)):
        with pytest.raises((TypeError, ValueError), match="input_range"):
            preprocess_input(unit, mode, input_range=bad)


def test_symbolic_inputs_are_not_inspected():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        symbolic = keras.Input((4, 4, 3))
        assert tuple(preprocess_input(symbolic).shape) == (None, 4, 4, 3)
        model = keras.Model(symbolic, preprocess_input(symbolic))
        # Compiled (tf.function, jax.jit, plain torch) predictions on [0, 1]
        # data: traced values are not read, so no warning and no error.
        np.testing.assert_allclose(to_numpy(model.predict(_scaled_images(), verbose=0)),
                                   _scaled_images() / 127.5 - 1, rtol=1e-5, atol=1e-6)
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            (mapped,) = list(tf.data.Dataset.from_tensors(_scaled_images()).map(preprocess_input))
            np.testing.assert_allclose(mapped.numpy(), _scaled_images() / 127.5 - 1, rtol=1e-5, atol=1e-6)
            traced = tf.function(preprocess_input)(tf.constant(_scaled_images()))
            np.testing.assert_allclose(traced.numpy(), _scaled_images() / 127.5 - 1, rtol=1e-5, atol=1e-6)
        elif backend == "jax":
            import jax

            traced = jax.jit(preprocess_input)(_scaled_images())
            np.testing.assert_allclose(np.asarray(traced), _scaled_images() / 127.5 - 1, rtol=1e-5, atol=1e-6)
