"""Loading images stored as one folder per class."""

import os
import re
import warnings

import numpy as np

from keras_vit._choices import BAD_IMAGE_CHOICES
from keras_vit.data.pipeline import _tf, make_dataset

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
SUBSETS = ("training", "validation")
_PROGRESS_FROM = 1000  # folders with at least this many images get a progress bar
_MAX_LISTED = 20  # bad files named in one error message

# (absolute path, size, modification time) -> None if the file decodes, else
# the decoder's message; a folder indexed twice (training and validation
# subsets) is checked once per process.
_checked = {}


def _index(directory):
    """Sorted class folders and their image files, as `image_dataset_from_directory` lists them."""
    class_names = sorted(
        name for name in os.listdir(directory)
        if not name.startswith(".") and os.path.isdir(os.path.join(directory, name))
    )
    paths, labels = [], []
    for label, name in enumerate(class_names):
        # Nested folders count too; every level in sorted order.
        for root, _, files in sorted(os.walk(os.path.join(directory, name)), key=lambda entry: entry[0]):
            for file in sorted(files):
                if file.lower().endswith(IMAGE_EXTENSIONS):
                    paths.append(os.path.join(root, file))
                    labels.append(label)
    return class_names, paths, labels


def _decode(tf, path):
    # What the pipeline runs on every file: a check that passes here cannot
    # fail there.
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def _short_message(error):
    message = getattr(error, "message", str(error))
    message = re.sub(r"\{\{.*?\}\}\s*", "", message)
    message = re.sub(r"\s*\[Op:.*$", "", message, flags=re.S)
    return message.strip().splitlines()[0] if message.strip() else type(error).__name__


def _file_key(path):
    stat = os.stat(path)
    return os.path.abspath(path), stat.st_size, stat.st_mtime_ns


def _find_bad_images(paths, directory):
    """Returns `{path: reason}` for the files TensorFlow cannot decode."""
    tf = _tf()
    keys = [_file_key(path) for path in paths]
    todo = [i for i, key in enumerate(keys) if key not in _checked]
    if todo:
        progress = None
        if len(todo) >= _PROGRESS_FROM:
            import keras

            print(f"Checking that {len(todo)} images in {directory} decode")
            progress = keras.utils.Progbar(len(todo), unit_name="image")
        indices = tf.constant(todo, dtype="int64")
        files = tf.constant([paths[i] for i in todo])
        decoded = (
            tf.data.Dataset.from_tensor_slices((indices, files))
            .map(lambda i, path: (i, tf.shape(_decode(tf, path))[0]), num_parallel_calls=tf.data.AUTOTUNE,
                 deterministic=False)
            .ignore_errors()  # a file that fails to decode is dropped: what is missing is bad
        )
        good = set()
        for count, (index, _) in enumerate(decoded.as_numpy_iterator(), 1):
            good.add(int(index))
            if progress is not None and count % 100 == 0 and count < len(todo):
                progress.update(count)
        if progress is not None:
            progress.update(len(todo), finalize=True)
        for i in todo:
            reason = None
            if i not in good:
                try:  # once more, alone, for the decoder's message
                    _decode(tf, paths[i])
                    reason = "could not be decoded"
                except Exception as error:  # noqa: BLE001 - any failure marks the file bad
                    reason = _short_message(error)
            _checked[keys[i]] = reason
    return {path: _checked[key] for path, key in zip(paths, keys) if _checked[key] is not None}


def _check_arguments(validation_split, subset, seed, bad_images):
    if bad_images not in BAD_IMAGE_CHOICES:
        raise ValueError(f"`bad_images` must be one of {BAD_IMAGE_CHOICES}. Received: bad_images={bad_images!r}")
    if validation_split is None:
        if subset is not None:
            raise ValueError(f"`subset` needs a `validation_split`. Received: subset={subset!r}, validation_split=None")
        return
    if isinstance(validation_split, bool) or not isinstance(validation_split, float) or not 0 < validation_split < 1:
        raise ValueError(
            f"`validation_split` must be a float in (0, 1). Received: validation_split={validation_split!r}"
        )
    if subset not in SUBSETS:
        raise ValueError(
            f"`subset` must be one of {SUBSETS} with a `validation_split`. Received: subset={subset!r}"
        )
    if seed is None:
        raise ValueError(
            "`validation_split` needs an integer `seed`, so the training and validation subsets "
            "divide the files the same way. Received: seed=None"
        )


