"""`load_tfds` against tfds's mock data: nothing is downloaded."""

import numpy as np
import pytest

from keras_vit.data import load_tfds

pytestmark = pytest.mark.backend_independent

tfds = pytest.importorskip("tensorflow_datasets")


def test_loads_batches_with_vit_preprocessing():
    with tfds.testing.mock_data(num_examples=10):
        train, info = load_tfds("cifar10", split="train", batch_size=4, image_size=16, seed=0)
        test, _ = load_tfds("cifar10", split="test", batch_size=4, image_size=16)
        train_batches, test_batches = list(train), list(test)
    assert info.features["label"].num_classes == 10
    assert [int(x.shape[0]) for x, _ in train_batches] == [4, 4]  # training drops the remainder
    assert [int(x.shape[0]) for x, _ in test_batches] == [4, 4, 2]  # evaluation keeps every example
    for images, labels in train_batches + test_batches:
        assert tuple(images.shape[1:]) == (16, 16, 3) and tuple(labels.shape[1:]) == (10,)
        assert images.numpy().min() >= -1.0 - 1e-5 and images.numpy().max() <= 1.0 + 1e-5
        np.testing.assert_allclose(labels.numpy().sum(-1), 1.0)


def test_grayscale_datasets_become_rgb():
    with tfds.testing.mock_data(num_examples=4):
        dataset, _ = load_tfds("mnist", split="test", batch_size=4, image_size=8)
        (images, _), = list(dataset)
    assert tuple(images.shape) == (4, 8, 8, 3)


def test_a_failed_download_says_how_to_supply_the_data(monkeypatch, tmp_path):
    def offline(self, *args, **kwargs):
        raise ConnectionError("Failed to establish a new connection: network is unreachable")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    with pytest.raises(RuntimeError) as error:
        load_tfds("mnist", data_dir=str(tmp_path))
    message = str(error.value)
    assert "'mnist'" in message and str(tmp_path) in message
    assert "tfds build mnist --data_dir DIR" in message and "data_dir=DIR" in message
    assert isinstance(error.value.__cause__, ConnectionError)


def test_without_download_a_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not prepared.*tfds build mnist"):
        load_tfds("mnist", data_dir=str(tmp_path), download=False)


def test_unknown_names():
    with pytest.raises(ValueError, match="Unknown tfds dataset `name`='no_such_dataset'"):
        load_tfds("no_such_dataset")
    with pytest.raises(ValueError, match="name"):
        load_tfds("")


def test_seeded_training_reads_the_files_in_a_seeded_order_and_repeats(monkeypatch):
    from keras_vit.augmentation import image_augmentation, label_mixing

    calls = []
    with tfds.testing.mock_data(num_examples=16):
        mocked = tfds.core.DatasetBuilder.as_dataset

        def spy(self, *args, **kwargs):
            calls.append(kwargs)
            return mocked(self, *args, **kwargs)

        monkeypatch.setattr(tfds.core.DatasetBuilder, "as_dataset", spy)

        def batches():
            dataset, _ = load_tfds("cifar10", split="train", batch_size=4, image_size=16, seed=3,
                                   augmentation=image_augmentation(seed=0), mixing=label_mixing(seed=1))
            return [(x.numpy(), y.numpy()) for x, y in dataset]

        first, second = batches(), batches()
        load_tfds("cifar10", split="test", batch_size=4, image_size=16, seed=3)
    # training=None on a "train" split means training: files shuffled, with the seed.
    assert [(c["shuffle_files"], c["read_config"] and c["read_config"].shuffle_seed) for c in calls] == [
        (True, 3), (True, 3), (False, None)]
    for (x, y), (x2, y2) in zip(first, second):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
