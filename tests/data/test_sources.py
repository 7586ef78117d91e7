"""`load_dataset`: every source by name, one return type."""

import numpy as np
import pytest

from keras_vit.data import DatasetSplits, load_dataset
from keras_vit.data.sources import TFDS_SPLITS, default_image_size, parse_source, source_problems

tf = pytest.importorskip("tensorflow")  # the tf.data pipeline; it feeds fit on any backend


def _batches(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def _check_splits(splits, image_size, num_classes, batch_size):
    assert isinstance(splits, DatasetSplits) and splits.num_classes == num_classes
    assert isinstance(splits.class_names, tuple) and len(splits.class_names) == num_classes
    for split in (splits.train, splits.validation, splits.test):
        assert isinstance(split, tf.data.Dataset)
        assert tuple(split.element_spec[0].shape[1:]) == (*image_size, 3)
        assert tuple(split.element_spec[1].shape[1:]) == (num_classes,)
    train = _batches(splits.train)
    assert train and all(x.shape[0] == batch_size for x, _ in train)  # training keeps full batches only


def test_digits_with_every_default():
    splits = load_dataset("digits")  # 32 px, batches of 64, seed 0, vit preprocessing
    _check_splits(splits, (32, 32), 10, 64)
    assert len(_batches(splits.train)) == 1257 // 64
    images = np.concatenate([x for x, _ in _batches(splits.test)])
    assert images.shape == (270, 32, 32, 3) and -1.0 <= images.min() and images.max() <= 1.0


def test_digits():
    splits = load_dataset("digits", image_size=16, batch_size=32, seed=0)
    _check_splits(splits, (16, 16), 10, 32)
    assert splits.class_names == tuple(str(digit) for digit in range(10))
    # Unpacks as train, validation, test, class_names; every image of the
    # evaluation splits is kept.
    train, validation, test, class_names = splits
    assert sum(len(y) for _, y in _batches(validation)) == 270 and sum(len(y) for _, y in _batches(test)) == 270
    assert len(_batches(train)) == 1257 // 32
    images = np.concatenate([x for x, _ in _batches(test)])
    assert images.min() >= -1.0 - 1e-5 and images.max() <= 1.0 + 1e-5  # "vit" preprocessing
    assert default_image_size("digits") == 32


def test_digits_need_a_square_size():
    with pytest.raises(ValueError, match="square"):
        load_dataset("digits", image_size=(16, 24))


@pytest.mark.parametrize("source", ["imagenet", "tfds:", "folder:", "tfds", "", None, 3, "digits:x"])
def test_a_malformed_source_is_refused_before_any_work(source):
    with pytest.raises(ValueError) as error:
        load_dataset(source)
    message = str(error.value)
    assert "`source`" in message and repr(source) in message
    for form in ("'digits'", "'tfds:NAME'", "'folder:PATH'"):
        assert form in message
    assert source_problems(source) and "must be one of the forms" in source_problems(source)[0]


def test_sources_parse():
    assert parse_source("digits") == ("digits", "")
    assert parse_source("tfds:imagenette/320px-v2") == ("tfds", "imagenette/320px-v2")
    assert parse_source("folder:C:/data") == ("folder", "C:/data")
    assert source_problems("digits") == [] and source_problems("tfds:cifar10") == []


def test_options_of_other_sources_are_refused():
    with pytest.raises(ValueError, match="`splits` applies to tfds"):
        load_dataset("digits", splits=("train", "test", "test"))
    with pytest.raises(ValueError, match="`bad_images` applies to folder"):
        load_dataset("digits", bad_images="skip")
    with pytest.raises(ValueError, match="`data_dir` applies to tfds"):
        load_dataset("folder:/nowhere", data_dir="/tmp")


def test_tfds():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=20):
        splits = load_dataset("tfds:cifar10", image_size=8, batch_size=4, splits=("train", "test", "test"))
        _check_splits(splits, (8, 8), 10, 4)
        assert all(isinstance(name, str) for name in splits.class_names)  # the ClassLabel's names
        assert sum(len(y) for _, y in _batches(splits.test)) == 20
        assert default_image_size("tfds:cifar10") == 224
        with pytest.raises(ValueError, match="3 tfds split names"):
            load_dataset("tfds:cifar10", splits="train")
    assert TFDS_SPLITS == ("train[:90%]", "train[90%:]", "test")


def _write_images(root, splits, per_class):
    image = pytest.importorskip("PIL.Image")
    for split in splits:
        for name, value in (("dark", 20), ("bright", 235)):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                image.fromarray(np.full((10, 12, 3), value, np.uint8)).save(root / split / name / f"{i}.png")


def test_folder_with_and_without_a_validation_folder(tmp_path):
    _write_images(tmp_path / "held_out", ("train", "test"), per_class=10)
    splits = load_dataset(f"folder:{tmp_path / 'held_out'}", image_size=8, batch_size=4, seed=1)
    _check_splits(splits, (8, 8), 2, 4)
    assert splits.class_names == ("bright", "dark")
    assert sum(len(y) for _, y in _batches(splits.validation)) == 2  # 10% of the 20 training images
    assert sum(len(y) for _, y in _batches(splits.test)) == 20
    _write_images(tmp_path / "own", ("train", "val", "test"), per_class=3)
    splits = load_dataset(f"folder:{tmp_path / 'own'}", image_size=(8, 6), batch_size=2)
    _check_splits(splits, (8, 6), 2, 2)
    assert sum(len(y) for _, y in _batches(splits.validation)) == 6


def test_folder_problems_are_named_before_loading(tmp_path):
    with pytest.raises(ValueError, match="no such directory"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}")
    (tmp_path / "empty" / "train" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"has no class folders with images.*; needs .*test"):
        load_dataset(f"folder:{tmp_path / 'empty'}")


def test_folder_splits_need_the_same_classes(tmp_path):
    _write_images(tmp_path / "data", ("train", "test"), per_class=10)
    (tmp_path / "data" / "test" / "other").mkdir()
    pytest.importorskip("PIL.Image").fromarray(np.zeros((4, 4, 3), np.uint8)).save(
        tmp_path / "data" / "test" / "other" / "0.png")
    with pytest.raises(ValueError, match="every split needs the same class folders"):
        load_dataset(f"folder:{tmp_path / 'data'}", image_size=8, batch_size=2)
