"""The handwritten digits demo data set, ready for a small Vision Transformer.

The data is the test set of the UCI "Optical Recognition of Handwritten
Digits" data set: E. Alpaydin and C. Kaynak (1998), UCI Machine Learning
Repository, https://doi.org/10.24432/C50P49
(https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits),
licensed under Creative Commons Attribution 4.0 International (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/). keras_vit ships it as
scikit-learn packages it (`sklearn.datasets.load_digits`): 1,797 grayscale
8x8 images with integer intensities 0..16 and their labels 0..9, stored
unchanged as uint8 arrays in `digits.npz` next to this module
(`tests/fixtures/make_digits.py` regenerates it). So neither scikit-learn
nor a download is needed.

Everything here is plain NumPy, so the arrays are bit-for-bit identical
whichever Keras backend is active.
"""

import hashlib
import importlib.resources
import io
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
NUM_SAMPLES = 1797

_DATA_FILE = "digits.npz"  # in this package (keras_vit.data)
# SHA-256 of the shipped digits.npz, as tests/fixtures/make_digits.py prints it.
_SHA256 = "aa64e930663d6e9271e1566601d65e70236553f73ec6cb041a4ab37167cf1d04"


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
    """Sizes of the train, validation and test splits: the test split is
    `test_fraction` of all images, rounded up; the validation split is
    `validation_fraction` of all images as a share of the rest, rounded up
    (how scikit-learn's two `train_test_split` calls sized them)."""
    num_test = math.ceil(test_fraction * num_samples)
    num_rest = num_samples - num_test
    num_val = math.ceil(validation_fraction / (1.0 - test_fraction) * num_rest)
    return num_rest - num_val, num_val, num_test


def _data_file():
    """The shipped `digits.npz`, as an `importlib.resources` resource (a
    plain file, or a member of a zip such as a wheel)."""
    return importlib.resources.files("keras_vit.data").joinpath(_DATA_FILE)


def _load_raw():
    """The shipped arrays: uint8 images `(1797, 8, 8)` in 0..16 and uint8
    labels `(1797,)` in 0..9, after checking the file's SHA-256."""
    resource = _data_file()
    name = str(resource)  # a path; in a wheel or zip, the member's path
    if _DATA_FILE not in name:
        name = f"keras_vit/data/{_DATA_FILE}"
    try:
        data = resource.read_bytes()
    except OSError as error:
        raise FileNotFoundError(
            f"The digits data file {name} that keras_vit ships could not be "
            f"read ({error}). Reinstall keras-vit-zoo; a build of the package "
            "without its data files (package_data `*.npz` of keras_vit.data) "
            "lacks it."
        ) from error
    digest = hashlib.sha256(data).hexdigest()
    if digest != _SHA256:
        raise ValueError(
            f"The digits data file {name} is damaged: its SHA-256 is {digest}, "
            f"expected {_SHA256} ({len(data)} bytes read). Reinstall keras-vit-zoo."
        )
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        images, labels = arrays["images"], arrays["labels"]
    return images, labels


