"""The DeiT-style augmentation recipe, assembled from Keras's own layers."""

import keras

from keras_vit._validation import check_float, check_non_negative_int
from keras_vit.augmentation.mix_up_cut_mix import MixUpCutMix
from keras_vit.augmentation.rand_augment import RandAugment
from keras_vit.augmentation.random_resized_crop import RandomResizedCrop


def _seed(seed, offset):
    return None if seed is None else seed + offset


def image_augmentation(
    crop_scale=(0.08, 1.0),
    crop_ratio=(3 / 4, 4 / 3),
    flip=True,
    rand_augment_ops=2,
    rand_augment_magnitude=0.5,
    erasing_probability=0.25,
    value_range=(0, 255),
    seed=None,
    name="image_augmentation",
):
    """Per-image augmentation of the DeiT recipe, as one Keras layer.

    In order: `RandomResizedCrop` (Inception crop), horizontal
    `keras.layers.RandomFlip`, `RandAugment` (Keras's, with its `tf.data`
    fixes for JAX) and
    `keras.layers.RandomErasing`; each stage can be switched off. The result
    is a `keras.layers.Pipeline`, so it is

    - an **in-model layer on any backend**: put it after `keras.Input`; it
      augments in `fit` and is the identity in `predict`/`evaluate`;
    - a **`tf.data` map function** whatever the backend:
      `dataset.map(augment)` on unbatched images (one random draw per image;
      on a batch, RandAugment draws one choice of operations per batch);
    - usable on dicts `{"images": ..., "labels": ...}` (labels pass through).

    Reproducibility: every random stage (Keras's layers and keras_vit's)
    draws its seeds from a stateful `keras.random.SeedGenerator`. Called on
    its own or in a model that is fine, but in your own
    `dataset.map(augment, num_parallel_calls=...)` the parallel calls share
    that generator in thread order, so a seeded pipeline gives other images
    on every run. `keras_vit.data.make_dataset` avoids this: there each
    image gets its own stateless seeds (see its docstring).

    Batch-level label mixing (MixUp/CutMix) needs the labels and is the
    separate `MixUpCutMix` layer. Other Keras or keras-cv layers can be added
    by building your own `keras.layers.Pipeline([...])` from
    `image_augmentation(...).layers` plus theirs.

    Args:
        crop_scale: pair of floats or None. Area range of the random resized
            crop (DeiT: `(0.08, 1.0)`); None disables it.
        crop_ratio: pair of floats. Aspect-ratio range of the crop.
        flip: bool. Random horizontal flips (off for digits or text).
        rand_augment_ops: int >= 0. Operations RandAugment applies per image
            (DeiT: 2); 0 disables RandAugment.
        rand_augment_magnitude: float in [0, 1]. Strength of every
            RandAugment operation, Keras's `RandAugment(factor=...)` (e.g. a
            rotation of up to `magnitude * 360` degrees). It is not timm's
            integer `m`; 0.1 to 0.3 suit small images, Keras's default is 0.5.
        erasing_probability: float in [0, 1]. Probability that an image gets
            one random rectangle erased with noise (DeiT: 0.25); 0 disables.
        value_range: pair. Range of the input pixels, `(0, 255)` for raw
            images; apply `keras_vit.preprocess_input` after augmenting.
        seed: int or None. Base seed of the random layers.
        name: str. Name of the pipeline layer.

    Returns:
        A `keras.layers.Pipeline` (its `.layers` lists the stages).

    Example:
    >>> import numpy as np
    >>> augment = image_augmentation(rand_augment_magnitude=0.2, seed=0)
    >>> [layer.__class__.__name__ for layer in augment.layers]
    ['RandomResizedCrop', 'RandomFlip', 'RandAugment', 'RandomErasing']
    >>> images = np.random.uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    >>> bool(np.array_equal(keras.ops.convert_to_numpy(augment(images, training=False)), images))
    True
    """
    rand_augment_ops = check_non_negative_int("rand_augment_ops", rand_augment_ops)
    rand_augment_magnitude = check_float("rand_augment_magnitude", rand_augment_magnitude, 0.0, 1.0)
    erasing_probability = check_float("erasing_probability", erasing_probability, 0.0, 1.0)
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2 or value_range[0] >= value_range[1]:
        raise ValueError(f"`value_range` must be a pair (low, high) with low < high. Received: {value_range!r}")
    layers = []
    if crop_scale is not None:
        layers.append(RandomResizedCrop(crop_scale, crop_ratio, seed=_seed(seed, 0), name="random_resized_crop"))
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=_seed(seed, 1), name="random_flip"))
    if rand_augment_ops:
        layers.append(
            RandAugment(
                value_range=tuple(value_range),
                num_ops=rand_augment_ops,
                factor=rand_augment_magnitude,
                seed=_seed(seed, 2),
                name="rand_augment",
            )
        )
    if erasing_probability:
        # A pair makes the probability exact: Keras draws it uniformly from
        # (0, factor) when given one number.
        layers.append(
            keras.layers.RandomErasing(
                factor=(erasing_probability, erasing_probability),
                value_range=tuple(value_range),
                seed=_seed(seed, 3),
                name="random_erasing",
            )
        )
    return keras.layers.Pipeline(layers, name=name)


def label_mixing(mixup_alpha=0.8, cutmix_alpha=1.0, switch_probability=0.5, seed=None):
    """Returns the batch-level MixUp/CutMix layer of the DeiT recipe, or None.

    Args:
        mixup_alpha: float >= 0. 0 disables MixUp.
        cutmix_alpha: float in [0, 1]. 0 disables CutMix.
        switch_probability: float. Probability of CutMix per batch when both
            are on.
        seed: int or None.

    Returns:
        A `MixUpCutMix` layer, or None when both alphas are 0.

    Example:
    >>> label_mixing(0.0, 0.0) is None
    True
    """
    if not mixup_alpha and not cutmix_alpha:
        return None
    return MixUpCutMix(mixup_alpha, cutmix_alpha, switch_probability, seed=seed, name="label_mixing")
