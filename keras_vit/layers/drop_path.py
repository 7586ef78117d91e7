import keras
from keras import ops

from keras_vit._validation import check_rate, check_seed


@keras.saving.register_keras_serializable(package="keras_vit")
class DropPath(keras.layers.Layer):
    """Stochastic depth: drops a residual branch for whole samples.

    In training, each sample's input is zeroed with probability `rate` and
    the kept samples are scaled by `1 / (1 - rate)`, so the expectation is
    unchanged (Huang et al., "Deep Networks with Stochastic Depth", 2016; the
    per-sample form used by DeiT and timm). At inference it is the identity.
    Randomness comes from a `keras.random.SeedGenerator`, so it works inside
    jit-compiled train steps on every backend.

    Args:
        rate: float in [0, 1). Probability of dropping a sample's branch.
        seed: int or None. Seed of the layer's random generator.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: tensor whose first axis is the batch.
        training: bool. Whether to drop.

    Returns:
        Tensor of the same shape as `inputs`.

    Example:
    >>> import numpy as np
    >>> x = np.ones((4, 3, 2), "float32")
    >>> out = DropPath(0.5)(x, training=False)
    >>> bool(np.array_equal(keras.ops.convert_to_numpy(out), x))
    True
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate("rate", rate)
        self.seed = check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep_prob = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        noise = keras.random.uniform(shape, dtype="float32", seed=self.seed_generator)
        mask = ops.cast(noise < keep_prob, inputs.dtype)
        return inputs * (mask / ops.cast(keep_prob, inputs.dtype))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
