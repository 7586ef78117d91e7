import numpy as np
import pytest

from keras_vit.data import load_image_folder

pytestmark = pytest.mark.backend_independent

pytest.importorskip("tensorflow")
PIL = pytest.importorskip("PIL.Image")


def write_folder(root, per_class=6):
    """Class 'bright' images are white, 'dark' ones black: labels are visible in the pixels."""
    for name, value in (("dark", 0), ("bright", 255)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            PIL.fromarray(np.full((10, 12, 3), value, np.uint8)).save(root / name / f"{i}.png")
    (root / "bright" / "notes.txt").write_text("not an image")
    return root


def test_labels_follow_the_sorted_folders(tmp_path):
    root = write_folder(tmp_path / "data")
    dataset, class_names = load_image_folder(root, batch_size=4, image_size=8)
    assert class_names == ["bright", "dark"]
    images = np.concatenate([x.numpy() for x, _ in dataset])
    labels = np.concatenate([y.numpy() for _, y in dataset])
    assert images.shape == (12, 8, 8, 3) and labels.shape == (12, 2)
    bright = images.mean(axis=(1, 2, 3)) > 0  # white -> 1.0, black -> -1.0 after "vit" scaling
    np.testing.assert_array_equal(labels.argmax(-1), np.where(bright, 0, 1))


def test_validation_split_is_disjoint_and_training_drops_the_remainder(tmp_path):
    root = write_folder(tmp_path / "data", per_class=10)
    train, _ = load_image_folder(root, batch_size=4, image_size=8, training=True, validation_split=0.25,
                                 subset="training", seed=1)
    validation, _ = load_image_folder(root, batch_size=4, image_size=8, validation_split=0.25,
                                      subset="validation", seed=1)
    assert sum(int(x.shape[0]) for x, _ in validation) == 5
    assert [int(x.shape[0]) for x, _ in train] == [4, 4, 4]  # 15 images, remainder dropped


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="directory"):
        load_image_folder(tmp_path / "nowhere")
