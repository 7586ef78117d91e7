"""The attention kernel of `MultiHeadSelfAttention`: `softmax(q k^T / sqrt(d)) v`
for every head, through `keras.ops.dot_product_attention`, or one head at a
time where that was measured faster.

Why the per-head form exists (docs/performance.md, "JAX on the CPU"): on
the JAX backend Keras computes attention with `jax.nn.dot_product_attention`
(its XLA implementation), whose batched (batch x heads) matmuls XLA's CPU
compiler runs at 20-40 GFLOP/s at a ViT's shapes
(`benchmarks/dot_bound.py`). Computed head by head, each product is a
batch-only matmul over contiguous slices: ViT-Ti/16's attention forward
pass runs about 2x faster, forward with gradient about 1.4x
(`benchmarks/jax_cpu_attention.py`). The maths is the same; only the
order of the loops changes. The path is taken on the backends in
`PER_HEAD_ATTENTION` (JAX), on a CPU, in float32; everywhere else, and on
GPUs and TPUs, where the backend's fused or flash kernel is the fast one,
the kernel is `keras.ops.dot_product_attention`.
"""

import keras
from keras import ops

# Per Keras backend: whether float32 attention on a CPU runs one head at a
# time (`per_head_attention`) instead of `ops.dot_product_attention`.
PER_HEAD_ATTENTION = {"jax": True, "tensorflow": False, "torch": False, "numpy": False, "openvino": False}


def per_head_attention_enabled(dtype):
    """Whether `attention` computes one head at a time for inputs of
    `dtype`: on a backend in `PER_HEAD_ATTENTION`, with float32 inputs,
    when Keras's first device is a CPU."""
    if not PER_HEAD_ATTENTION.get(keras.backend.backend(), False):
        return False
    if keras.backend.standardize_dtype(dtype) != "float32":
        return False
    return _first_device_is_cpu()


def _first_device_is_cpu():
    # keras.distribution.list_devices() is not implemented on every
    # backend; where it is not, the device is unknown and the answer "no".
    try:
        devices = keras.distribution.list_devices()
    except (AttributeError, NotImplementedError):
        return False
    return bool(devices) and str(devices[0]).lower().startswith("cpu")


def per_head_attention(query, key, value):
    """`softmax(q k^T / sqrt(head_dim)) v`, one head at a time.

    Args:
        query, key, value: tensors of shape `(batch, tokens, heads, head_dim)`.

    Returns:
        Tensor of shape `(batch, tokens, heads, head_dim)`: what
        `keras.ops.dot_product_attention(query, key, value)` returns, to
        float rounding.

    Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 3, 4)).astype("float32")
    >>> out = per_head_attention(x, x, x)
    >>> bool(np.allclose(out, keras.ops.dot_product_attention(x, x, x), atol=1e-5))
    True
    """
    heads, head_dim = query.shape[-2], query.shape[-1]
    scale = 1.0 / (head_dim**0.5)
    contexts = []
    for head in range(heads):
        logits = ops.einsum("btd,bsd->bts", query[:, :, head] * scale, key[:, :, head])
        probs = ops.softmax(logits, axis=-1)
        contexts.append(ops.einsum("bts,bsd->btd", probs, value[:, :, head]))
    return ops.stack(contexts, axis=2)


def attention(query, key, value):
    """Scaled dot-product attention without mask or dropout: the per-head
    form where `per_head_attention_enabled`, else
    `keras.ops.dot_product_attention`.

    Args:
        query, key, value: tensors of shape `(batch, tokens, heads, head_dim)`.

    Returns:
        Tensor of shape `(batch, tokens, heads, head_dim)`.
    """
    if per_head_attention_enabled(query.dtype):
        return per_head_attention(query, key, value)
    return ops.dot_product_attention(query, key, value)
