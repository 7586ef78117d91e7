"""Layers that turn ViT token sequences into NHWC feature maps and resample
them, the pieces of a dense-prediction backbone (ViTDet, DPT, SETR)."""

import math
import numbers

import keras
from keras import ops

from keras_vit._validation import check_non_negative_int, check_pair

INTERPOLATIONS = ("bilinear", "nearest", "bicubic")


@keras.saving.register_keras_serializable(package="keras_vit")
class TokensToFeatureMap(keras.layers.Layer):
    """Drops the prefix tokens and lays the patch tokens out on their grid.

    The ViT orders the patch tokens row-major (the token at sequence position
    `num_prefix_tokens + r * grid_w + c` is the patch in row `r`, column `c`),
    so the map is a plain reshape: that token lands at `[:, r, c, :]`. The
    class and register tokens (the first `num_prefix_tokens`) are discarded.

    Args:
        grid_size: int or tuple `(grid_h, grid_w)`. Patch grid of the images
            (`VisionTransformer.grid_size`).
        num_prefix_tokens: int >= 0. Leading non-grid tokens to drop (1 for
            the class token, plus any register tokens:
            `VisionTransformer.num_prefix_tokens`).
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        tokens: tensor `(batch, num_prefix_tokens + grid_h * grid_w, dim)`.

    Returns:
        Channels-last feature map `(batch, grid_h, grid_w, dim)`.

    Example:
    >>> import numpy as np
    >>> layer = TokensToFeatureMap(grid_size=(2, 3), num_prefix_tokens=1)
    >>> tuple(layer(np.zeros((4, 7, 8), "float32")).shape)
    (4, 2, 3, 8)
    """

    def __init__(self, grid_size, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = check_pair("grid_size", grid_size)
        self.num_prefix_tokens = check_non_negative_int("num_prefix_tokens", num_prefix_tokens)

    @property
    def sequence_length(self):
        return self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1]

    def _check_shape(self, input_shape):
        if len(input_shape) != 3 or (
            input_shape[1] is not None and input_shape[1] != self.sequence_length
        ):
            raise ValueError(
                f"TokensToFeatureMap(grid_size={self.grid_size}, num_prefix_tokens="
                f"{self.num_prefix_tokens}) expects tokens of shape (batch, "
                f"{self.sequence_length}, dim). Received input shape: {tuple(input_shape)}"
            )

    def build(self, input_shape):
        self._check_shape(input_shape)

    def call(self, tokens):
        grid = tokens[:, self.num_prefix_tokens:, :]
        return ops.reshape(grid, (-1, self.grid_size[0], self.grid_size[1], ops.shape(tokens)[-1]))

    def compute_output_shape(self, input_shape):
        self._check_shape(input_shape)
        return (input_shape[0], self.grid_size[0], self.grid_size[1], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {"grid_size": self.grid_size, "num_prefix_tokens": self.num_prefix_tokens}
        )
        return config


def _check_scale(scale):
    """Normalises `scale` to a pair of positive floats (height, width) whose
    axes both upsample (>= 1) or both downsample by an integer factor."""
    if isinstance(scale, (tuple, list)) and len(scale) == 2:
        pair = tuple(scale)
    else:
        pair = (scale, scale)
    for item in pair:
        if isinstance(item, bool) or not isinstance(item, numbers.Real):
            raise TypeError(
                "`scale` must be a positive number or a pair of them (height, width). "
                f"Received: scale={scale!r}"
            )
        if not (math.isfinite(item) and item > 0):
            raise ValueError(
                "`scale` must be a positive number or a pair of them (height, width). "
                f"Received: scale={scale!r}"
            )
    pair = (float(pair[0]), float(pair[1]))
    if min(pair) < 1.0:
        factors = [1.0 / s for s in pair]
        if max(pair) > 1.0 or any(abs(f - round(f)) > 1e-6 for f in factors):
            raise ValueError(
                "A downsampling `scale` (< 1) must be 1/k for an integer k (average "
                "pooling by k), on both axes, e.g. 0.5 or 0.25, and cannot be mixed "
                f"with upsampling. Received: scale={scale!r}"
            )
    return pair


@keras.saving.register_keras_serializable(package="keras_vit")
class ResampleFeatureMap(keras.layers.Layer):
    """Rescales a channels-last feature map by a fixed factor.

    The parameter-free "simple feature pyramid" of ViTDet (Li et al., 2022)
    by resampling: a factor above 1 upsamples with `keras.ops.image.resize`
    (bilinear by default, half-pixel centres), a factor `1/k` below 1
    average-pools `k x k` windows with stride `k`, and 1 is the identity.

    Args:
        scale: positive number, or pair `(scale_h, scale_w)`. Upsampling
            factors may be fractional as long as `size * scale` is a whole
            number (e.g. 3.5 on a 16-wide map); downsampling factors must be
            `1/k` with integer `k` dividing the size (0.5, 0.25, ...).
        interpolation: one of `"bilinear"`, `"nearest"`, `"bicubic"`; used
            when upsampling.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        feature_map: tensor `(batch, height, width, channels)` with static
            height and width.

    Returns:
        Tensor `(batch, height * scale_h, width * scale_w, channels)`.

    Example:
    >>> import numpy as np
    >>> x = np.zeros((2, 4, 6, 3), "float32")
    >>> tuple(ResampleFeatureMap(2)(x).shape), tuple(ResampleFeatureMap(0.5)(x).shape)
    ((2, 8, 12, 3), (2, 2, 3, 3))
    """

    def __init__(self, scale, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        pair = _check_scale(scale)
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"`interpolation` must be one of {INTERPOLATIONS}. "
                f"Received: interpolation={interpolation!r}"
            )
        self.scale = pair[0] if pair[0] == pair[1] else pair
        self._pair = pair
        self.interpolation = interpolation

    def _output_size(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "ResampleFeatureMap expects a channels-last feature map (batch, height, "
                f"width, channels) with static height and width. Received input shape: "
                f"{tuple(input_shape)}"
            )
        size = []
        for length, factor in zip(input_shape[1:3], self._pair):
            if factor < 1.0:
                pool = round(1.0 / factor)
                exact = length % pool == 0
                new = length // pool
            else:
                new = round(length * factor)
                exact = abs(length * factor - new) < 1e-6
            if not exact:
                raise ValueError(
                    f"ResampleFeatureMap(scale={self.scale}) needs a whole output size: "
                    f"{length} x {factor} is not an integer. Received input shape: "
                    f"{tuple(input_shape)}"
                )
            size.append(new)
        return tuple(size)

    def build(self, input_shape):
        self._output_size(input_shape)

    def call(self, feature_map):
        size = self._output_size(feature_map.shape)
        if self._pair == (1.0, 1.0):
            return feature_map
        if min(self._pair) < 1.0:
            pool = (round(1.0 / self._pair[0]), round(1.0 / self._pair[1]))
            outputs = ops.average_pool(
                feature_map, pool, strides=pool, padding="valid", data_format="channels_last"
            )
        else:
            outputs = ops.image.resize(
                feature_map, size, interpolation=self.interpolation, antialias=False,
                data_format="channels_last",
            )
        # TensorFlow's resize computes in float32; keep the input's dtype.
        return ops.cast(outputs, feature_map.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self._output_size(input_shape), input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "interpolation": self.interpolation})
        return config
