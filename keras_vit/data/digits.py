"""The scikit-learn handwritten digits, ready for a small Vision Transformer.

Everything here is plain NumPy (plus scikit-learn for the bundled data and the
stratified split), so the arrays are bit-for-bit identical whichever Keras
backend is active.
"""

import math
import numbers
from typing import NamedTuple, Tuple

import numpy as np

from keras_vit._validation import check_unsigned_seed

NUM_CLASSES = 10
CLASS_NAMES = tuple(str(digit) for digit in range(NUM_CLASSES))
RAW_IMAGE_SIZE = 8  # the bundled images are 8x8
RAW_MAX_VALUE = 16.0  # with integer intensities 0..16
MIN_IMAGE_SIZE = RAW_IMAGE_SIZE


class DigitsSplits(NamedTuple):
    """The three splits returned by `load_digits`.

    Each field is an `(images, labels)` tuple: `images` float32 of shape
    `(num_samples, image_size, image_size, channels)` with values in
    `[0, 255]`, `labels` int32 of shape `(num_samples,)` with values `0..9`.
    Being a tuple of three, it unpacks as
    `(x_train, y_train), (x_val, y_val), (x_test, y_test) = splits`.
    `class_names` gives the label names, `("0", ..., "9")`.
    """

    train: Tuple[np.ndarray, np.ndarray]
    validation: Tuple[np.ndarray, np.ndarray]
    test: Tuple[np.ndarray, np.ndarray]

    @property
    def class_names(self):
        """The name of each label index: `("0", "1", ..., "9")`."""
        return CLASS_NAMES


def _check_image_size(image_size):
    if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral):
        raise TypeError(
            f"`image_size` must be an integer >= {MIN_IMAGE_SIZE}. Received: "
            f"image_size={image_size!r} of type {type(image_size).__name__}"
        )
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(
            f"`image_size` must be an integer >= {MIN_IMAGE_SIZE} (the digits are "
            f"{RAW_IMAGE_SIZE}x{RAW_IMAGE_SIZE} and are only upsampled). "
            f"Received: image_size={image_size!r}"
        )
    return int(image_size)


def _check_channels(channels):
    if isinstance(channels, bool) or not isinstance(channels, numbers.Integral):
        raise TypeError(
            f"`channels` must be 1 or 3. Received: channels={channels!r} "
            f"of type {type(channels).__name__}"
        )
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels!r}")
    return int(channels)


def _check_fraction(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a float in (0, 1). Received: {name}={value!r} "
            f"of type {type(value).__name__}"
        )
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"`{name}` must be in (0, 1). Received: {name}={value!r}")
    return float(value)


def _split_sizes(num_samples, validation_fraction, test_fraction):
    """Split sizes as `train_test_split` rounds them (test sizes up)."""
    num_test = math.ceil(test_fraction * num_samples)
    num_rest = num_samples - num_test
    num_val = math.ceil(validation_fraction / (1.0 - test_fraction) * num_rest)
    return num_rest - num_val, num_val, num_test


def _bilinear_matrix(in_size, out_size):
    """`(out_size, in_size)` matrix of 1-D bilinear resampling weights.

    Half-pixel centres (`align_corners=False`), with source coordinates
    clamped to the image: the convention of `tf.image.resize`,
    `jax.image.resize`, `torch.nn.functional.interpolate` and
    `keras.ops.image.resize` when upsampling. Rows sum to 1.
    """
    positions = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) - 0.5
    positions = np.clip(positions, 0.0, in_size - 1)
    lower = np.floor(positions).astype(np.int64)
    upper = np.minimum(lower + 1, in_size - 1)
    frac = positions - lower
    weights = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.arange(out_size)
    np.add.at(weights, (rows, lower), 1.0 - frac)
    np.add.at(weights, (rows, upper), frac)
    return weights


def _resize_bilinear(images, size):
    """Bilinear resize of `(n, h, w)` images to `(n, size, size)`, in NumPy."""
    rows = _bilinear_matrix(images.shape[1], size)
    cols = _bilinear_matrix(images.shape[2], size)
    return np.einsum("oi,nij,pj->nop", rows, images, cols)


