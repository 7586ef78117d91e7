"""The token projection of every dense layer in a ViT block: `x @ kernel`
over the last axis, with a weight gradient that XLA on the CPU runs fast.

Why it exists (docs/performance.md, "JAX on the CPU"): differentiating
`y = x @ w`, JAX computes the weight gradient as `dot(dy, x)` with the
cotangent `dy` as the left operand, contracted over its batch and token
axes. XLA's CPU compiler lays that out by copying `dy` transposed, and fuses
into the copy the elementwise work that produced `dy` (the GELU derivative,
the LayerNorm backward, the residual sums of every later block). A fused
copy in transposed order runs scalar, strided code: in ViT-Ti/16 such
copies took a third of the training step, and because the residual
gradient chain was recomputed inside the copy of each block, the cost grew
with depth. Contracting the *activation* first, `dot(x, dy)`, moves the
transposed copy onto `x`, a tensor that is already in memory.

The maths is the same `x^T dy` either way; only the operand order of the
weight-gradient dot changes. The fast path is on where it was measured to
help (`ACTIVATION_FIRST_GRADIENT`: the JAX backend); elsewhere `project`
is `ops.matmul`.
"""

import keras
from keras import ops

# Per Keras backend: whether `project` uses the activation-first weight
# gradient. TensorFlow's XLA programs and PyTorch's eager kernels already
# handle the transposed operand without a fused strided copy.
ACTIVATION_FIRST_GRADIENT = {"jax": True, "tensorflow": False, "torch": False,
                             "numpy": False, "openvino": False}

# Per Keras backend: whether the attention's q/k/v and output projections
# (`EinsumDense` layers with (hidden, heads, head_dim) kernels) run as 2-D
# matmuls over their reshaped kernels through `project`. On JAX this is
# what brings the activation-first gradient to the attention.
DIRECT_PROJECTIONS = {"jax": True, "tensorflow": False, "torch": False, "numpy": False, "openvino": False}


def direct_projections():
    """Whether the attention computes its projections as 2-D matmuls through
    `project` on the current Keras backend (`DIRECT_PROJECTIONS`)."""
    return DIRECT_PROJECTIONS.get(keras.backend.backend(), False)


def activation_first_gradient():
    """Whether `project` uses the activation-first weight gradient on the
    current Keras backend (`ACTIVATION_FIRST_GRADIENT`)."""
    return ACTIVATION_FIRST_GRADIENT.get(keras.backend.backend(), False)


@ops.custom_gradient
def _activation_first(x, kernel):
    outputs = ops.matmul(x, kernel)

    def grad(*args, upstream=None):
        if upstream is None:
            (upstream,) = args
        leading = list(range(len(x.shape) - 1))
        d_x = ops.tensordot(upstream, kernel, axes=([-1], [1]))
        d_kernel = ops.tensordot(x, upstream, axes=(leading, leading))
        return d_x, d_kernel

    return outputs, grad


def project(x, kernel):
    """`x @ kernel` over the last axis of `x`.

    Args:
        x: tensor of shape `(..., in_features)`.
        kernel: 2-D tensor or variable of shape `(in_features, out_features)`.

    Returns:
        Tensor of shape `(..., out_features)`. Its gradient is the usual
        one; on the JAX backend the weight gradient is computed as
        `tensordot(x, upstream)` (see the module docstring).

    Example:
    >>> import numpy as np
    >>> tuple(project(np.ones((2, 5, 8), "float32"), np.ones((8, 3), "float32")).shape)
    (2, 5, 3)
    """
    if len(kernel.shape) != 2:
        raise ValueError(f"`kernel` must be 2-D (in_features, out_features). Received shape {tuple(kernel.shape)}")
    if activation_first_gradient():
        # A tensor, not the variable: TensorFlow's custom_gradient would
        # otherwise ask for the variables it reads.
        return _activation_first(x, ops.convert_to_tensor(kernel))
    return ops.matmul(x, kernel)


def plain_dense(layer):
    """Whether a built `Dense`/`EinsumDense` layer is a float projection that
    `dense` may compute from its `kernel` and `bias` (not quantized; a
    LoRA-enabled layer's `kernel` already includes the low-rank update)."""
    return getattr(layer, "quantization_mode", None) is None


def dense(layer, x):
    """Applies a built `keras.layers.Dense` (linear, with or without bias)
    through `project`; a quantized layer is called as usual.

    Args:
        layer: a built `keras.layers.Dense` without activation.
        x: tensor of shape `(..., layer.kernel.shape[0])`.

    Returns:
        `layer(x)`, to float rounding.
    """
    if not plain_dense(layer) or not activation_first_gradient():
        return layer(x)
    outputs = project(x, layer.kernel)
    if layer.use_bias:
        outputs = outputs + layer.bias
    return outputs
