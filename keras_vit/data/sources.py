"""One loader for every data source, named by a string: `"digits"`,
`"tfds:NAME"` or `"folder:PATH"`."""

import os
from typing import Any, NamedTuple, Tuple

from keras_vit._choices import SOURCE_FORMS
from keras_vit._validation import check_pair
from keras_vit.data.digits import load_digits
from keras_vit.data.image_folder import IMAGE_EXTENSIONS, load_image_folder
from keras_vit.data.pipeline import make_dataset
from keras_vit.data.tfds import load_tfds

# The tfds splits used when none are given: 10% of "train" for validation.
TFDS_SPLITS = ("train[:90%]", "train[90%:]", "test")
# A folder without a val/ (or validation/) subfolder: this fraction of
# train/ is held out for validation.
FOLDER_VALIDATION_SPLIT = 0.1
_FOLDER_VALIDATION_NAMES = ("val", "validation")


class DatasetSplits(NamedTuple):
    """The three splits `load_dataset` returns, and the class names.

    Each split is a batched `tf.data.Dataset` of `(images, one_hot_labels)`
    (float32; images preprocessed), whatever the source; the training split
    is shuffled, augmented and mixed. It unpacks as
    `train, validation, test, class_names = splits`.

    Attributes:
        train: `tf.data.Dataset`. The training batches (full batches only,
            unless `drop_remainder=False`).
        validation: `tf.data.Dataset`. The validation batches.
        test: `tf.data.Dataset`. The test batches.
        class_names: tuple of str. The name of each label index.
    """

    train: Any
    validation: Any
    test: Any
    class_names: Tuple[str, ...]

    @property
    def num_classes(self):
        """The number of classes, `len(class_names)`."""
        return len(self.class_names)


def _forms():
    return ", ".join(repr(form) for form in SOURCE_FORMS)


def parse_source(source):
    """Splits a data source string into `(kind, target)`: `("digits", "")`,
    `("tfds", NAME)` or `("folder", PATH)`.

    Raises:
        ValueError: `source` has none of the forms `SOURCE_FORMS` lists.
    """
    if isinstance(source, str):
        kind, colon, target = source.partition(":")
        if source == "digits" or (kind in ("tfds", "folder") and colon and target):
            return kind, target
    raise ValueError(f"`source` must be one of the forms {_forms()}. Received: source={source!r}")


def default_image_size(source):
    """The resolution `load_dataset` uses when none is given: 32 for the
    8x8 digits, 224 otherwise."""
    return 32 if parse_source(source)[0] == "digits" else 224


def _folder_problems(root):
    """What a `folder:` source lacks, found without decoding anything."""
    if not os.path.isdir(root):
        return ["no such directory"]
    problems = []
    for split in ("train", "test"):
        folder = os.path.join(root, split)
        if not os.path.isdir(folder):
            problems.append(f"needs {folder}/<class>/<images>")
            continue
        classes = [entry for entry in os.scandir(folder) if entry.is_dir()]
        if not any(os.path.splitext(file.name)[1].lower() in IMAGE_EXTENSIONS
                   for entry in classes for file in os.scandir(entry.path) if file.is_file()):
            problems.append(f"{folder} has no class folders with images ({', '.join(IMAGE_EXTENSIONS)})")
    return problems


def source_problems(source):
    """What is wrong with a data source, found before any work: its form,
    and for a folder whether `train/` and `test/` hold class folders with
    images (nothing is decoded). Returns a list of reasons, empty if none."""
    try:
        kind, target = parse_source(source)
    except ValueError:
        return [f"must be one of the forms {_forms()}"]
    return _folder_problems(target) if kind == "folder" else []