def load_digits(
    image_size=32,
    channels=3,
    validation_fraction=0.15,
    test_fraction=0.15,
    seed=0,
):
    """Loads the scikit-learn digits as image classification splits.

    The data set is `sklearn.datasets.load_digits`: 1,797 grayscale 8x8
    images of handwritten digits, ten classes (174 to 183 images each), with
    integer intensities 0..16. It ships with scikit-learn, so nothing is
    downloaded. The images are

    1. rescaled to pixel values in `[0, 255]` (`value * 255 / 16`), the range
       `keras_vit.preprocess_input` expects;
    2. upsampled to `image_size` x `image_size` with **bilinear**
       interpolation (half-pixel centres, edges clamped: the convention of
       `keras.ops.image.resize(..., interpolation="bilinear")`), computed in
       NumPy in float64 so the result is identical on every Keras backend;
       values stay in `[0, 255]`;
    3. repeated to `channels` channels (1, or 3 for RGB-shaped models);

    and divided by a fixed, stratified split
    (`sklearn.model_selection.train_test_split` with `stratify`): the test
    split is drawn first, then the validation split from the rest, so each
    split holds every digit in the proportions of the full data set. The same
    arguments always give the same arrays.

    Args:
        image_size: int >= 8. Side of the returned square images.
            Defaults to 32.
        channels: 1 or 3. Number of (identical) channels. Defaults to 3.
        validation_fraction: float in (0, 1). Fraction of the 1,797 images in
            the validation split (rounded up). Defaults to 0.15.
        test_fraction: float in (0, 1). Fraction of the images in the test
            split (rounded up). `validation_fraction + test_fraction` must be
            below 1, and each split must be able to hold one image per class.
            Defaults to 0.15.
        seed: int in [0, 2**32 - 1]. Seed of the split. Defaults to 0.

    Returns:
        A `DigitsSplits` named tuple with fields `train`, `validation` and
        `test`, each an `(images, labels)` tuple of NumPy arrays: images
        float32 `(num_samples, image_size, image_size, channels)` in
        `[0, 255]`, labels int32 `(num_samples,)` in `0..9`. It unpacks as
        `(x_train, y_train), (x_val, y_val), (x_test, y_test)`, and its
        `class_names` property is `("0", ..., "9")`. With the defaults the
        splits hold 1,257 / 270 / 270 images.

    Raises:
        TypeError: if an argument has the wrong type.
        ValueError: if an argument is out of range.
        ImportError: if scikit-learn is not installed.

    Example:
    >>> splits = load_digits(image_size=32, channels=3)
    >>> (x_train, y_train), (x_val, y_val), (x_test, y_test) = splits
    >>> x_train.shape, x_train.dtype.name, y_train.dtype.name
    ((1257, 32, 32, 3), 'float32', 'int32')
    >>> len(y_val), len(y_test), splits.class_names[:3]
    (270, 270, ('0', '1', '2'))
    """
    image_size = _check_image_size(image_size)
    channels = _check_channels(channels)
    validation_fraction = _check_fraction("validation_fraction", validation_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if validation_fraction + test_fraction >= 1.0:
        raise ValueError(
            "`validation_fraction` + `test_fraction` must be below 1 to leave "
            f"a training split. Received: validation_fraction={validation_fraction!r}, "
            f"test_fraction={test_fraction!r}"
        )
    seed = check_unsigned_seed("seed", seed)

    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:
        raise ImportError(
            "`keras_vit.data.load_digits` needs scikit-learn, which is an "
            "optional dependency. Install it with `pip install scikit-learn` "
            "(or `pip install keras-vit[datasets]`)."
        ) from error

    digits = sklearn_load_digits()
    raw_images = np.asarray(digits.images, dtype=np.float64)
    labels = np.asarray(digits.target, dtype=np.int32)

    sizes = _split_sizes(len(labels), validation_fraction, test_fraction)
    if min(sizes) < NUM_CLASSES:
        raise ValueError(
            "Each split must hold at least one image per class "
            f"({NUM_CLASSES}) for a stratified split, but the fractions give "
            f"train/validation/test sizes {sizes} out of {len(labels)}. "
            f"Received: validation_fraction={validation_fraction!r}, "
            f"test_fraction={test_fraction!r}"
        )

    images = raw_images * (255.0 / RAW_MAX_VALUE)
    if image_size != RAW_IMAGE_SIZE:
        images = _resize_bilinear(images, image_size)
    images = np.clip(images, 0.0, 255.0).astype(np.float32)
    images = np.repeat(images[..., np.newaxis], channels, axis=-1)

    indices = np.arange(len(labels))
    rest, test = train_test_split(
        indices, test_size=sizes[2], stratify=labels, random_state=seed
    )
    train, validation = train_test_split(
        rest, test_size=sizes[1], stratify=labels[rest], random_state=seed
    )
    return DigitsSplits(
        train=(images[train], labels[train]),
        validation=(images[validation], labels[validation]),
        test=(images[test], labels[test]),
    )