def load_image_folder(
    directory,
    batch_size=64,
    image_size=224,
    training=False,
    validation_split=None,
    subset=None,
    augmentation=None,
    mixing=None,
    preprocessing="vit",
    drop_remainder=None,
    shuffle_buffer=10_000,
    seed=0,
    bad_images="raise",
):
    """Loads images from `directory/<class name>/*.{jpg,png,bmp,gif}`.

    The files are indexed the way `keras.utils.image_dataset_from_directory`
    does: class indices follow the sorted class folder names (hidden ones
    skipped), each class folder is searched recursively for files ending in
    `.bmp`, `.gif`, `.jpeg`, `.jpg` or `.png` (any case), in sorted order.
    Before anything is returned, **every file is decoded once** (in
    parallel, with a progress bar from 1,000 files on; a folder loaded again
    in the same process is not checked again unless its files changed), so
    a corrupt or truncated image fails here, with its name, instead of
    stopping training mid-epoch. Images are decoded to RGB, resized
    (bilinear) to `image_size`, then batched through
    `keras_vit.data.make_dataset` like every other source (augmentation and
    mixing in training, scaling, prefetch). In training the file list is
    shuffled whole every epoch (seeded), before decoding. This is the way to
    train on data you have as files: a Kaggle dataset, an export from tfds,
    your own photos.

    Args:
        directory: str or path. Folder with one subfolder per class.
        batch_size: int.
        image_size: int or pair. Images are resized to it on loading.
        training: bool. Shuffle, augment and mix.
        validation_split: float in (0, 1) or None. Hold out this fraction of
            the files (rounded down) as the validation subset: the files are
            permuted with `numpy.random.RandomState(seed)` and the last
            `int(validation_split * count)` go to validation, the same
            division as `image_dataset_from_directory`'s. Skipped bad files
            are left out before dividing.
        subset: `"training"` or `"validation"`, with `validation_split`.
        augmentation: per-image layer (see `make_dataset`).
        mixing: batch-level MixUp/CutMix layer (see `make_dataset`).
        preprocessing: `"vit"`, `"imagenet"`, `"unit"` or None.
        drop_remainder: bool or None. Defaults to `training`.
        shuffle_buffer: int. Kept for compatibility: the shuffle is over file
            names, which are cheap to hold, so the whole list is shuffled.
        seed: int. Seed of the file split, the shuffle and the augmentation
            draws (see `make_dataset`).
        bad_images: what to do with files that do not decode: `"raise"`
            (default) raises a `ValueError` naming each of them and the
            decoder's reason; `"skip"` leaves them out with a warning naming
            each; `"unchecked"` skips the check (a bad file then stops
            training when it is read).

    Returns:
        A tuple `(dataset, class_names)`: the batched `tf.data.Dataset` of
        `(images, one_hot_labels)` and the list of class names.

    Raises:
        FileNotFoundError: `directory` does not exist.
        ValueError: no class subfolders, no images in them, files that do
            not decode (with `bad_images="raise"`), a validation subset that
            would be empty, or inconsistent arguments.

    Example:
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name, value in (("cat", 0), ("dog", 255)):
    ...     (root / name).mkdir()
    ...     for i in range(3):
    ...         Image.fromarray(np.full((12, 12, 3), value, np.uint8)).save(root / name / f"{i}.png")
    >>> dataset, class_names = load_image_folder(root, batch_size=4, image_size=8)
    >>> class_names, [tuple(x.shape) for x, _ in dataset]
    (['cat', 'dog'], [(4, 8, 8, 3), (2, 8, 8, 3)])
    """
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"`directory` does not exist or is not a folder: {str(directory)!r}")
    _check_arguments(validation_split, subset, seed, bad_images)
    directory = str(directory)
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    class_names, paths, labels = _index(directory)
    if not class_names:
        raise ValueError(
            f"No class subfolders in {directory!r}: images must be in {directory}/<class name>/."
        )
    if not paths:
        raise ValueError(
            f"No images in the class folders of {directory!r} ({', '.join(class_names[:5])}"
            f"{', ...' if len(class_names) > 5 else ''}): looked for files ending in {', '.join(IMAGE_EXTENSIONS)}."
        )
    if bad_images != "unchecked":
        bad = _find_bad_images(paths, directory)
        if bad and bad_images == "raise":
            listed = "\n".join(f"  {path}: {reason}" for path, reason in list(bad.items())[:_MAX_LISTED])
            more = f"\n  ... and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
            raise ValueError(
                f"{len(bad)} of the {len(paths)} images in {directory!r} cannot be decoded:\n{listed}{more}\n"
                "Remove or replace them, or pass bad_images='skip' to leave them out."
            )
        for path, reason in bad.items():
            warnings.warn(f"Skipping {path}: it cannot be decoded ({reason}).", stacklevel=2)
        if bad:
            kept = [i for i, path in enumerate(paths) if path not in bad]
            paths = [paths[i] for i in kept]
            labels = [labels[i] for i in kept]
            if not paths:
                raise ValueError(f"None of the images in {directory!r} can be decoded.")
    if validation_split is not None:
        order = np.random.RandomState(seed).permutation(len(paths))
        paths = [paths[i] for i in order]
        labels = [labels[i] for i in order]
        num_validation = int(validation_split * len(paths))
        if num_validation == 0 or num_validation == len(paths):
            raise ValueError(
                f"validation_split={validation_split!r} of the {len(paths)} images in {directory!r} leaves "
                f"{num_validation} for validation and {len(paths) - num_validation} for training; both need one."
            )
        cut = len(paths) - num_validation
        paths, labels = (paths[:cut], labels[:cut]) if subset == "training" else (paths[cut:], labels[cut:])

    tf = _tf()
    files = tf.data.Dataset.from_tensor_slices((tf.constant(paths), tf.constant(labels, dtype="int32")))
    training = bool(training)
    if training:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)

    def load(path, label):
        image = tf.image.resize(_decode(tf, path), size, method="bilinear")
        image.set_shape((size[0], size[1], 3))
        return image, label

    dataset = make_dataset(
        files.map(load, num_parallel_calls=tf.data.AUTOTUNE),
        batch_size=batch_size,
        classes=len(class_names),
        training=training,
        augmentation=augmentation,
        mixing=mixing,
        preprocessing=preprocessing,
        shuffle=False,  # shuffled above, as file names
        drop_remainder=drop_remainder,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
    )
    return dataset, class_names
