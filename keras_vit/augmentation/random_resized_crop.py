import math

import keras
from keras.random import SeedGenerator

from keras_vit.augmentation._base import BaseImagePreprocessingLayer


def _check_range(name, value, low, high):
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"`{name}` must be a pair (min, max). Received: {name}={value!r}")
    lower, upper = (float(v) for v in value)
    if not (low < lower <= upper <= high):
        raise ValueError(
            f"`{name}` must satisfy {low} < min <= max <= {high}. Received: {name}={value!r}"
        )
    return (lower, upper)


@keras.saving.register_keras_serializable(package="keras_vit")
class RandomResizedCrop(BaseImagePreprocessingLayer):
    """Crops a random region of each image and resizes it to the image's size.

    The "Inception crop" of ViT and DeiT training: each image gets its own
    region whose area is a uniform fraction `scale` of the image and whose
    aspect ratio is log-uniform in `ratio`, placed uniformly at random, and
    resampled (bilinear, pixel centres aligned) to the full image size.
    Where the sampled region would exceed the image it is clipped to it,
    instead of timm's re-sampling up to ten times, so the work per image is
    fixed (no data-dependent loops, which matters under `tf.data` and jit).

    Resize images to the training resolution first; this layer keeps the
    input size. Like every Keras augmentation layer it works as an in-model
    layer on any backend and inside `tf.data` (whatever the backend), and is
    the identity with `training=False`.

    Args:
        scale: pair of floats in (0, 1]. Range of the crop's area as a
            fraction of the image. Defaults to `(0.08, 1.0)` (ImageNet);
            small images usually want a larger minimum, e.g. `(0.35, 1.0)`.
        ratio: pair of floats > 0. Range of the crop's width / height.
            Defaults to `(3/4, 4/3)`.
        interpolation: `"bilinear"` or `"nearest"`.
        seed: int or None. Seed of the layer's random generator.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        data: images `(batch, height, width, channels)` or
            `(height, width, channels)`, or a dict with `"images"` (and
            `"labels"`, passed through).
        training: bool. Defaults to True (augment).

    Returns:
        Images (or the dict) of the same shape.

    Example:
    >>> import numpy as np
    >>> layer = RandomResizedCrop(scale=(0.5, 1.0), seed=0)
    >>> tuple(layer(np.random.rand(2, 16, 16, 3).astype("float32")).shape)
    (2, 16, 16, 3)
    """

    _USE_BASE_FACTOR = False

    def __init__(self, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation="bilinear", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.scale = _check_range("scale", scale, 0.0, 1.0)
        self.ratio = _check_range("ratio", ratio, 0.0, math.inf)
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(
                "`interpolation` must be 'bilinear' or 'nearest'. "
                f"Received: interpolation={interpolation!r}"
            )
        self.interpolation = interpolation
        self.seed = seed
        self.generator = SeedGenerator(seed)

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        images = data["images"] if isinstance(data, dict) else data
        shape = self.backend.shape(images)
        batch_size = shape[0] if len(shape) == 4 else 1
        height = self.backend.cast(shape[-3], "float32")
        width = self.backend.cast(shape[-2], "float32")
        seed = seed or self._get_seed_generator(self.backend._backend)
        random = self.backend.random
        np_ = self.backend.numpy
        area = random.uniform((batch_size,), self.scale[0], self.scale[1], seed=seed) * height * width
        log_ratio = random.uniform(
            (batch_size,), math.log(self.ratio[0]), math.log(self.ratio[1]), seed=seed
        )
        aspect = np_.exp(log_ratio)
        crop_width = np_.minimum(np_.sqrt(area * aspect), width)
        crop_height = np_.minimum(np_.sqrt(area / aspect), height)
        x0 = random.uniform((batch_size,), 0.0, 1.0, seed=seed) * (width - crop_width)
        y0 = random.uniform((batch_size,), 0.0, 1.0, seed=seed) * (height - crop_height)
        # affine_transform maps each output pixel (x, y) to the input point
        # (a0 x + a2, b1 y + b2); output pixel centres are spread evenly over
        # the crop [x0, x0 + crop_width).
        scale_x = crop_width / width
        scale_y = crop_height / height
        zeros = np_.zeros((batch_size,))
        transform = np_.stack(
            [
                scale_x, zeros, x0 + 0.5 * scale_x - 0.5,
                zeros, scale_y, y0 + 0.5 * scale_y - 0.5,
                zeros, zeros,
            ],
            axis=1,
        )
        return {"transform": transform, "boxes": np_.stack([y0, x0, crop_height, crop_width], axis=1)}

    def transform_images(self, images, transformation=None, training=True):
        images = self.backend.cast(images, self.compute_dtype)
        if not training or transformation is None:
            return images
        return self.backend.image.affine_transform(
            images,
            transform=transformation["transform"],
            interpolation=self.interpolation,
            fill_mode="nearest",
            data_format=self.data_format,
        )

    def transform_labels(self, labels, transformation, training=True):
        return labels

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        return self.transform_images(segmentation_masks, transformation, training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {"scale": self.scale, "ratio": self.ratio, "interpolation": self.interpolation, "seed": self.seed}
        )
        return config
