import keras

from keras_vit._validation import (
    check_bool,
    check_float,
    check_optional_positive_float,
    check_remat,
    check_positive_int,
    check_rate,
    check_seed,
)
from keras_vit.layers.attention import MultiHeadSelfAttention
from keras_vit.layers.drop_path import DropPath
from keras_vit.layers.layer_scale import LayerScale
from keras_vit.layers.mlp import MLPBlock, check_mlp_activation


def _offset(seed, offset):
    return None if seed is None else seed + offset


@keras.saving.register_keras_serializable(package="keras_vit")
class TransformerBlock(keras.layers.Layer):
    """Pre-LayerNorm transformer encoder block.

    Computes
    `x = x + drop_path(layer_scale_1(attention(layer_norm_1(x))))` and then
    `x = x + drop_path(layer_scale_2(mlp(layer_norm_2(x))))`.
    The residual path carries the gradient around both branches, and the
    normalisation sits inside the branches (pre-LN), which is what lets deep
    ViTs train without the learning-rate warmup tricks post-LN needs.
    LayerNorm epsilon defaults to 1e-6, the value of the Google checkpoints.

    Sublayer names (part of every weight file): `layer_norm_1`, `attention`,
    `layer_scale_1`, `drop_path_1`, `layer_norm_2`, `mlp`, `layer_scale_2`,
    `drop_path_2`. The layer-scale layers exist only when `layer_scale_init`
    is set.

    Args:
        num_heads: int. Attention heads; must divide the hidden size.
        mlp_dim: int. Hidden width of the MLP block.
        dropout_rate: float in [0, 1). Dropout after the attention output
            projection and inside the MLP block.
        attention_dropout_rate: float in [0, 1). Dropout on the attention
            probabilities.
        drop_path_rate: float in [0, 1). Stochastic-depth rate of both
            residual branches.
        layer_scale_init: float > 0 or None. Initial LayerScale value; None
            disables LayerScale.
        approximate_gelu: bool. Use the tanh approximation of GELU.
        mlp_activation: str or None. The MLP's activation: `"gelu"`,
            `"gelu_tanh"` or `"quick_gelu"` (OpenAI CLIP); None follows
            `approximate_gelu`.
        layer_norm_epsilon: float > 0. Epsilon of both LayerNorms.
        use_qkv_bias: bool. Bias on the query/key/value projections.
        fused_qkv: bool or None. Compute the query/key/value projections as
            one matmul (see `MultiHeadSelfAttention`); None picks the form
            measured faster on the current backend. Weights and results are
            the same either way.
        remat: bool. Rematerialise the two branches (LayerNorm + attention,
            LayerNorm + MLP): their inner activations (queries, keys,
            values, attention probabilities, the 4x-wide MLP hidden layer)
            are recomputed in the backward pass instead of kept, for about
            one extra forward pass of compute (ViT-L/H at large batch
            sizes). Outputs and gradients are unchanged. Needs
            `dropout_rate=0` and `attention_dropout_rate=0`; drop path and
            LayerScale stay outside the recomputation.
        seed: int or None. Base seed of the block's random layers.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        tokens: tensor of shape `(batch, num_tokens, hidden_dim)`.
        training: bool. Whether dropout and drop path are active.
        return_attention_scores: bool. Also return the attention
            probabilities, shape `(batch, num_heads, num_tokens, num_tokens)`.

    Returns:
        Tensor of shape `(batch, num_tokens, hidden_dim)`, or a tuple of it
        and the attention probabilities.

    Example:
    >>> import numpy as np
    >>> block = TransformerBlock(num_heads=2, mlp_dim=32)
    >>> tuple(block(np.ones((2, 5, 8), "float32")).shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        num_heads,
        mlp_dim,
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
        drop_path_rate=0.0,
        layer_scale_init=None,
        approximate_gelu=False,
        layer_norm_epsilon=1e-6,
        use_qkv_bias=True,
        fused_qkv=None,
        remat=False,
        seed=None,
        mlp_activation=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.remat = check_remat(remat, dropout_rate, attention_dropout_rate)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.mlp_dim = check_positive_int("mlp_dim", mlp_dim)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.attention_dropout_rate = check_rate("attention_dropout_rate", attention_dropout_rate)
        self.drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        self.layer_scale_init = check_optional_positive_float("layer_scale_init", layer_scale_init)
        self.mlp_activation = check_mlp_activation(
            mlp_activation, check_bool("approximate_gelu", approximate_gelu))
        self.approximate_gelu = self.mlp_activation == "gelu_tanh"
        self.layer_norm_epsilon = check_float("layer_norm_epsilon", layer_norm_epsilon, low=0.0, low_open=True)
        self.use_qkv_bias = check_bool("use_qkv_bias", use_qkv_bias)
        self.seed = seed = check_seed("seed", seed)

        policy = self.dtype_policy
        self.layer_norm_1 = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="layer_norm_1"
        )
        self.attention = MultiHeadSelfAttention(
            num_heads=self.num_heads,
            dropout_rate=self.dropout_rate,
            attention_dropout_rate=self.attention_dropout_rate,
            use_qkv_bias=self.use_qkv_bias,
            fused_qkv=fused_qkv,
            seed=_offset(seed, 0),
            dtype=policy,
            name="attention",
        )
        self.layer_norm_2 = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=policy, name="layer_norm_2"
        )
        self.mlp = MLPBlock(
            mlp_dim=self.mlp_dim,
            dropout_rate=self.dropout_rate,
            activation=self.mlp_activation,
            seed=_offset(seed, 2),
            dtype=policy,
            name="mlp",
        )
        self.drop_path_1 = DropPath(self.drop_path_rate, seed=_offset(seed, 4), dtype=policy, name="drop_path_1")
        self.drop_path_2 = DropPath(self.drop_path_rate, seed=_offset(seed, 5), dtype=policy, name="drop_path_2")
        if self.layer_scale_init is None:
            self.layer_scale_1 = self.layer_scale_2 = None
        else:
            self.layer_scale_1 = LayerScale(self.layer_scale_init, dtype=policy, name="layer_scale_1")
            self.layer_scale_2 = LayerScale(self.layer_scale_init, dtype=policy, name="layer_scale_2")

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "TransformerBlock expects tokens of shape (batch, num_tokens, "
                f"hidden_dim). Received input shape: {tuple(input_shape)}"
            )
        if input_shape[-1] % self.num_heads != 0:
            raise ValueError(
                f"The hidden size must be divisible by num_heads={self.num_heads}. "
                f"Received input shape: {tuple(input_shape)}"
            )
        for layer in (self.layer_norm_1, self.attention, self.layer_norm_2, self.mlp):
            layer.build(input_shape)
        for layer in (self.layer_scale_1, self.layer_scale_2):
            if layer is not None:
                layer.build(input_shape)

    def _branch(self, x, layer_scale, drop_path, training):
        if layer_scale is not None:
            x = layer_scale(x)
        return drop_path(x, training=training)

    def _attention_branch(self, tokens):
        # Only used with remat, where dropout rates are 0: deterministic.
        return self.attention(self.layer_norm_1(tokens), training=False)

    def _mlp_branch(self, tokens):
        return self.mlp(self.layer_norm_2(tokens), training=False)

    def call(self, tokens, training=None, return_attention_scores=False):
        return_attention_scores = check_bool("return_attention_scores", return_attention_scores)
        remat = self.remat and training and not return_attention_scores
        if remat:
            attended = keras.remat(self._attention_branch)(tokens)
        else:
            attended = self.attention(
                self.layer_norm_1(tokens),
                training=training,
                return_attention_scores=return_attention_scores,
            )
        if return_attention_scores:
            attended, probs = attended
        x = tokens + self._branch(attended, self.layer_scale_1, self.drop_path_1, training)
        if remat:
            mlp_out = keras.remat(self._mlp_branch)(x)
        else:
            mlp_out = self.mlp(self.layer_norm_2(x), training=training)
        x = x + self._branch(mlp_out, self.layer_scale_2, self.drop_path_2, training)
        if return_attention_scores:
            return x, probs
        return x

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "mlp_dim": self.mlp_dim,
                "dropout_rate": self.dropout_rate,
                "attention_dropout_rate": self.attention_dropout_rate,
                "drop_path_rate": self.drop_path_rate,
                "layer_scale_init": self.layer_scale_init,
                "approximate_gelu": self.approximate_gelu,
                "mlp_activation": self.mlp_activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "use_qkv_bias": self.use_qkv_bias,
                "fused_qkv": self.attention.fused_qkv,
                "remat": self.remat,
                "seed": self.seed,
            }
        )
        return config
