import keras
from keras import ops

from keras_vit._validation import check_float


@keras.saving.register_keras_serializable(package="keras_vit")
class LayerScale(keras.layers.Layer):
    """Learned per-channel scaling of a residual branch (CaiT's LayerScale).

    Multiplies the branch by a vector initialised to a small constant, so a
    deep network starts close to the identity (Touvron et al., "Going deeper
    with Image Transformers", ICCV 2021). The variable is named
    `layer_scale`, shape `(hidden_dim,)`.

    Args:
        init_value: float > 0. Initial value of every channel's scale
            (CaiT and DINOv2 use 1e-5 to 1e-1 depending on depth).
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: tensor of shape `(..., hidden_dim)`.

    Returns:
        Tensor of the same shape, `inputs * layer_scale`.

    Example:
    >>> import numpy as np
    >>> out = LayerScale(0.1)(np.ones((1, 2, 4), "float32"))
    >>> bool(np.allclose(keras.ops.convert_to_numpy(out), 0.1))
    True
    """

    def __init__(self, init_value, **kwargs):
        super().__init__(**kwargs)
        self.init_value = check_float("init_value", init_value, low=0.0, low_open=True)

    def build(self, input_shape):
        self.layer_scale = self.add_weight(
            shape=(input_shape[-1],),
            initializer=keras.initializers.Constant(self.init_value),
            name="layer_scale",
        )

    def call(self, inputs):
        return inputs * ops.cast(self.layer_scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"init_value": self.init_value})
        return config
