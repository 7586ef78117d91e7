"""A callback that watches gradient norms, block by block."""

import math
import warnings

import keras
import numpy as np

from keras_vit._validation import check_bool, check_optional, check_positive_int
from keras_vit.training.gradients import gradient_function

# float16 gradients of small losses underflow; the probe loss is scaled by
# this (as loss scaling does in training) and the gradients unscaled after.
_FLOAT16_LOSS_SCALE = 2.0**12


def _groups(model):
    """Maps each trainable variable (by id) to the top-level layer owning it:
    patch_embedding, class_token, position_embedding, transformer_block_{i},
    encoder_norm, head, ... (keras_vit's stable layer names)."""
    owner = {}
    for layer in model.layers:
        for variable in layer.trainable_variables:
            owner.setdefault(id(variable), layer.name)
    return [owner.get(id(variable), "other") for variable in model.trainable_variables]


class GradientNormMonitor(keras.callbacks.Callback):
    """Logs the global gradient norm and one norm per block of the model.

    At the end of every epoch (and, optionally, every `every_n_batches`
    batches) the gradient of the loss on a fixed probe batch is computed at
    the current weights, and its L2 norms are written into the epoch logs:
    `grad_norm` over all trainable variables, and `grad_norm/<layer>` for each
    top-level layer that owns trainable variables (`patch_embedding`,
    `class_token`, `position_embedding`, `transformer_block_{i}`,
    `encoder_norm`, `head`). They therefore appear in `History`, `CSVLogger`
    and `TensorBoard` (place the `TensorBoard` callback after this one). A
    probe batch, rather than each training batch, keeps the readings
    comparable from epoch to epoch: a steady rise signals an exploding
    gradient, norms of the first blocks falling towards zero a vanishing one
    (the notes behind keras_vit: without LayerNorm, residuals and warmup a
    ViT's gradients explode or vanish). A warning is printed when the norm
    is not finite.

    The probe gradient costs one forward and backward pass on the probe
    batch per reading.

    Args:
        probe_data: tuple `(inputs, targets)`, one batch in the form the
            model is trained on (after preprocessing).
        loss: callable `loss(y_true, y_pred)`, or None for the loss the model
            was compiled with.
        every_n_batches: int or None. Also take a reading every this many
            batches, kept in `batch_history` (a dict of lists, with the
            global step under `"step"`).
        training: bool. Probe in training mode (dropout and drop path on).
            Defaults to False, for readings that depend only on the weights.

    Example:
    >>> import numpy as np
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2,
    ...     mlp_dim=32, input_shape=(8, 8, 3), classes=3, classifier_activation=None)
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> x, y = np.random.rand(8, 8, 8, 3).astype("float32"), np.arange(8) % 3
    >>> history = model.fit(x, y, epochs=1, verbose=0,
    ...                     callbacks=[GradientNormMonitor(probe_data=(x, y))])
    >>> sorted(k for k in history.history if k.startswith("grad_norm"))[:3]
    ['grad_norm', 'grad_norm/class_token', 'grad_norm/encoder_norm']
    """

    def __init__(self, probe_data, loss=None, every_n_batches=None, training=False):
        super().__init__()
        if not isinstance(probe_data, (tuple, list)) or len(probe_data) != 2:
            raise ValueError(
                "`probe_data` must be a tuple (inputs, targets). "
                f"Received: probe_data of type {type(probe_data).__name__}"
            )
        every_n_batches = check_optional(check_positive_int, "every_n_batches", every_n_batches)
        self.inputs = np.asarray(probe_data[0])
        self.targets = np.asarray(probe_data[1])
        self.loss = loss
        self.every_n_batches = every_n_batches
        self.training = check_bool("training", training)
        self.batch_history = {}
        self._epoch = 0
        self._gradients = None  # compiled on first use, for the model set by fit

    def _loss_fn(self):
        loss = self.loss if self.loss is not None else self.model.loss
        if loss is None:
            raise ValueError("GradientNormMonitor needs a `loss`: the model was compiled without one.")
        loss = keras.losses.get(loss) if isinstance(loss, str) else loss
        if self.model.dtype_policy.compute_dtype == "float16":
            return lambda y, p: keras.ops.mean(loss(y, p)) * _FLOAT16_LOSS_SCALE
        return lambda y, p: keras.ops.mean(loss(y, p))

    def gradient_norms(self):
        """Returns the current norms as a dict (the keys logged each epoch)."""
        if self._gradients is None or self._gradients_model is not self.model:
            self._gradients = gradient_function(self.model, self._loss_fn(), training=self.training)
            self._gradients_model = self.model
        grads = self._gradients(self.inputs, self.targets)
        scale = _FLOAT16_LOSS_SCALE if self.model.dtype_policy.compute_dtype == "float16" else 1.0
        squares = {}
        for group, grad in zip(_groups(self.model), grads):
            squares[group] = squares.get(group, 0.0) + float(np.sum(np.square(grad.astype("float64") / scale)))
        norms = {"grad_norm": math.sqrt(sum(squares.values()))}
        norms.update({f"grad_norm/{group}": math.sqrt(value) for group, value in squares.items()})
        if not math.isfinite(norms["grad_norm"]):
            bad = [key for key, value in norms.items() if not math.isfinite(value)]
            warnings.warn(f"Non-finite gradient norm at epoch {self._epoch}: {', '.join(bad)}", stacklevel=2)
        return norms

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.every_n_batches and (batch + 1) % self.every_n_batches == 0:
            steps = self.params.get("steps") or 0
            record = {"step": self._epoch * steps + batch + 1, **self.gradient_norms()}
            for key, value in record.items():
                self.batch_history.setdefault(key, []).append(value)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.gradient_norms())