def load_dataset(
    source,
    image_size=None,
    batch_size=64,
    augmentation=None,
    mixing=None,
    preprocessing="vit",
    drop_remainder=None,
    seed=0,
    splits=None,
    data_dir=None,
    bad_images=None,
):
    """Loads a training, validation and test split from any source.

    The source is a string:

    - `"digits"`: the 8x8 handwritten digits bundled with keras_vit
      (`load_digits`: 1,797 images, 10 classes, stratified 70/15/15 split
      by `seed`), upsampled to `image_size`; works offline.
    - `"tfds:NAME"`: a TensorFlow Datasets image classification dataset
      (`load_tfds`), e.g. `"tfds:cifar10"`; `splits` names the three tfds
      splits, and `data_dir` where the prepared data lives.
    - `"folder:PATH"`: images in class folders (`load_image_folder`):
      `PATH/train/<class>/...` and `PATH/test/<class>/...`, and
      `PATH/val/<class>/...` (or `validation/`) if there is one; without it
      10% of `train/` (`FOLDER_VALIDATION_SPLIT`, divided by `seed`) is
      held out for validation.

    Every source goes through the same `make_dataset` pipeline, so the
    splits have one type whatever the source: batched `tf.data` datasets
    of `(images, one_hot_labels)`, RGB, resized, preprocessed; the training
    split shuffled, augmented and mixed (the others not).

    Args:
        source: str. `"digits"`, `"tfds:NAME"` or `"folder:PATH"`.
        image_size: int, pair or None. Resolution of the images; None gives
            32 for digits and 224 otherwise (`default_image_size`). Digits
            need a square size of at least 8.
        batch_size: int. Batch size of every split (the global batch under
            a distribution: `keras_vit.distribute.global_batch_size`).
        augmentation: per-image layer for the training split (see
            `make_dataset`), or None.
        mixing: batch-level MixUp/CutMix layer for the training split, or
            None.
        preprocessing: `"vit"`, `"imagenet"`, `"unit"`, `"clip"`,
            `"siglip"` or None (see `keras_vit.preprocess_input`).
        drop_remainder: bool or None. Drop incomplete batches in every split
            (True: static shapes, for TPUs); None drops them in training
            only.
        seed: int. Seed of the split (digits, folders without `val/`), the
            shuffle and the augmentation draws.
        splits: tuple of 3 str or None. `"tfds:"` only: the tfds splits for
            training, validation and test; None uses `TFDS_SPLITS`.
        data_dir: str or None. `"tfds:"` only: where the prepared dataset
            lives (default `~/tensorflow_datasets`).
        bad_images: str or None. `"folder:"` only: `"raise"` (None's
            meaning), `"skip"` or `"unchecked"`, as `load_image_folder`
            takes it.

    Returns:
        A `DatasetSplits`: `train`, `validation` and `test` datasets,
        `class_names` (a tuple) and the `num_classes` property.

    Raises:
        ValueError: a malformed `source`, an option that does not apply to
            it, or what the source's loader refuses (missing folders,
            undecodable images, an unknown tfds name).

    Example:
    >>> splits = load_dataset("digits", image_size=16, batch_size=32)
    >>> splits.num_classes, splits.class_names[:3]
    (10, ('0', '1', '2'))
    >>> images, labels = next(iter(splits.train))
    >>> tuple(images.shape), tuple(labels.shape)
    ((32, 16, 16, 3), (32, 10))
    """
    kind, target = parse_source(source)
    for name, value, applies_to in (("splits", splits, "tfds"), ("data_dir", data_dir, "tfds"),
                                    ("bad_images", bad_images, "folder")):
        if value is not None and kind != applies_to:
            raise ValueError(
                f"`{name}` applies to {applies_to}: sources only. Received: {name}={value!r} with source={source!r}"
            )
    problems = source_problems(source)
    if problems:
        raise ValueError(f"`source`={source!r}: {'; '.join(problems)}")
    size = check_pair("image_size", default_image_size(source) if image_size is None else image_size)
    common = dict(batch_size=batch_size, augmentation=augmentation, mixing=mixing, preprocessing=preprocessing,
                  drop_remainder=drop_remainder, seed=seed)
    if kind == "digits":
        if size[0] != size[1]:
            raise ValueError(f"The digits are square: `image_size` must be one int. Received: image_size={image_size!r}")
        arrays = load_digits(image_size=size[0], channels=3, seed=seed)
        class_names = tuple(arrays.class_names)
        train, validation, test = (
            make_dataset(split, classes=len(class_names), training=training, **common)
            for split, training in zip(arrays, (True, False, False))
        )
        return DatasetSplits(train, validation, test, class_names)
    if kind == "tfds":
        splits = TFDS_SPLITS if splits is None else splits
        if not (isinstance(splits, (tuple, list)) and len(splits) == 3 and all(isinstance(s, str) for s in splits)):
            raise ValueError(
                f"`splits` must be 3 tfds split names (training, validation, test). Received: splits={splits!r}"
            )
        datasets = []
        for split, training in zip(splits, (True, False, False)):
            dataset, info = load_tfds(target, split=split, data_dir=data_dir, image_size=size, training=training,
                                      **common)
            datasets.append(dataset)
        class_names = tuple(info.features["label"].names)
        return DatasetSplits(*datasets, class_names)
    common["bad_images"] = "raise" if bad_images is None else bad_images
    train_dir, test_dir = os.path.join(target, "train"), os.path.join(target, "test")
    val_dir = next((os.path.join(target, name) for name in _FOLDER_VALIDATION_NAMES
                    if os.path.isdir(os.path.join(target, name))), None)
    if val_dir is not None:
        train, class_names = load_image_folder(train_dir, image_size=size, training=True, **common)
        validation, validation_names = load_image_folder(val_dir, image_size=size, **common)
    else:
        held_out = dict(validation_split=FOLDER_VALIDATION_SPLIT, **common)
        train, class_names = load_image_folder(train_dir, image_size=size, training=True, subset="training",
                                               **held_out)
        validation, validation_names = load_image_folder(train_dir, image_size=size, subset="validation",
                                                         **held_out)
    test, test_names = load_image_folder(test_dir, image_size=size, **common)
    # Labels are indices into the sorted class folders: another set of
    # folders would silently give the same index to other classes.
    for folder, names in ((val_dir, validation_names), (test_dir, test_names)):
        if folder is not None and names != class_names:
            raise ValueError(
                f"{folder} has the class folders {names}, {train_dir} has {class_names}: every split "
                "needs the same class folders (labels are their indices)."
            )
    return DatasetSplits(train, validation, test, tuple(class_names))
