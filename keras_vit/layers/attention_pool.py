import keras
from keras import ops

from keras_vit._validation import check_bool, check_float, check_positive_int
from keras_vit.layers.initializers import TruncatedNormal
from keras_vit.layers.mlp import MLPBlock, check_mlp_activation


@keras.saving.register_keras_serializable(package="keras_vit")
class AttentionPool(keras.layers.Layer):
    """Multi-head attention pooling ("MAP" head) of a token sequence.

    A learned latent query attends to all tokens; the attended vector goes
    through an output projection and then a residual MLP branch,
    `y = y + mlp(layer_norm(y))`. This is the pooling of SigLIP and
    big_vision's `MAPHead` (timm's `AttentionPoolLatent` with one latent).

    Reference: Lee et al., "Set Transformer", ICML 2019; Zhai et al.,
    "Sigmoid Loss for Language Image Pre-Training", ICCV 2023.

    Variables (names frozen; they are part of weight files): `latent`
    `(1, 1, hidden_dim)`; Dense layers `query`, `key`, `value`,
    `attention_output` (kernels `(hidden_dim, hidden_dim)`); `layer_norm`;
    `mlp` (`dense_1`, `dense_2`).

    Args:
        num_heads: int. Attention heads; must divide the hidden size.
        mlp_dim: int. Hidden width of the MLP branch.
        mlp_activation: str. `"gelu"`, `"gelu_tanh"` or `"quick_gelu"`.
        layer_norm_epsilon: float > 0.
        return_attention_scores: bool. Also return the attention
            probabilities `(batch, num_heads, 1, num_tokens)`.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        tokens: tensor of shape `(batch, num_tokens, hidden_dim)`.

    Returns:
        Tensor of shape `(batch, hidden_dim)` (and the probabilities with
        `return_attention_scores`).

    Example:
    >>> import numpy as np
    >>> pool = AttentionPool(num_heads=2, mlp_dim=16)
    >>> tuple(pool(np.ones((2, 5, 8), "float32")).shape)
    (2, 8)
    """

    def __init__(self, num_heads, mlp_dim, mlp_activation="gelu", layer_norm_epsilon=1e-6,
                 return_attention_scores=False, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.mlp_dim = check_positive_int("mlp_dim", mlp_dim)
        self.mlp_activation = check_mlp_activation(mlp_activation, False)
        self.layer_norm_epsilon = check_float("layer_norm_epsilon", layer_norm_epsilon, low=0.0,
                                              low_open=True)
        self.return_attention_scores = check_bool("return_attention_scores", return_attention_scores)
        policy = self.dtype_policy
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="layer_norm")
        self.mlp = MLPBlock(self.mlp_dim, activation=self.mlp_activation, dtype=policy, name="mlp")

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "AttentionPool expects tokens of shape (batch, num_tokens, hidden_dim). "
                f"Received input shape: {tuple(input_shape)}")
        width = int(input_shape[-1])
        if width % self.num_heads:
            raise ValueError(
                f"The hidden size {width} must be divisible by num_heads={self.num_heads}.")
        policy = self.dtype_policy
        init = TruncatedNormal(stddev=0.02)
        self.latent = self.add_weight(shape=(1, 1, width), initializer=TruncatedNormal(stddev=width**-0.5),
                                      name="latent")
        self.query = keras.layers.Dense(width, kernel_initializer=init, dtype=policy, name="query")
        self.key = keras.layers.Dense(width, kernel_initializer=init, dtype=policy, name="key")
        self.value = keras.layers.Dense(width, kernel_initializer=init, dtype=policy, name="value")
        self.attention_output = keras.layers.Dense(width, kernel_initializer=init, dtype=policy,
                                                   name="attention_output")
        for layer in (self.query, self.key, self.value, self.attention_output):
            layer.build((None, width))
        self.layer_norm.build((None, 1, width))
        self.mlp.build((None, 1, width))

    def _heads(self, x):
        batch, length = ops.shape(x)[0], ops.shape(x)[1]
        width = ops.shape(x)[2]
        x = ops.reshape(x, (batch, length, self.num_heads, width // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, tokens):
        batch = ops.shape(tokens)[0]
        width = tokens.shape[-1]
        latent = ops.broadcast_to(ops.cast(self.latent, tokens.dtype), (batch, 1, width))
        query = self._heads(self.query(latent))
        key = self._heads(self.key(tokens))
        value = self._heads(self.value(tokens))
        scale = (width // self.num_heads) ** -0.5
        scores = ops.matmul(query * ops.cast(scale, query.dtype), ops.transpose(key, (0, 1, 3, 2)))
        probs = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        attended = ops.matmul(ops.cast(probs, value.dtype), value)  # (batch, heads, 1, head_dim)
        attended = ops.reshape(ops.transpose(attended, (0, 2, 1, 3)), (batch, 1, width))
        pooled = self.attention_output(attended)
        pooled = pooled + self.mlp(self.layer_norm(pooled))
        pooled = pooled[:, 0]
        if self.return_attention_scores:
            return pooled, probs
        return pooled

    def compute_output_shape(self, input_shape):
        pooled = (input_shape[0], input_shape[-1])
        if self.return_attention_scores:
            return pooled, (input_shape[0], self.num_heads, 1, input_shape[1])
        return pooled

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "mlp_dim": self.mlp_dim,
            "mlp_activation": self.mlp_activation,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "return_attention_scores": self.return_attention_scores,
        })
        return config
