import math

import keras
from keras import ops

from keras_vit._validation import check_float, check_seed

# Probability mass of a standard normal below -2: the truncation point.
_LOWER_TAIL = 0.5 * math.erfc(2.0 / math.sqrt(2.0))


@keras.saving.register_keras_serializable(package="keras_vit")
class TruncatedNormal(keras.initializers.Initializer):
    """Normal distribution truncated at two standard deviations, on every backend.

    The initialiser of ViT's kernels, tokens and position embedding (std 0.02
    in timm and the reference JAX code). It samples by inverting the normal
    CDF on the truncated interval, so every value lies in
    `[mean - 2 std, mean + 2 std]` on every backend. (Keras's own
    `TruncatedNormal` on the PyTorch backend draws four candidates per value
    and keeps an out-of-range one when all four are, about once in 230,000
    values: a few per ViT-B kernel.)

    Args:
        stddev: float > 0. Standard deviation of the untruncated normal.
        mean: float. Its mean.
        seed: int or None. Seed; None draws from Keras's global generator
            (reproducible after `keras.utils.set_random_seed`).

    Returns:
        An initializer: call it with a shape (and dtype) to get a tensor.

    Example:
    >>> values = keras.ops.convert_to_numpy(TruncatedNormal(0.02, seed=0)((1000,)))
    >>> bool(abs(values).max() <= 0.04 + 1e-7)
    True
    """

    def __init__(self, stddev=0.02, mean=0.0, seed=None):
        self.stddev = check_float("stddev", stddev, low=0.0, low_open=True)
        self.mean = check_float("mean", mean)
        self.seed = check_seed("seed", seed)
        self._generator = keras.random.SeedGenerator(self.seed) if self.seed is not None else None

    def __call__(self, shape, dtype=None):
        dtype = dtype or "float32"
        uniform = keras.random.uniform(
            shape, minval=_LOWER_TAIL, maxval=1.0 - _LOWER_TAIL, dtype="float32", seed=self._generator
        )
        normal = math.sqrt(2.0) * ops.erfinv(2.0 * uniform - 1.0)
        normal = ops.clip(normal, -2.0, 2.0)  # float32 rounding at the ends of erfinv
        return ops.cast(self.mean + self.stddev * normal, dtype)

    def get_config(self):
        return {"stddev": self.stddev, "mean": self.mean, "seed": self.seed}
