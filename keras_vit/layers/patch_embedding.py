import keras
from keras import ops

from keras_vit._validation import check_bool, check_pair, check_positive_int


@keras.saving.register_keras_serializable(package="keras_vit")
class PatchEmbedding(keras.layers.Layer):
    """Splits images into non-overlapping patches and projects each patch.

    The projection is a strided `Conv2D` whose kernel is stored
    `(patch_h, patch_w, channels, hidden_dim)` (HWIO), the layout of the
    original Google ViT checkpoints, so they load without a transpose.
    The kernel is initialised LeCun-normal (truncated, std `1/sqrt(fan_in)`),
    as `flax.linen.Conv` does in the reference implementation; the bias is zero.

    Reference: Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021.

    Args:
        patch_size: int or tuple `(patch_h, patch_w)`. Side of each patch;
            must divide the image height and width.
        hidden_dim: int. Size of each patch embedding.
        use_bias: bool. Whether the projection has a bias (CLIP's has none).
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        images: tensor of shape `(batch, height, width, channels)`.

    Returns:
        Tensor of shape `(batch, (height // patch_h) * (width // patch_w),
        hidden_dim)`, patches in row-major order.

    Example:
    >>> import numpy as np
    >>> layer = PatchEmbedding(patch_size=4, hidden_dim=8)
    >>> tuple(layer(np.zeros((2, 16, 12, 3), "float32")).shape)
    (2, 12, 8)
    """

    def __init__(self, patch_size, hidden_dim, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = check_pair("patch_size", patch_size)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.use_bias = check_bool("use_bias", use_bias)
        self.projection = keras.layers.Conv2D(
            use_bias=self.use_bias,
            filters=self.hidden_dim,
            kernel_size=self.patch_size,
            strides=self.patch_size,
            padding="valid",
            data_format="channels_last",
            kernel_initializer="lecun_normal",
            bias_initializer="zeros",
            dtype=self.dtype_policy,
            name="projection",
        )

    def _check_image_shape(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "PatchEmbedding expects images of shape (batch, height, width, "
                f"channels). Received input shape: {tuple(input_shape)}"
            )
        for axis, size, patch in zip(("height", "width"), input_shape[1:3], self.patch_size):
            if size is not None and size % patch != 0:
                raise ValueError(
                    f"The image {axis} must be divisible by patch_size={self.patch_size}. "
                    f"Received input shape: {tuple(input_shape)}"
                )

    def build(self, input_shape):
        self._check_image_shape(input_shape)
        self.projection.build(input_shape)

    def call(self, images):
        patches = self.projection(images)
        shape = ops.shape(patches)
        return ops.reshape(patches, (shape[0], shape[1] * shape[2], self.hidden_dim))

    def compute_output_shape(self, input_shape):
        self._check_image_shape(input_shape)
        height, width = input_shape[1:3]
        if height is None or width is None:
            num_patches = None
        else:
            num_patches = (height // self.patch_size[0]) * (width // self.patch_size[1])
        return (input_shape[0], num_patches, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"patch_size": self.patch_size, "hidden_dim": self.hidden_dim,
                       "use_bias": self.use_bias})
        return config
