"""Whether a tensor's values can be read now, on any backend.

The one place outside the backends' own code that knows their tensor types:
`keras_vit.layers` and `keras_vit.models` use `keras.ops` only and ask here.
"""

import keras


def is_concrete(values):
    """Whether the values of `values` can be read now: NumPy data and eager
    tensors, not `keras.Input`s, `tf.function`/`tf.data` graph tensors, JAX
    tracers or tensors being traced by `torch.compile`.

    Args:
        values: an array, tensor, list or scalar.

    Returns:
        bool.

    Example:
    >>> import numpy as np
    >>> is_concrete(np.zeros(2)), is_concrete(keras.Input((2,)))
    (True, False)
    """
    if isinstance(values, keras.KerasTensor):
        return False
    module = type(values).__module__
    if module.startswith("tensorflow"):
        import tensorflow as tf

        return tf.executing_eagerly()
    if module.startswith("jax"):
        import jax

        return not isinstance(values, jax.core.Tracer)
    if module.startswith("torch"):
        import torch

        return not torch.compiler.is_compiling()
    return True  # NumPy arrays, lists, scalars
