"""The `tf.data` input pipeline shared by every data source."""

from keras_vit._validation import check_pair, check_positive_int
from keras_vit.models.preprocessing import preprocessing_layer


def _tf():
    try:
        import tensorflow as tf
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "keras_vit's tf.data pipelines need TensorFlow (any Keras backend can "
            "consume them). Install it with `pip install keras-vit[tensorflow-cpu]`."
        ) from error
    return tf


def make_dataset(
    data,
    batch_size,
    num_classes,
    training=False,
    image_size=None,
    augmentation=None,
    mixing=None,
    preprocessing="vit",
    channels=3,
    shuffle=None,
    shuffle_buffer=10_000,
    drop_remainder=None,
    cache=False,
    seed=None,
):
    """Builds a batched, prefetched `tf.data.Dataset` ready for `model.fit`.

    Under a `tf.distribute` strategy give the global batch
    (`keras_vit.distribute.global_batch_size`); `fit` splits it between the
    replicas, and with several workers tf.data's auto-sharding gives each
    worker its part (by files for tfds, by batches for arrays).

    The stages, in order: (cache) -> shuffle -> resize -> per-image
    `augmentation` -> batch -> one-hot labels -> batch-level `mixing`
    (MixUp/CutMix) -> `preprocessing` -> prefetch. Augmentation runs on
    `[0, 255]` pixels and the scaling to the model's range comes last, so
    every Keras augmentation layer sees the value range it expects. The
    pipeline is TensorFlow, but its batches feed `fit` on any backend.

    Args:
        data: a tuple `(images, labels)` of arrays (images
            `(n, height, width, channels)` in `[0, 255]`, integer labels
            `(n,)`), or a `tf.data.Dataset` of unbatched `(image, label)`
            pairs.
        batch_size: int. Batch size (the global batch under a
            `tf.distribute` strategy).
        num_classes: int. Labels are one-hot encoded to this many classes.
        training: bool. Whether to shuffle, augment and mix.
        image_size: int, pair or None. Resize images (bilinear, antialiased)
            to this size first; None keeps their size.
        augmentation: per-image layer or callable, e.g.
            `keras_vit.augmentation.image_augmentation(...)`; used only in
            training.
        mixing: batch-level layer taking `{"images", "labels"}`, e.g.
            `keras_vit.augmentation.label_mixing(...)`; used only in
            training.
        preprocessing: `"vit"`, `"imagenet"`, `"unit"` (see
            `keras_vit.preprocess_input`) or None to keep `[0, 255]`.
        channels: 3, 1 or None. Grayscale images are repeated to 3
            channels when 3 are asked for (MNIST-like data for RGB models);
            None keeps the images' channels.
        shuffle: bool or None. Defaults to `training`.
        shuffle_buffer: int. Size of the shuffle buffer.
        drop_remainder: bool or None. Drop the last incomplete batch, for
            static shapes (TPUs, `jit_compile`); defaults to `training`, so
            evaluation sees every example.
        cache: bool. Cache the decoded, unaugmented examples in memory.
        seed: int or None. Seed of the shuffle.

    Returns:
        A `tf.data.Dataset` of `(images, one_hot_labels)` batches, float32.

    Example:
    >>> import numpy as np
    >>> x = np.random.uniform(0, 255, (10, 8, 8, 3)).astype("float32")
    >>> ds = make_dataset((x, np.arange(10) % 3), batch_size=4, num_classes=3)
    >>> [tuple(images.shape) for images, _ in ds]
    [(4, 8, 8, 3), (4, 8, 8, 3), (2, 8, 8, 3)]
    """
    tf = _tf()
    batch_size = check_positive_int("batch_size", batch_size)
    num_classes = check_positive_int("num_classes", num_classes)
    shuffle_buffer = check_positive_int("shuffle_buffer", shuffle_buffer)
    scale = None if preprocessing is None else preprocessing_layer(preprocessing)
    training = bool(training)
    shuffle = training if shuffle is None else bool(shuffle)
    drop_remainder = training if drop_remainder is None else bool(drop_remainder)
    if channels not in (1, 3, None):
        raise ValueError(f"`channels` must be 1, 3 or None. Received: channels={channels!r}")
    if image_size is not None:
        image_size = check_pair("image_size", image_size)

    if isinstance(data, tf.data.Dataset):
        dataset = data
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = data
        if len(images) != len(labels):
            raise ValueError(
                f"`data` must hold as many images as labels. Received: {len(images)} images, {len(labels)} labels"
            )
        dataset = tf.data.Dataset.from_tensor_slices((images, labels))
        # In-memory data has no files to divide between workers: under
        # MultiWorkerMirroredStrategy each worker reads every n-th batch.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = dataset.with_options(options)
    else:
        raise TypeError(
            "`data` must be a tuple (images, labels) or a tf.data.Dataset of "
            f"(image, label) pairs. Received: {type(data).__name__}"
        )

    autotune = tf.data.AUTOTUNE
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def decode(image, label):
        image = tf.cast(image, "float32")
        if channels == 3 and image.shape[-1] == 1:
            image = tf.repeat(image, 3, axis=-1)
        if image_size is not None:
            image = tf.image.resize(image, image_size, antialias=True)
        return image, tf.cast(label, "int32")

    dataset = dataset.map(decode, num_parallel_calls=autotune)
    if training and augmentation is not None:
        dataset = dataset.map(lambda image, label: (augmentation(image), label), num_parallel_calls=autotune)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

    def finish(images, labels):
        labels = tf.one_hot(labels, num_classes, dtype="float32")
        if training and mixing is not None:
            mixed = mixing({"images": images, "labels": labels})
            images, labels = mixed["images"], mixed["labels"]
        if scale is not None:
            images = scale(images)
        return images, labels

    dataset = dataset.map(finish, num_parallel_calls=autotune)
    return dataset.prefetch(autotune)
