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


def write_bad_files(folder):
    """One file of garbage bytes named x.png and one PNG cut in half."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "x.png").write_bytes(b"\x00garbage, not a PNG" * 20)
    noise = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    PIL.fromarray(noise).save(folder / "truncated.png")
    data = (folder / "truncated.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])  # a download cut short
    return [str(folder / "truncated.png"), str(folder / "x.png")]


def test_undecodable_images_are_named_before_training(tmp_path):
    root = write_folder(tmp_path / "data")
    bad = write_bad_files(root / "dark")
    with pytest.raises(ValueError, match="2 of the 14 images") as error:
        load_image_folder(root, batch_size=4, image_size=8, training=True)
    message = str(error.value)
    for path in bad:
        assert path in message
    assert "Unknown image file format" in message and "Invalid PNG data" in message
    assert "bad_images='skip'" in message


def test_undecodable_images_can_be_skipped_with_a_warning_each(tmp_path):
    root = write_folder(tmp_path / "data", per_class=10)
    bad = write_bad_files(root / "dark")
    with pytest.warns(UserWarning) as caught:
        dataset, class_names = load_image_folder(root, batch_size=32, image_size=8, bad_images="skip")
    warned = [str(w.message) for w in caught if "Skipping" in str(w.message)]
    assert sorted(w.split(":")[0].removeprefix("Skipping ") for w in warned) == bad
    labels = np.concatenate([y.numpy() for _, y in dataset])
    assert labels.sum(0).tolist() == [10, 10]  # every good image, and nothing else
    # The split divides the 20 good files as before: 5 for validation, disjoint.
    subsets = {}
    for subset in ("training", "validation"):
        with pytest.warns(UserWarning, match="Skipping"):
            data, _ = load_image_folder(root, batch_size=32, image_size=8, validation_split=0.25,
                                        subset=subset, seed=1, bad_images="skip", preprocessing=None)
        subsets[subset] = np.concatenate([x.numpy() for x, _ in data])
    assert len(subsets["training"]) == 15 and len(subsets["validation"]) == 5


def test_the_check_can_be_turned_off_and_then_training_fails_on_read(tmp_path):
    tf = pytest.importorskip("tensorflow")
    root = write_folder(tmp_path / "data")
    write_bad_files(root / "dark")
    dataset, _ = load_image_folder(root, batch_size=4, image_size=8, bad_images="unchecked")
    with pytest.raises(tf.errors.InvalidArgumentError):
        list(dataset)
    with pytest.raises(ValueError, match="bad_images"):
        load_image_folder(root, bad_images="ignore")


def test_folders_without_images_are_named(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"No class subfolders in '{empty}'"):
        load_image_folder(empty)
    (empty / "cats").mkdir()
    (empty / "cats" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=f"No images in the class folders of '{empty}'"):
        load_image_folder(empty)


def test_split_arguments_are_checked(tmp_path):
    root = write_folder(tmp_path / "data", per_class=2)
    with pytest.raises(ValueError, match="subset"):
        load_image_folder(root, validation_split=0.5)
    with pytest.raises(ValueError, match="validation_split"):
        load_image_folder(root, subset="training")
    with pytest.raises(ValueError, match="seed"):
        load_image_folder(root, validation_split=0.5, subset="training", seed=None)
    with pytest.raises(ValueError, match="leaves 0 for validation"):
        load_image_folder(root, validation_split=0.1, subset="validation")
