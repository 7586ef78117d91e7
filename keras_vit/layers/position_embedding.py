import keras
import numpy as np
from keras import ops

from keras_vit.layers.initializers import TruncatedNormal
from keras_vit._validation import check_bool, check_non_negative_int, check_pair


def _cubic_kernel(x, a=-0.5):
    """Keys' cubic convolution kernel; `a=-0.5` as in PIL, TF and JAX."""
    x = np.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return np.where(x <= 1.0, near, np.where(x < 2.0, far, 0.0))


def _resize_matrix(input_size, output_size, antialias):
    """Matrix `(output_size, input_size)` of bicubic weights along one axis.

    Half-pixel centres; weights are renormalised where the kernel falls off
    the edge, and the kernel is widened when downsampling if `antialias`.
    This is the definition `jax.image.resize(method="bicubic")` and
    `tf.image.resize(method="bicubic", antialias=True)` implement.
    """
    inv_scale = input_size / output_size
    kernel_scale = max(inv_scale, 1.0) if antialias else 1.0
    centres = (np.arange(output_size) + 0.5) * inv_scale - 0.5
    distance = (centres[:, None] - np.arange(input_size)[None, :]) / kernel_scale
    weights = _cubic_kernel(distance)
    return weights / np.sum(weights, axis=1, keepdims=True)


def resample_position_embedding(
    embedding, source_grid, target_grid, num_prefix_tokens=1, antialias=True
):
    """Resamples a learned position embedding to another patch grid.

    Only the grid part is interpolated (bicubic, in float64, separably along
    height and width); the `num_prefix_tokens` leading slots (the class
    token's) are copied unchanged. The result does not depend on the Keras
    backend. Resampling to the same grid returns the embedding unchanged.

    Args:
        embedding: array-like of shape
            `(1, num_prefix_tokens + grid_h * grid_w, hidden_dim)`.
        source_grid: int or tuple `(grid_h, grid_w)` the embedding was
            learned for.
        target_grid: int or tuple `(grid_h, grid_w)` to resample to.
        num_prefix_tokens: int. Leading slots that are not on the grid.
        antialias: bool. Widen the kernel when shrinking the grid.

    Returns:
        NumPy array of shape
        `(1, num_prefix_tokens + target_h * target_w, hidden_dim)`, with the
        dtype of `embedding`.

    Example:
    >>> import numpy as np
    >>> table = np.random.rand(1, 1 + 14 * 14, 8).astype("float32")
    >>> resample_position_embedding(table, 14, 24).shape
    (1, 577, 8)
    """
    source_grid = check_pair("source_grid", source_grid)
    target_grid = check_pair("target_grid", target_grid)
    num_prefix_tokens = check_non_negative_int("num_prefix_tokens", num_prefix_tokens)
    antialias = check_bool("antialias", antialias)
    embedding = np.asarray(ops.convert_to_numpy(embedding))
    expected = num_prefix_tokens + source_grid[0] * source_grid[1]
    if embedding.ndim != 3 or embedding.shape[0] != 1 or embedding.shape[1] != expected:
        raise ValueError(
            "`embedding` must have shape (1, num_prefix_tokens + grid_h * grid_w, "
            f"hidden_dim) = (1, {expected}, hidden_dim) for source_grid={source_grid} "
            f"and num_prefix_tokens={num_prefix_tokens}. Received shape: {embedding.shape}"
        )
    if source_grid == target_grid:
        return embedding.copy()
    prefix = embedding[:, :num_prefix_tokens]
    grid = embedding[0, num_prefix_tokens:].astype("float64")
    grid = grid.reshape(source_grid[0], source_grid[1], -1)
    rows = _resize_matrix(source_grid[0], target_grid[0], antialias)
    cols = _resize_matrix(source_grid[1], target_grid[1], antialias)
    grid = np.einsum("ih,jw,hwd->ijd", rows, cols, grid)
    grid = grid.reshape(1, target_grid[0] * target_grid[1], -1).astype(embedding.dtype)
    return np.concatenate([prefix, grid], axis=1)


@keras.saving.register_keras_serializable(package="keras_vit")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned position embedding to `[prefix tokens, patch grid]`.

    The variable is named `position_embedding`, shape
    `(1, num_prefix_tokens + grid_h * grid_w, hidden_dim)`, initialised
    truncated-normal with std 0.02. Its prefix slots (the class token's) come
    first, as in the Google and timm checkpoints. To use the layer at another
    resolution, resample the table with `resample_position_embedding` (or the
    layer's `resample` method), which interpolates the grid part only.

    Args:
        grid_size: int or tuple `(grid_h, grid_w)`. Patch grid of the images.
        num_prefix_tokens: int. Tokens before the grid that also get a
            learned position (1 for the class token, 0 without one).
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        tokens: tensor of shape
            `(batch, num_prefix_tokens + grid_h * grid_w, hidden_dim)`.

    Returns:
        Tensor of the same shape, `tokens + position_embedding`.

    Example:
    >>> import numpy as np
    >>> layer = PositionEmbedding(grid_size=(2, 3))
    >>> tuple(layer(np.zeros((4, 7, 8), "float32")).shape)
    (4, 7, 8)
    """

    def __init__(self, grid_size, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = check_pair("grid_size", grid_size)
        self.num_prefix_tokens = check_non_negative_int("num_prefix_tokens", num_prefix_tokens)

    @property
    def sequence_length(self):
        return self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1]

    def build(self, input_shape):
        if input_shape[1] is not None and input_shape[1] != self.sequence_length:
            raise ValueError(
                f"PositionEmbedding(grid_size={self.grid_size}, num_prefix_tokens="
                f"{self.num_prefix_tokens}) expects {self.sequence_length} tokens. "
                f"Received input shape: {tuple(input_shape)}. Resample the "
                "embedding with `resample_position_embedding` for another grid."
            )
        self.position_embedding = self.add_weight(
            shape=(1, self.sequence_length, input_shape[-1]),
            initializer=TruncatedNormal(stddev=0.02),
            name="position_embedding",
        )

    def call(self, tokens):
        return tokens + ops.cast(self.position_embedding, tokens.dtype)

    def resample(self, grid_size, antialias=True):
        """Returns this layer's table resampled to `grid_size` (NumPy)."""
        return resample_position_embedding(
            self.position_embedding, self.grid_size, grid_size,
            self.num_prefix_tokens, antialias=antialias,
        )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"grid_size": self.grid_size, "num_prefix_tokens": self.num_prefix_tokens}
        )
        return config
