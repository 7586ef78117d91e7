import keras
from keras import ops

from keras_vit.layers.initializers import TruncatedNormal
from keras_vit.layers.projection import dense
from keras_vit._validation import check_bool, check_positive_int, check_rate, check_seed

# The MLP activations of the ViT families: exact GELU (timm, keras-hub),
# its tanh approximation (the Google/big_vision JAX checkpoints, SigLIP) and
# OpenAI CLIP's `x * sigmoid(1.702 x)`.
MLP_ACTIVATIONS = ("gelu", "gelu_tanh", "quick_gelu")


def check_mlp_activation(activation, approximate_gelu):
    """Resolves `activation` (one of `MLP_ACTIVATIONS` or None) against the
    older `approximate_gelu` flag; returns the activation name."""
    if activation is None:
        return "gelu_tanh" if approximate_gelu else "gelu"
    if activation not in MLP_ACTIVATIONS:
        raise ValueError(
            f"`mlp_activation` must be one of {MLP_ACTIVATIONS} or None. Received: "
            f"mlp_activation={activation!r}"
        )
    if approximate_gelu and activation != "gelu_tanh":
        raise ValueError(
            f"`approximate_gelu=True` asks for the tanh GELU but `mlp_activation`={activation!r}; "
            "pass only one of them."
        )
    return activation


def mlp_activation(x, activation):
    """Applies one of `MLP_ACTIVATIONS` to `x`."""
    if activation == "quick_gelu":
        return x * ops.sigmoid(1.702 * x)
    return ops.gelu(x, approximate=activation == "gelu_tanh")


@keras.saving.register_keras_serializable(package="keras_vit")
class MLPBlock(keras.layers.Layer):
    """The transformer's position-wise feed-forward block.

    `dense_2(dropout(gelu(dense_1(x))))` followed by dropout, applied to each
    token independently. `dense_1` widens to `mlp_dim`, `dense_2` projects
    back to the input size. Kernels truncated-normal (std 0.02), biases zero.

    GELU is exact (erf) by default, as in timm and keras-hub; the original
    Google JAX checkpoints were trained with the tanh approximation
    (`approximate_gelu=True`), which differs by about 1e-3 per activation.

    Args:
        mlp_dim: int. Hidden width of the block (4x the model width in ViT).
        dropout_rate: float in [0, 1). Dropout after the activation and after
            the output projection.
        approximate_gelu: bool. Use the tanh approximation of GELU (the same
            as `activation="gelu_tanh"`).
        activation: str or None. `"gelu"` (exact), `"gelu_tanh"` or
            `"quick_gelu"` (`x * sigmoid(1.702 x)`, OpenAI CLIP); None
            follows `approximate_gelu`.
        seed: int or None. Seed of the dropout layers.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        tokens: tensor of shape `(batch, num_tokens, hidden_dim)`.
        training: bool. Whether dropout is active.

    Returns:
        Tensor of shape `(batch, num_tokens, hidden_dim)`.

    Example:
    >>> import numpy as np
    >>> tuple(MLPBlock(mlp_dim=32)(np.ones((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(self, mlp_dim, dropout_rate=0.0, approximate_gelu=False, seed=None,
                 activation=None, **kwargs):
        super().__init__(**kwargs)
        self.mlp_dim = check_positive_int("mlp_dim", mlp_dim)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        approximate_gelu = check_bool("approximate_gelu", approximate_gelu)
        self.activation = check_mlp_activation(activation, approximate_gelu)
        self.approximate_gelu = self.activation == "gelu_tanh"
        self.seed = seed = check_seed("seed", seed)
        self.dropout_1 = keras.layers.Dropout(
            self.dropout_rate, seed=seed, dtype=self.dtype_policy, name="dropout_1"
        )
        self.dropout_2 = keras.layers.Dropout(
            self.dropout_rate, seed=None if seed is None else seed + 1,
            dtype=self.dtype_policy, name="dropout_2",
        )

    def build(self, input_shape):
        kernel_init = TruncatedNormal(stddev=0.02)
        self.dense_1 = keras.layers.Dense(
            self.mlp_dim, kernel_initializer=kernel_init, dtype=self.dtype_policy, name="dense_1"
        )
        self.dense_2 = keras.layers.Dense(
            input_shape[-1], kernel_initializer=kernel_init, dtype=self.dtype_policy, name="dense_2"
        )
        self.dense_1.build(input_shape)
        self.dense_2.build(tuple(input_shape[:-1]) + (self.mlp_dim,))

    def call(self, tokens, training=None):
        x = mlp_activation(dense(self.dense_1, tokens), self.activation)
        x = self.dropout_1(x, training=training)
        return self.dropout_2(dense(self.dense_2, x), training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mlp_dim": self.mlp_dim,
                "dropout_rate": self.dropout_rate,
                "approximate_gelu": self.approximate_gelu,
                "activation": self.activation,
                "seed": self.seed,
            }
        )
        return config