def _allocate(class_counts, split_sizes):
    """How many images of each class go to each split.

    Returns an int64 `(num_classes, num_splits)` matrix whose row `c` sums to
    `class_counts[c]` and column `s` to `split_sizes[s]` (which must add up
    to the number of images). Each entry is the proportional share
    `class_counts[c] * split_sizes[s] / total` rounded down or up, so within
    one image of it: shares below one image are rounded up (every split holds
    every class), the other shares are rounded up in order of decreasing
    remainder (ties: lower class, then earlier split) while their class and
    split still lack images, and if that greedy pass leaves a class short,
    augmenting paths move round-ups between classes until every row and
    column total is met (controlled rounding; such a matrix always exists
    when no share is forced up, and the forced cells only occur for splits
    of about `num_classes` images, where they are exactly what is needed).
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    sizes = np.asarray(split_sizes, dtype=np.int64)
    total = int(counts.sum())
    if int(sizes.sum()) != total:
        raise ValueError(f"Split sizes {tuple(split_sizes)} do not add up to {total} images.")
    products = np.outer(counts, sizes)
    allocation = products // total
    remainders = products % total
    forced = (allocation == 0) & (remainders > 0)
    allocation[forced] = 1
    eligible = (remainders > 0) & ~forced  # may still be rounded up
    row_need = counts - allocation.sum(axis=1)
    col_need = sizes - allocation.sum(axis=0)
    rounded_up = np.zeros(allocation.shape, dtype=bool)
    if (row_need >= 0).all() and (col_need >= 0).all():
        cells = sorted(zip(*np.nonzero(eligible)), key=lambda cell: (-remainders[cell], cell))
        for row, col in cells:
            if row_need[row] > 0 and col_need[col] > 0:
                rounded_up[row, col] = True
                row_need[row] -= 1
                col_need[col] -= 1
        for row in range(len(counts)):
            while row_need[row] > 0 and _augment(row, eligible, rounded_up, col_need):
                row_need[row] -= 1
    if row_need.any() or col_need.any():
        raise ValueError(
            f"Cannot divide classes of {counts.tolist()} images into splits of "
            f"{sizes.tolist()} images with every class in every split in "
            "proportion. Use larger `validation_fraction` and `test_fraction`."
        )
    return allocation + rounded_up


def _augment(start_row, eligible, rounded_up, col_need):
    """Finds (breadth first) a path start_row -> column -> row -> ... ->
    column with room, rounding up the cells it enters a column by and undoing
    the round-ups it leaves one by; applies it and returns True, or returns
    False if there is none. Every row on the path but the first keeps its
    total; the first gains one, the last column takes one."""
    num_rows, num_cols = eligible.shape
    col_parent = {}  # column -> row it was reached from
    row_parent = {start_row: None}  # row -> column it was reached from
    queue = [start_row]
    while queue:
        row = queue.pop(0)
        for col in range(num_cols):
            if not eligible[row, col] or rounded_up[row, col] or col in col_parent:
                continue
            col_parent[col] = row
            if col_need[col] > 0:
                col_need[col] -= 1
                while True:
                    row = col_parent[col]
                    rounded_up[row, col] = True
                    col = row_parent[row]
                    if col is None:
                        return True
                    rounded_up[row, col] = False
            for other in range(num_rows):
                if rounded_up[other, col] and other not in row_parent:
                    row_parent[other] = col
                    queue.append(other)
    return False


def _split_indices(labels, sizes, seed):
    """Stratified split of `range(len(labels))` into index arrays of the
    given sizes (train, validation, test).

    Per class, in class order, the class's indices are shuffled with one
    `np.random.default_rng(seed)` and cut into `_allocate`'s counts; then
    each split's indices are shuffled with the same generator, so the
    classes are mixed. Plain NumPy: the same seed gives the same indices on
    every backend.
    """
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    allocation = _allocate(counts, sizes)
    parts = [[] for _ in sizes]
    for label in range(NUM_CLASSES):
        members = rng.permutation(np.flatnonzero(labels == label))
        for part, chunk in zip(parts, np.split(members, np.cumsum(allocation[label])[:-1])):
            part.append(chunk)
    return tuple(rng.permutation(np.concatenate(part)) for part in parts)


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
    """Loads the handwritten digits as image classification splits.

    The data set is the UCI "Optical Recognition of Handwritten Digits" test
    set as scikit-learn's `load_digits` packages it (CC BY 4.0; see the
    module docstring): 1,797 grayscale 8x8 images of handwritten digits, ten
    classes (174 to 183 images each), with integer intensities 0..16. It
    ships with keras_vit, so nothing is downloaded and scikit-learn is not
    needed. The images are

    1. rescaled to pixel values in `[0, 255]` (`value * 255 / 16`), the range
       `keras_vit.preprocess_input` expects;
    2. upsampled to `image_size` x `image_size` with **bilinear**
       interpolation (half-pixel centres, edges clamped: the convention of
       `keras.ops.image.resize(..., interpolation="bilinear")`), computed in
       NumPy in float64 so the result is identical on every Keras backend;
       values stay in `[0, 255]`;
    3. repeated to `channels` channels (1, or 3 for RGB-shaped models);

    and divided by a fixed, stratified split computed in NumPy: each class's
    images are shuffled with `np.random.default_rng(seed)` and shared out so
    that every split holds every digit, each within one image of its
    proportion of the full data set, with the split sizes below. The same
    arguments always give the same arrays (on every backend; the shuffle is
    NumPy's `Generator`).

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
        ValueError: if an argument is out of range, or if the shipped
            `digits.npz` is damaged (its SHA-256 does not match).
        FileNotFoundError: if the shipped `digits.npz` is missing.

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

    raw_images, raw_labels = _load_raw()
    labels = raw_labels.astype(np.int32)

    sizes = _split_sizes(len(labels), validation_fraction, test_fraction)
    if min(sizes) < NUM_CLASSES:
        raise ValueError(
            "Each split must hold at least one image per class "
            f"({NUM_CLASSES}) for a stratified split, but the fractions give "
            f"train/validation/test sizes {sizes} out of {len(labels)}. "
            f"Received: validation_fraction={validation_fraction!r}, "
            f"test_fraction={test_fraction!r}"
        )
    train, validation, test = _split_indices(labels, sizes, seed)

    images = raw_images.astype(np.float64) * (255.0 / RAW_MAX_VALUE)
    if image_size != RAW_IMAGE_SIZE:
        images = _resize_bilinear(images, image_size)
    images = np.clip(images, 0.0, 255.0).astype(np.float32)
    images = np.repeat(images[..., np.newaxis], channels, axis=-1)

    return DigitsSplits(
        train=(images[train], labels[train]),
        validation=(images[validation], labels[validation]),
        test=(images[test], labels[test]),
    )
