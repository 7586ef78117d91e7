import keras
from keras import ops

from keras_vit.layers.initializers import TruncatedNormal
from keras_vit._validation import check_non_negative_int, check_positive_int


@keras.saving.register_keras_serializable(package="keras_vit")
class RegisterTokens(keras.layers.Layer):
    """Inserts learned register tokens after the leading prefix tokens.

    Registers (Darcet et al., "Vision Transformers Need Registers", ICLR 2024)
    are extra tokens that carry no position embedding and are discarded at the
    output; they absorb the global computation that otherwise produces
    high-norm artefact tokens in the attention maps. The variable is named
    `register_tokens`, shape `(1, num_tokens, hidden_dim)`, initialised
    truncated-normal with std 0.02.

    Args:
        num_tokens: int >= 1. Number of register tokens.
        insert_index: int >= 0. Position at which the registers are inserted;
            1 (the default) puts them right after the class token, the timm
            ordering `[CLS, registers..., patches...]`.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        tokens: tensor of shape `(batch, num_tokens_in, hidden_dim)`.

    Returns:
        Tensor of shape `(batch, num_tokens_in + num_tokens, hidden_dim)`.

    Example:
    >>> import numpy as np
    >>> tuple(RegisterTokens(4)(np.zeros((2, 10, 8), "float32")).shape)
    (2, 14, 8)
    """

    def __init__(self, num_tokens, insert_index=1, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = check_positive_int("num_tokens", num_tokens)
        self.insert_index = check_non_negative_int("insert_index", insert_index)

    def build(self, input_shape):
        if input_shape[1] is not None and input_shape[1] < self.insert_index:
            raise ValueError(
                f"`insert_index`={self.insert_index} is beyond the sequence "
                f"length. Received input shape: {tuple(input_shape)}"
            )
        self.register_tokens = self.add_weight(
            shape=(1, self.num_tokens, input_shape[-1]),
            initializer=TruncatedNormal(stddev=0.02),
            name="register_tokens",
        )

    def call(self, tokens):
        batch_size = ops.shape(tokens)[0]
        registers = ops.cast(self.register_tokens, tokens.dtype)
        registers = ops.broadcast_to(
            registers, (batch_size, self.num_tokens, ops.shape(tokens)[-1])
        )
        return ops.concatenate(
            [tokens[:, : self.insert_index], registers, tokens[:, self.insert_index :]],
            axis=1,
        )

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + self.num_tokens
        return (input_shape[0], length, input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update({"num_tokens": self.num_tokens, "insert_index": self.insert_index})
        return config
