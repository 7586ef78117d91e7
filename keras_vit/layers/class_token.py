import keras
from keras import ops

from keras_vit.layers.initializers import TruncatedNormal


@keras.saving.register_keras_serializable(package="keras_vit")
class ClassToken(keras.layers.Layer):
    """Prepends a learned class token (`[CLS]`) to a token sequence.

    The token's variable is named `class_token` (shape `(1, 1, hidden_dim)`)
    and is initialised truncated-normal with std 0.02, as in timm. Its output
    at the last block is the image representation when `pooling="token"`.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        tokens: tensor of shape `(batch, num_tokens, hidden_dim)`.

    Returns:
        Tensor of shape `(batch, 1 + num_tokens, hidden_dim)`; index 0 is the
        class token.

    Example:
    >>> import numpy as np
    >>> tuple(ClassToken()(np.zeros((2, 9, 8), "float32")).shape)
    (2, 10, 8)
    """

    _variable_name = "class_token"

    def build(self, input_shape):
        self.token = self.add_weight(
            shape=(1, 1, input_shape[-1]),
            initializer=TruncatedNormal(stddev=0.02),
            name=self._variable_name,
        )

    @property
    def class_token(self):
        return self.token

    def call(self, tokens):
        batch_size = ops.shape(tokens)[0]
        token = ops.cast(self.token, tokens.dtype)
        token = ops.broadcast_to(token, (batch_size, 1, ops.shape(tokens)[-1]))
        return ops.concatenate([token, tokens], axis=1)

    def get_config(self):
        # Explicit (no constructor arguments of its own): Keras's automatic
        # config fails when `dtype` is a DTypePolicy object, as the model
        # builders pass it.
        return super().get_config()

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], length, input_shape[2])


@keras.saving.register_keras_serializable(package="keras_vit")
class DistillationToken(ClassToken):
    """Prepends a learned distillation token (DeiT) to a token sequence.

    The same as `ClassToken` with its variable named `distillation_token`.
    A distilled ViT applies it before the class token, so the sequence is
    `[class, distillation, patches...]` as in DeiT; the distillation
    token's output feeds the second head (`head_dist`), which is trained to
    match a teacher's predictions.

    Reference: Touvron et al., "Training data-efficient image transformers
    & distillation through attention", ICML 2021.

    Args:
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`).

    Returns:
        Tensor of shape `(batch, 1 + num_tokens, hidden_dim)`; index 0 is the
        distillation token.

    Example:
    >>> import numpy as np
    >>> tuple(DistillationToken()(np.zeros((2, 9, 8), "float32")).shape)
    (2, 10, 8)
    """

    _variable_name = "distillation_token"
