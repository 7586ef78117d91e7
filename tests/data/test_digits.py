"""Tests of `keras_vit.data.load_digits`.

The loader is pure NumPy, so every check below must hold unchanged under the
TensorFlow, JAX and PyTorch backends; the one comparison with a Keras op
(`keras.ops.image.resize`) runs on whichever backend is active.
"""

import keras
import numpy as np
import pytest

from keras_vit.data import DigitsSplits, load_digits

sklearn_datasets = pytest.importorskip("sklearn.datasets")

NUM_SAMPLES = 1797


@pytest.fixture(scope="module")
def raw():
    digits = sklearn_datasets.load_digits()
    return np.asarray(digits.images, dtype=np.float64), np.asarray(digits.target)


@pytest.fixture(scope="module")
def default_splits():
    return load_digits()


def _raw_indices(images_8x8, raw_images):
    """Maps each returned 8x8 image (in [0, 255]) back to its index in the raw
    data set; the 1,797 raw images are pairwise distinct, so this is exact."""
    lookup = {image.tobytes(): index for index, image in enumerate(raw_images.astype(np.uint8))}
    assert len(lookup) == NUM_SAMPLES  # no duplicates in the raw data
    recovered = np.rint(images_8x8[..., 0].astype(np.float64) * 16.0 / 255.0).astype(np.uint8)
    return np.array([lookup[image.tobytes()] for image in recovered])


def test_structure_shapes_and_dtypes(default_splits):
    assert isinstance(default_splits, DigitsSplits)
    assert default_splits.class_names == tuple(str(d) for d in range(10))
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = default_splits
    assert default_splits.train[0] is x_train and default_splits.test[1] is y_test
    for images, labels in default_splits:
        assert isinstance(images, np.ndarray) and isinstance(labels, np.ndarray)
        assert images.dtype == np.float32 and labels.dtype == np.int32
        assert images.shape[1:] == (32, 32, 3)
        assert labels.shape == (images.shape[0],)
        assert set(np.unique(labels)) == set(range(10))
    assert (len(y_train), len(y_val), len(y_test)) == (1257, 270, 270)


def test_value_range(default_splits):
    for images, _ in default_splits:
        assert np.isfinite(images).all()
        assert images.min() >= 0.0 and images.max() <= 255.0
    all_images = np.concatenate([images for images, _ in default_splits])
    assert all_images.min() == 0.0 and all_images.max() == 255.0


def test_channels_are_identical_copies(default_splits):
    images = default_splits.validation[0]
    np.testing.assert_array_equal(images[..., 0], images[..., 1])
    np.testing.assert_array_equal(images[..., 0], images[..., 2])


def test_single_channel_and_other_sizes():
    splits = load_digits(image_size=20, channels=1)
    for images, _ in splits:
        assert images.shape[1:] == (20, 20, 1)
        assert images.dtype == np.float32


