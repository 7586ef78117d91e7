"""Choosing the numeric precision of a training run."""

import keras

from keras_vit._choices import PRECISIONS


def precision_policy(precision):
    """Returns the `keras.DTypePolicy` for a training precision.

    Pass the result as `dtype=` to a keras_vit builder; nothing global is set.

    - `"float32"`: everything in float32.
    - `"mixed_bfloat16"`: matmuls and activations in bfloat16, variables in
      float32 (TPUs, Ampere and newer GPUs). No loss scaling is needed.
    - `"mixed_float16"`: as above in float16 (older GPUs). `model.compile`
      then wraps the optimizer in `keras.optimizers.LossScaleOptimizer`
      (dynamic loss scaling), so small gradients do not underflow.

    Under both mixed policies keras_vit keeps in float32 what is sensitive to
    rounding: LayerNorm statistics (Keras computes them in float32), the
    attention softmax (float32 in the explicit path and in the backends'
    fused kernels), the classification head and its softmax, and the loss;
    class and position tokens are stored in float32 and cast to the compute
    dtype when added.

    Args:
        precision: str. One of `"float32"`, `"mixed_bfloat16"`,
            `"mixed_float16"`.

    Returns:
        A `keras.DTypePolicy`.

    Example:
    >>> policy = precision_policy("mixed_bfloat16")
    >>> policy.compute_dtype, policy.variable_dtype
    ('bfloat16', 'float32')
    """
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}. Received: precision={precision!r}")
    return keras.dtype_policies.DTypePolicy(precision)
