"""The `tf.data` input pipeline shared by every data source."""

import contextlib
import numbers

from keras.random import SeedGenerator

from keras_vit._validation import check_pair, check_positive_int
from keras_vit.models.preprocessing import preprocessing_layer

# Constants folded into an element's seed, one per random stage, so the
# per-image augmentation and the batch-level mixing draw unrelated numbers.
_AUGMENTATION_STREAM = 1
_MIXING_STREAM = 2


def _tf():
    try:
        import tensorflow as tf
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "keras_vit's tf.data pipelines need TensorFlow (any Keras backend can "
            "consume them). Install it with `pip install 'keras-vit-zoo[tensorflow-cpu]'`."
        ) from error
    return tf


class _StatelessSeeds(SeedGenerator):
    """Stands in for a layer's `SeedGenerator` while a `tf.data` function is traced.

    A Keras augmentation layer draws its random numbers with seeds from a
    `SeedGenerator`, whose state is a variable. In a `Dataset.map` with
    `num_parallel_calls`, the elements read and advance that one variable in
    whatever order the threads run, so which element gets which draw (and
    whether two get the same) changes from run to run; under
    `tf.config.experimental.enable_op_determinism()` TensorFlow instead runs
    such a map, and every parallel stage of the pipeline, serially. This
    generator holds no state: its k-th draw is `stateless_fold_in(seed, k)`,
    `seed` being a tensor of the element being mapped, so an element's
    random numbers depend on its seed alone.
    """

    def __init__(self, seed):  # no SeedGenerator.__init__: that creates the state variable
        self.name = "stateless_seeds"
        self._seed = seed
        self._draws = 0

    def next(self, ordered=True):
        self._draws += 1
        return _tf().random.experimental.stateless_fold_in(self._seed, self._draws)


def _fold_in(seed, value):
    return _tf().random.experimental.stateless_fold_in(seed, int(value) % (2**31 - 1))


@contextlib.contextmanager
def _element_seeds(augmentation, seed):
    """While tracing, makes every random Keras layer in `augmentation` draw from `seed`.

    Each layer with a `seed` and a `generator` (Keras's and keras_vit's
    augmentation layers, also inside a `keras.layers.Pipeline` or
    `RandAugment`) gets its own stateless stream, from `seed`, its position
    and its own `seed` argument. Other callables are left alone.
    """
    try:
        layers = augmentation._flatten_layers(include_self=True, recursive=True)
    except AttributeError:  # not a Keras layer
        layers = []
    patched = []
    for position, layer in enumerate(layers):
        if not (hasattr(layer, "seed") and hasattr(layer, "generator")) or any(layer is p for p in patched):
            continue
        layer_seed = _fold_in(seed, position)
        if isinstance(layer.seed, numbers.Integral) and not isinstance(layer.seed, bool):
            layer_seed = _fold_in(layer_seed, layer.seed)
        generator = _StatelessSeeds(layer_seed)
        # An instance attribute shadows DataLayer._get_seed_generator, the one
        # place these layers take their generator from; object.__setattr__
        # keeps Keras (and torch.nn.Module) from tracking it.
        object.__setattr__(layer, "_get_seed_generator", lambda backend=None, generator=generator: generator)
        patched.append(layer)
    try:
        yield
    finally:
        for layer in patched:
            object.__delattr__(layer, "_get_seed_generator")


def _seed_pairs(seed):
    """An endless dataset of int64 seed pairs, a new reproducible sequence per iteration."""
    tf = _tf()
    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2, drop_remainder=True)


def make_dataset(
    data,
    batch_size,
    classes,
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
    worker its part (by files for tfds, by batches for arrays). A training
    pipeline with `augmentation` or `mixing` is sharded by batches for tfds
    too (its per-example seed stream is no file source, so auto-sharding
    falls back to batches): each worker then reads every file.

    The stages, in order: (cache) -> shuffle -> (seeds) -> resize -> per-image
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
        classes: int. Labels are one-hot encoded to this many classes.
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
        seed: int or None. Seed of the shuffle and of the augmentation and
            mixing draws. None takes TensorFlow's global seed (set by
            `keras.utils.set_random_seed`), or a random one if none is set.

    Returns:
        A `tf.data.Dataset` of `(images, one_hot_labels)` batches, float32.

    Reproducibility: the same arguments give the same batches, epoch after
    epoch, in a new process too (same machine, TensorFlow version and
    `seed`), although the stages run in parallel. The shuffle is seeded,
    every stage keeps the element order (`Options.deterministic`), and the
    random draws of `augmentation` and `mixing` do not come from their
    layers' shared generators, whose order of use would follow the thread
    scheduling: each example (and each batch, for `mixing`) gets its own
    seed from a seeded stream that changes every epoch, and each Keras
    augmentation layer draws from that seed statelessly (its own `seed`
    argument is folded in). Augmentation given as a plain callable, or built
    from layers without a Keras `SeedGenerator` (keras-cv's), keeps its own
    randomness, which is not reproducible in a parallel map.

    Example:
    >>> import numpy as np
    >>> x = np.random.uniform(0, 255, (10, 8, 8, 3)).astype("float32")
    >>> ds = make_dataset((x, np.arange(10) % 3), batch_size=4, classes=3)
    >>> [tuple(images.shape) for images, _ in ds]
    [(4, 8, 8, 3), (4, 8, 8, 3), (2, 8, 8, 3)]
    """
    tf = _tf()
    batch_size = check_positive_int("batch_size", batch_size)
    classes = check_positive_int("classes", classes)
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
    augmentation = augmentation if training else None
    mixing = mixing if training else None
    if cache:
        dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    seeded = augmentation is not None or mixing is not None
    if seeded:
        # One seed per example of each epoch, attached after the shuffle
        # (and the cache) so every epoch draws anew.
        dataset = tf.data.Dataset.zip((dataset, _seed_pairs(seed)))
        dataset = dataset.map(lambda example, seed: (*example, seed))

    def decode(image, label, *seed):
        image = tf.cast(image, "float32")
        if channels == 3 and image.shape[-1] == 1:
            image = tf.repeat(image, 3, axis=-1)
        if image_size is not None:
            image = tf.image.resize(image, image_size, antialias=True)
        return (image, tf.cast(label, "int32"), *seed)

    def augment(image, label, seed):
        with _element_seeds(augmentation, _fold_in(seed, _AUGMENTATION_STREAM)):
            image = augmentation(image)
        return image, label, seed

    dataset = dataset.map(decode, num_parallel_calls=autotune)
    if augmentation is not None:
        dataset = dataset.map(augment, num_parallel_calls=autotune)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

    def finish(images, labels, *seeds):
        labels = tf.one_hot(labels, classes, dtype="float32")
        if mixing is not None:
            # The batch's seed: its first example's, folded once more.
            with _element_seeds(mixing, _fold_in(seeds[0][0], _MIXING_STREAM)):
                mixed = mixing({"images": images, "labels": labels})
            images, labels = mixed["images"], mixed["labels"]
        if scale is not None:
            images = scale(images)
        return images, labels

    dataset = dataset.map(finish, num_parallel_calls=autotune)
    options = tf.data.Options()
    options.deterministic = True  # parallel stages keep the element order
    return dataset.with_options(options).prefetch(autotune)
