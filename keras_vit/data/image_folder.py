"""Loading images stored as one folder per class."""

import os

from keras_vit.data.pipeline import make_dataset


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
):
    """Loads images from `directory/<class name>/*.{jpg,png,bmp,gif}`.

    Files are listed and decoded by `keras.utils.image_dataset_from_directory`
    (class indices follow the sorted folder names), resized to `image_size`,
    then batched through `keras_vit.data.make_dataset` like every other
    source (augmentation and mixing in training, scaling, prefetch). This is
    the way to train on data you have as files: a Kaggle dataset, an export
    from tfds, your own photos.

    Args:
        directory: str or path. Folder with one subfolder per class.
        batch_size: int.
        image_size: int or pair. Images are resized to it on loading.
        training: bool. Shuffle, augment and mix.
        validation_split: float in (0, 1) or None. Hold out this fraction of
            the files (a fixed split for a given `seed`).
        subset: `"training"` or `"validation"` with `validation_split`.
        augmentation: per-image layer (see `make_dataset`).
        mixing: batch-level MixUp/CutMix layer (see `make_dataset`).
        preprocessing: `"vit"`, `"imagenet"`, `"unit"` or None.
        drop_remainder: bool or None. Defaults to `training`.
        shuffle_buffer: int.
        seed: int. Seed of the file split and the shuffle.

    Returns:
        A tuple `(dataset, class_names)`: the batched `tf.data.Dataset` of
        `(images, one_hot_labels)` and the list of class names.

    Raises:
        FileNotFoundError: `directory` does not exist.
        ValueError: no class subfolders with images.
    """
    import keras

    if not os.path.isdir(directory):
        raise FileNotFoundError(f"`directory` does not exist or is not a folder: {str(directory)!r}")
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    files = keras.utils.image_dataset_from_directory(
        directory,
        labels="inferred",
        label_mode="int",
        batch_size=None,
        image_size=size,
        shuffle=validation_split is not None,  # the split itself needs a shuffled file order
        seed=seed,
        validation_split=validation_split,
        subset=subset,
        verbose=False,
    )
    class_names = list(files.class_names)
    if not class_names:
        raise ValueError(f"No class subfolders with images in {str(directory)!r}.")
    dataset = make_dataset(
        files,
        batch_size=batch_size,
        num_classes=len(class_names),
        training=training,
        augmentation=augmentation,
        mixing=mixing,
        preprocessing=preprocessing,
        drop_remainder=drop_remainder,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
    )
    return dataset, class_names