def test_split_is_a_partition_with_matching_labels(raw):
    raw_images, raw_labels = raw
    splits = load_digits(image_size=8, channels=1)
    indices = [_raw_indices(images, raw_images) for images, _ in splits]
    merged = np.concatenate(indices)
    assert len(merged) == NUM_SAMPLES
    np.testing.assert_array_equal(np.sort(merged), np.arange(NUM_SAMPLES))  # disjoint, complete
    for split_indices, (images, labels) in zip(indices, splits):
        np.testing.assert_array_equal(labels, raw_labels[split_indices])
        # At the native size the images are the raw ones, scaled exactly.
        expected = (raw_images[split_indices] * 255.0 / 16.0).astype(np.float32)
        np.testing.assert_allclose(images[..., 0], expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("validation_fraction,test_fraction", [(0.15, 0.15), (0.1, 0.3)])
def test_split_sizes_and_stratification(raw, validation_fraction, test_fraction):
    _, raw_labels = raw
    splits = load_digits(
        image_size=8, validation_fraction=validation_fraction, test_fraction=test_fraction
    )
    sizes = [len(labels) for _, labels in splits]
    assert sum(sizes) == NUM_SAMPLES
    assert abs(sizes[1] - validation_fraction * NUM_SAMPLES) <= 1
    assert abs(sizes[2] - test_fraction * NUM_SAMPLES) <= 1
    full = np.bincount(raw_labels, minlength=10) / NUM_SAMPLES
    for _, labels in splits:
        proportions = np.bincount(labels, minlength=10) / len(labels)
        assert np.abs(proportions - full).max() < 0.02


def test_same_seed_same_arrays_different_seed_different_split():
    first = load_digits(image_size=16, seed=3)
    second = load_digits(image_size=16, seed=3)
    for (images_a, labels_a), (images_b, labels_b) in zip(first, second):
        np.testing.assert_array_equal(images_a, images_b)
        np.testing.assert_array_equal(labels_a, labels_b)
    other = load_digits(image_size=16, seed=4)
    assert len(other.test[1]) == len(first.test[1])
    assert not np.array_equal(other.test[0], first.test[0])
    assert not np.array_equal(other.train[1], first.train[1])


def test_upsampling_keeps_the_image_at_sample_positions(raw):
    # With a 3x upsampling and half-pixel centres, output pixel 3k + 1 sits
    # exactly on input pixel k, so bilinear interpolation must return it.
    raw_images, _ = raw
    native = load_digits(image_size=8, channels=1, seed=7)
    upsampled = load_digits(image_size=24, channels=1, seed=7)
    for (small, labels_small), (large, labels_large) in zip(native, upsampled):
        np.testing.assert_array_equal(labels_small, labels_large)
        np.testing.assert_allclose(large[:, 1::3, 1::3, 0], small[..., 0], rtol=0, atol=1e-3)
        # In between, values are convex combinations of the neighbours.
        left, right = small[:, :, :-1, 0], small[:, :, 1:, 0]
        middle = large[:, 1::3, 2:-3:3, 0]  # 1/3 of the way from k to k+1
        np.testing.assert_allclose(middle, (2 * left + right) / 3, rtol=0, atol=1e-3)


def test_upsampling_matches_keras_bilinear_resize():
    native = load_digits(image_size=8, channels=1, seed=1)
    upsampled = load_digits(image_size=32, channels=1, seed=1)
    small, large = native.test[0], upsampled.test[0]
    expected = keras.ops.convert_to_numpy(
        keras.ops.image.resize(small, (32, 32), interpolation="bilinear", antialias=False)
    )
    np.testing.assert_allclose(large, expected, rtol=0, atol=1e-2)
    # Block-averaging back to 8x8 recovers the digit up to bilinear blur.
    blocks = large[..., 0].reshape(-1, 8, 4, 8, 4).mean(axis=(2, 4))
    assert np.abs(blocks - small[..., 0]).mean() < 0.1 * 255


@pytest.mark.parametrize(
    "kwargs,error,pattern",
    [
        ({"image_size": 7}, ValueError, r"image_size.*image_size=7"),
        ({"image_size": 0}, ValueError, r"image_size=0"),
        ({"image_size": 32.0}, TypeError, r"image_size=32\.0"),
        ({"image_size": "32"}, TypeError, r"image_size='32'"),
        ({"image_size": True}, TypeError, r"image_size=True"),
        ({"channels": 2}, ValueError, r"channels.*channels=2"),
        ({"channels": 0}, ValueError, r"channels=0"),
        ({"channels": 3.0}, TypeError, r"channels=3\.0"),
        ({"validation_fraction": 0.0}, ValueError, r"validation_fraction=0\.0"),
        ({"validation_fraction": 1.0}, ValueError, r"validation_fraction=1\.0"),
        ({"validation_fraction": -0.1}, ValueError, r"validation_fraction=-0\.1"),
        ({"validation_fraction": "0.1"}, TypeError, r"validation_fraction='0\.1'"),
        ({"test_fraction": 1.5}, ValueError, r"test_fraction=1\.5"),
        ({"test_fraction": None}, TypeError, r"test_fraction=None"),
        (
            {"validation_fraction": 0.5, "test_fraction": 0.5},
            ValueError,
            r"validation_fraction=0\.5, test_fraction=0\.5",
        ),
        ({"validation_fraction": 0.6, "test_fraction": 0.6}, ValueError, r"must be below 1"),
        ({"test_fraction": 0.001}, ValueError, r"one image per class.*test_fraction=0\.001"),
        ({"seed": -1}, ValueError, r"seed=-1"),
        ({"seed": 1.5}, TypeError, r"seed=1\.5"),
    ],
)
def test_bad_arguments_raise(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load_digits(**kwargs)


def test_numpy_integer_arguments_are_accepted():
    splits = load_digits(image_size=np.int64(16), channels=np.int32(1), seed=np.int64(2))
    assert splits.train[0].shape[1:] == (16, 16, 1)


def test_missing_scikit_learn_gives_install_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "sklearn" or name.startswith("sklearn."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install scikit-learn"):
        load_digits()
