import keras
from keras import ops

from keras_vit.layers.attention_kernel import attention
from keras_vit.layers.initializers import TruncatedNormal
from keras_vit.layers.projection import direct_projections, plain_dense, project
from keras_vit._validation import check_bool, check_positive_int, check_rate, check_seed

# fused_qkv=None picks the form measured faster on each backend
# (benchmarks/speed.py --configs fused unfused, and the two models
# interleaved in one process; ViT-Ti/16, batch 16, 2-core CPU): within 4%
# on every backend, TensorFlow slightly ahead fused; on PyTorch the fused
# form adds a concatenation and copies of the strided q/k/v slices
# (profiler), so the separate projections stay the default there and on JAX.
FUSED_QKV_DEFAULT = {"tensorflow": True, "jax": False, "torch": False, "numpy": False, "openvino": False}


def _num_tokens(x):
    # Static when known (the usual fixed-resolution model), else dynamic.
    return x.shape[1] if x.shape[1] is not None else ops.shape(x)[1]


@keras.saving.register_keras_serializable(package="keras_vit")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head self-attention over a token sequence.

    Built on `keras.ops.dot_product_attention`, so the backend's fused kernel
    (cuDNN / flash attention on JAX and PyTorch GPUs, TPU kernels) is used
    whenever attention probabilities are neither dropped out nor requested;
    float32 attention on a JAX CPU runs one head at a time instead, which
    XLA's CPU compiler runs faster (`keras_vit.layers.attention_kernel`).
    With `attention_dropout_rate > 0` in training, or with
    `return_attention_scores=True`, the same computation is written out
    explicitly (softmax in float32) so the probabilities can be dropped out or
    returned; both paths agree to float rounding.

    Kernels use the Google ViT checkpoint shapes, so those load without
    transposes: `query`, `key` and `value` kernels are
    `(hidden_dim, num_heads, head_dim)` with biases `(num_heads, head_dim)`,
    and the `attention_output` kernel is `(num_heads, head_dim, hidden_dim)`.
    Kernels are initialised truncated-normal with std 0.02, biases zero.

    Args:
        num_heads: int. Number of attention heads; must divide the hidden
            size of the input.
        dropout_rate: float in [0, 1). Dropout on the output projection
            (the original ViT's dropout after attention, timm's `proj_drop`).
        attention_dropout_rate: float in [0, 1). Dropout on the attention
            probabilities.
        use_qkv_bias: bool. Whether the query/key/value projections have a
            bias.
        fused_qkv: bool or None. True computes the three projections as one
            `(hidden, 3 * hidden)` matmul over the concatenated kernels, and
            the output projection as a 2-D matmul; False uses the three
            `EinsumDense` layers. Same variables, same results (to float
            rounding); None (default) picks the form measured faster on the
            current backend (`FUSED_QKV_DEFAULT`).
        seed: int or None. Seed of the dropout layers.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        tokens: tensor of shape `(batch, num_tokens, hidden_dim)`.
        training: bool. Whether dropout is active.
        return_attention_scores: bool. Also return the attention
            probabilities (after softmax, before dropout).

    Returns:
        Tensor of shape `(batch, num_tokens, hidden_dim)`; with
        `return_attention_scores=True`, a tuple of it and the probabilities of
        shape `(batch, num_heads, num_tokens, num_tokens)`.

    Example:
    >>> import numpy as np
    >>> layer = MultiHeadSelfAttention(num_heads=2)
    >>> out, probs = layer(np.ones((1, 5, 8), "float32"), return_attention_scores=True)
    >>> tuple(out.shape), tuple(probs.shape)
    ((1, 5, 8), (1, 2, 5, 5))
    """

    def __init__(
        self,
        num_heads,
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
        use_qkv_bias=True,
        fused_qkv=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.fused_qkv = check_bool("fused_qkv", fused_qkv, allow_none=True)
        self._fused = FUSED_QKV_DEFAULT[keras.backend.backend()] if self.fused_qkv is None else self.fused_qkv
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.dropout_rate = check_rate("dropout_rate", dropout_rate)
        self.attention_dropout_rate = check_rate("attention_dropout_rate", attention_dropout_rate)
        self.use_qkv_bias = check_bool("use_qkv_bias", use_qkv_bias)
        self.seed = seed = check_seed("seed", seed)
        self.attention_dropout = keras.layers.Dropout(
            self.attention_dropout_rate, seed=seed, dtype=self.dtype_policy,
            name="attention_dropout",
        )
        self.output_dropout = keras.layers.Dropout(
            self.dropout_rate, seed=None if seed is None else seed + 1,
            dtype=self.dtype_policy, name="output_dropout",
        )

    def build(self, input_shape):
        hidden_dim = input_shape[-1]
        if hidden_dim % self.num_heads != 0:
            raise ValueError(
                f"The hidden size must be divisible by num_heads={self.num_heads}. "
                f"Received input shape: {tuple(input_shape)}"
            )
        self.head_dim = hidden_dim // self.num_heads
        kernel_init = TruncatedNormal(stddev=0.02)

        def projection(name):
            return keras.layers.EinsumDense(
                "btd,dnh->btnh",
                output_shape=(None, self.num_heads, self.head_dim),
                bias_axes="nh" if self.use_qkv_bias else None,
                kernel_initializer=kernel_init,
                dtype=self.dtype_policy,
                name=name,
            )

        self.query = projection("query")
        self.key = projection("key")
        self.value = projection("value")
        self.attention_output = keras.layers.EinsumDense(
            "btnh,nhd->btd",
            output_shape=(None, hidden_dim),
            bias_axes="d",
            kernel_initializer=kernel_init,
            dtype=self.dtype_policy,
            name="attention_output",
        )
        for dense in (self.query, self.key, self.value):
            dense.build(input_shape)
        self.attention_output.build((input_shape[0], input_shape[1], self.num_heads, self.head_dim))

    def _fused_projections(self, tokens):
        # One (hidden, 3 * hidden) matmul instead of three: the kernels stay
        # the three frozen variables and are concatenated on the fly (a
        # copy of 3 * hidden^2 numbers, small next to the matmul's
        # tokens * hidden * 3 * hidden multiply-adds).
        hidden_dim = self.num_heads * self.head_dim
        projections = (self.query, self.key, self.value)
        kernel = ops.concatenate(
            [ops.reshape(dense.kernel, (-1, hidden_dim)) for dense in projections], axis=-1
        )
        qkv = project(tokens, kernel)
        if self.use_qkv_bias:
            qkv = qkv + ops.concatenate(
                [ops.reshape(dense.bias, (hidden_dim,)) for dense in projections], axis=-1
            )
        qkv = ops.reshape(qkv, (-1, _num_tokens(tokens), 3, self.num_heads, self.head_dim))
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]

    def _output_projection(self, context):
        # (batch, tokens, heads, head_dim) -> (batch, tokens, hidden) as one
        # 2-D matmul over the merged head axes.
        dense = self.attention_output
        hidden_dim = self.num_heads * self.head_dim
        merged = ops.reshape(context, (-1, _num_tokens(context), hidden_dim))
        return project(merged, ops.reshape(dense.kernel, (hidden_dim, -1))) + dense.bias

    def _direct(self, *layers):
        # Compute these EinsumDense layers from their variables as 2-D
        # matmuls through `project` (projection.DIRECT_PROJECTIONS), unless
        # one of them is quantized (a LoRA-enabled kernel includes its update).
        return direct_projections() and all(plain_dense(layer) for layer in layers)

    def _separate_projections(self, tokens):
        projections = (self.query, self.key, self.value)
        if not self._direct(*projections):
            return tuple(dense(tokens) for dense in projections)
        shape = (-1, _num_tokens(tokens), self.num_heads, self.head_dim)
        outputs = []
        for dense in projections:
            x = project(tokens, ops.reshape(dense.kernel, (tokens.shape[-1], -1)))
            if self.use_qkv_bias:
                x = x + ops.reshape(dense.bias, (-1,))
            outputs.append(ops.reshape(x, shape))
        return tuple(outputs)

    def _explicit_attention(self, query, key, value, training):
        # Same maths as dot_product_attention, written out so the
        # probabilities exist as a tensor; softmax in float32 for stability
        # under mixed precision.
        scale = 1.0 / (self.head_dim**0.5)
        logits = ops.einsum("btnh,bsnh->bnts", query, key)
        probs = ops.softmax(ops.cast(logits, "float32") * scale, axis=-1)
        probs = ops.cast(probs, self.compute_dtype)
        dropped = self.attention_dropout(probs, training=training)
        return ops.einsum("bnts,bsnh->btnh", dropped, value), probs

    def call(self, tokens, training=None, return_attention_scores=False):
        return_attention_scores = check_bool("return_attention_scores", return_attention_scores)
        if self._fused:
            query, key, value = self._fused_projections(tokens)
        else:
            query, key, value = self._separate_projections(tokens)
        explicit = return_attention_scores or (training and self.attention_dropout_rate > 0)
        if explicit:
            context, probs = self._explicit_attention(query, key, value, training)
        else:
            context = attention(query, key, value)
        if self._fused or self._direct(self.attention_output):
            projected = self._output_projection(context)
        else:
            projected = self.attention_output(context)
        output = self.output_dropout(projected, training=training)
        if return_attention_scores:
            return output, probs
        return output

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "dropout_rate": self.dropout_rate,
                "attention_dropout_rate": self.attention_dropout_rate,
                "use_qkv_bias": self.use_qkv_bias,
                "fused_qkv": self.fused_qkv,
                "seed": self.seed,
            }
        )
        return config
