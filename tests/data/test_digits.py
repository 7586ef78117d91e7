"""Tests of `keras_vit.data.load_digits`.

The loader is pure NumPy (shipped data, NumPy split), so every check below
must hold unchanged under the TensorFlow, JAX and PyTorch backends; the one
comparison with a Keras op (`keras.ops.image.resize`) runs on whichever
backend is active. Only `test_shipped_arrays_equal_scikit_learn` needs
scikit-learn (skipped without it).
"""

import hashlib
import importlib
import io
import sys
import zipfile

import keras
import numpy as np
import pytest

from keras_vit.data import DigitsSplits, load_digits

digits_module = importlib.import_module("keras_vit.data.digits")

NUM_SAMPLES = 1797
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
# SHA-256 of the int64 indices (train, validation, test concatenated) of the
# default split, seed 0: the split is the same in every process and on every
# backend. A change means the split changed (a NumPy `Generator` change would
# show here too).
DEFAULT_SPLIT_SHA256 = "0e0d6ef91ec5085e65ff9ae9c7a13ecd80321a8d3de86aa3c161d78c96638b1c"


@pytest.fixture(scope="module")
def raw():
    images, labels = digits_module._load_raw()
    return images, labels


@pytest.fixture(scope="module")
def default_splits():
    return load_digits()


def _indices(seed=0, validation_fraction=0.15, test_fraction=0.15):
    sizes = digits_module._split_sizes(NUM_SAMPLES, validation_fraction, test_fraction)
    _, labels = digits_module._load_raw()
    return digits_module._split_indices(labels.astype(np.int32), sizes, seed)


# --- the shipped data ------------------------------------------------------


def test_shipped_file_hash_dtypes_and_contents(raw):
    resource = digits_module._data_file()
    data = resource.read_bytes()
    assert hashlib.sha256(data).hexdigest() == digits_module._SHA256
    assert len(data) < 64 * 1024  # small enough to ship in the wheel
    images, labels = raw
    assert images.dtype == np.uint8 and images.shape == (NUM_SAMPLES, 8, 8)
    assert labels.dtype == np.uint8 and labels.shape == (NUM_SAMPLES,)
    assert images.min() == 0 and images.max() == 16
    assert np.bincount(labels, minlength=10).tolist() == CLASS_COUNTS
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        assert sorted(arrays.files) == ["images", "labels"]


def test_shipped_arrays_equal_scikit_learn(raw):
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    digits = sklearn_datasets.load_digits()
    images, labels = raw
    np.testing.assert_array_equal(images.astype(np.float64), digits.images)
    np.testing.assert_array_equal(labels.astype(np.int64), digits.target)


def test_works_without_scikit_learn(monkeypatch, default_splits):
    # `None` in sys.modules makes every `import sklearn...` raise ImportError.
    for name in [name for name in sys.modules if name == "sklearn" or name.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError):
        import sklearn.datasets  # noqa: F401  (the patch works)
    splits = load_digits()
    for (images, labels), (images_ref, labels_ref) in zip(splits, default_splits):
        np.testing.assert_array_equal(images, images_ref)
        np.testing.assert_array_equal(labels, labels_ref)


def _real_bytes():
    return digits_module._data_file().read_bytes()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:],  # one byte flipped
        lambda data: b"",
    ],
    ids=["truncated", "flipped-byte", "empty"],
)
def test_damaged_file_raises_naming_it(monkeypatch, tmp_path, damage):
    path = tmp_path / "digits.npz"
    path.write_bytes(damage(_real_bytes()))
    monkeypatch.setattr(digits_module, "_data_file", lambda: path)
    with pytest.raises(ValueError, match=r"damaged") as info:
        load_digits()
    assert str(path) in str(info.value)
    assert digits_module._SHA256 in str(info.value)


def test_valid_npz_with_other_arrays_is_refused(monkeypatch, tmp_path, raw):
    images, labels = raw
    path = tmp_path / "digits.npz"
    np.savez_compressed(path, images=images, labels=(labels + 1) % 10)
    monkeypatch.setattr(digits_module, "_data_file", lambda: path)
    with pytest.raises(ValueError, match=r"digits\.npz is damaged"):
        load_digits()


def test_missing_file_raises_naming_it(monkeypatch, tmp_path):
    path = tmp_path / "digits.npz"
    monkeypatch.setattr(digits_module, "_data_file", lambda: path)
    with pytest.raises(FileNotFoundError, match=r"package_data") as info:
        load_digits()
    assert str(path) in str(info.value)


def test_loads_from_a_zip_like_a_wheel(monkeypatch, tmp_path, default_splits):
    # importlib.resources serves a package inside a zip (a zipped wheel,
    # zipimport) as zipfile.Path objects: read them the same way.
    wheel = tmp_path / "keras_vit_zoo-0-py3-none-any.zip"
    member = "keras_vit/data/digits.npz"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(member, _real_bytes())
    monkeypatch.setattr(digits_module, "_data_file", lambda: zipfile.Path(wheel, member))
    splits = load_digits()
    np.testing.assert_array_equal(splits.test[0], default_splits.test[0])

    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.writestr(member, _real_bytes()[:-1])
    monkeypatch.setattr(digits_module, "_data_file", lambda: zipfile.Path(damaged, member))
    with pytest.raises(ValueError, match=r"damaged\.zip.*keras_vit/data/digits\.npz is damaged"):
        load_digits()


# --- the arrays --------------------------------------------------------------


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


# --- the split ---------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 5])
def test_split_is_a_partition_and_returns_those_images(raw, seed):
    raw_images, raw_labels = raw
    indices = _indices(seed)
    merged = np.concatenate(indices)
    assert len(merged) == NUM_SAMPLES
    np.testing.assert_array_equal(np.sort(merged), np.arange(NUM_SAMPLES))  # disjoint, complete
    for first in range(3):
        for second in range(first + 1, 3):
            assert not set(indices[first].tolist()) & set(indices[second].tolist())
    splits = load_digits(image_size=8, channels=1, seed=seed)
    for split_indices, (images, labels) in zip(indices, splits):
        np.testing.assert_array_equal(labels, raw_labels[split_indices])
        # At the native size the images are the raw ones, scaled exactly.
        expected = (raw_images[split_indices] * (255.0 / 16.0)).astype(np.float32)
        np.testing.assert_array_equal(images[..., 0], expected)
        # Each split comes shuffled, not sorted by class.
        assert (np.diff(labels) < 0).any()


@pytest.mark.parametrize(
    "validation_fraction,test_fraction",
    [(0.15, 0.15), (0.1, 0.3), (0.3, 0.1), (0.05, 0.05), (0.45, 0.5), (0.0056, 0.0056)],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_split_sizes_and_stratification(raw, validation_fraction, test_fraction, seed):
    _, raw_labels = raw
    splits = load_digits(
        image_size=8,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    sizes = tuple(len(labels) for _, labels in splits)
    assert sizes == digits_module._split_sizes(NUM_SAMPLES, validation_fraction, test_fraction)
    assert sum(sizes) == NUM_SAMPLES
    assert abs(sizes[1] - validation_fraction * NUM_SAMPLES) <= 1
    assert abs(sizes[2] - test_fraction * NUM_SAMPLES) <= 1
    class_counts = np.bincount(raw_labels, minlength=10)
    for size, (_, labels) in zip(sizes, splits):
        counts = np.bincount(labels, minlength=10)
        assert (counts >= 1).all()  # every split holds every class
        proportional = class_counts * size / NUM_SAMPLES
        assert np.abs(counts - proportional).max() < 1, (size, counts, proportional)


def test_smallest_splits_hold_one_image_per_class():
    # 0.0053 of 1,797 images rounds up to 10: one image per class, exactly.
    sizes = digits_module._split_sizes(NUM_SAMPLES, 0.0053, 0.0053)
    assert sizes[1:] == (10, 10)
    splits = load_digits(image_size=8, validation_fraction=0.0053, test_fraction=0.0053)
    for _, labels in splits[1:]:
        assert sorted(labels.tolist()) == list(range(10))


@pytest.mark.parametrize(
    "class_counts,split_sizes",
    [
        (CLASS_COUNTS, (1257, 270, 270)),
        (CLASS_COUNTS, (1777, 10, 10)),
        ([8, 8, 8], (5, 8, 11)),  # the greedy pass gets stuck; an augmenting path fixes it
        ([3, 50, 7, 4, 20], (30, 29, 25)),
        ([10, 20], (30,)),
    ],
)
def test_allocate_meets_both_totals_within_one_image(class_counts, split_sizes):
    allocation = digits_module._allocate(class_counts, split_sizes)
    assert allocation.shape == (len(class_counts), len(split_sizes))
    np.testing.assert_array_equal(allocation.sum(axis=1), class_counts)
    np.testing.assert_array_equal(allocation.sum(axis=0), split_sizes)
    proportional = np.outer(class_counts, split_sizes) / sum(class_counts)
    assert np.abs(allocation - proportional).max() < 1
    assert (allocation >= 1).all()


def test_allocate_refuses_what_cannot_be_stratified():
    with pytest.raises(ValueError, match=r"do not add up"):
        digits_module._allocate([5, 5], (3, 3))
    # A class of one image cannot be in two splits.
    with pytest.raises(ValueError, match=r"Cannot divide"):
        digits_module._allocate([1, 9], (5, 5))


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
    # Different images, not just another order: the test sets differ as sets.
    indices_3, indices_4 = _indices(3), _indices(4)
    assert set(indices_3[2].tolist()) != set(indices_4[2].tolist())
    for split_3, split_4 in zip(indices_3, indices_4):
        assert len(set(split_3.tolist()) ^ set(split_4.tolist())) > len(split_3) // 2


def test_split_does_not_depend_on_image_size_or_channels():
    small = load_digits(image_size=8, channels=1, seed=9)
    large = load_digits(image_size=24, channels=3, seed=9)
    for (_, labels_small), (_, labels_large) in zip(small, large):
        np.testing.assert_array_equal(labels_small, labels_large)


def test_default_split_is_pinned():
    indices = np.concatenate(_indices(0)).astype("<i8")
    digest = hashlib.sha256(indices.tobytes()).hexdigest()
    assert digest == DEFAULT_SPLIT_SHA256, (
        "The default digits split (seed 0) changed; if that is intended "
        f"(a new split, or a NumPy Generator change), pin {digest}."
    )


# --- resizing ----------------------------------------------------------------


def test_upsampling_keeps_the_image_at_sample_positions():
    # With a 3x upsampling and half-pixel centres, output pixel 3k + 1 sits
    # exactly on input pixel k, so bilinear interpolation must return it.
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


# --- arguments ---------------------------------------------------------------


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
        ({"seed": 2**32}, ValueError, r"seed=4294967296"),
        ({"seed": 1.5}, TypeError, r"seed=1\.5"),
    ],
)
def test_bad_arguments_raise(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load_digits(**kwargs)


def test_numpy_integer_arguments_are_accepted():
    splits = load_digits(image_size=np.int64(16), channels=np.int32(1), seed=np.int64(2))
    assert splits.train[0].shape[1:] == (16, 16, 1)
    np.testing.assert_array_equal(splits.test[1], load_digits(image_size=8, seed=2).test[1])
