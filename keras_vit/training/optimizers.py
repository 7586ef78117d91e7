"""AdamW configured the way ViT recipes use it."""

import re

import keras

from keras_vit._validation import check_float, check_optional, check_positive_int

from keras_vit.training.schedules import WarmupCosine

# Short variable names (what `AdamW.exclude_from_weight_decay(var_names=...)`
# matches) that get no weight decay: every bias, LayerNorm's `gamma`/`beta`,
# and keras_vit's tokens, position embedding and LayerScale. Together these
# are exactly timm's rule, "every 1-D parameter, plus pos_embed, cls_token,
# dist_token and reg_token" (the test checks the two agree on a whole model).
NO_WEIGHT_DECAY_NAMES = (
    "bias",
    "gamma",
    "beta",
    "class_token",
    "distillation_token",
    "position_embedding",
    "register_tokens",
    "layer_scale",
)

# DeiT's linear scaling rule: lr = base_lr * global_batch / 512.
REFERENCE_BATCH_SIZE = 512


def scale_learning_rate(base_learning_rate, global_batch_size, reference_batch_size=REFERENCE_BATCH_SIZE):
    """Scales a learning rate linearly with the global batch size (DeiT).

    DeiT trains ViT-B/16 with `base_learning_rate=5e-4` for every 512 images
    in the global batch, i.e. `lr = base_lr * global_batch_size / 512`.

    Args:
        base_learning_rate: float, or a `WarmupCosine` whose rates are all
            scaled.
        global_batch_size: int. Images per optimizer update over all replicas
            (times `gradient_accumulation_steps` when accumulating).
        reference_batch_size: int. Batch size `base_learning_rate` refers to.
            Defaults to 512.

    Returns:
        The scaled float or `WarmupCosine`.

    Example:
    >>> scale_learning_rate(5e-4, 1024)
    0.001
    """
    check_positive_int("global_batch_size", global_batch_size)
    check_positive_int("reference_batch_size", reference_batch_size)
    factor = global_batch_size / reference_batch_size
    if isinstance(base_learning_rate, WarmupCosine):
        return base_learning_rate.scaled(factor)
    return check_float("base_learning_rate", base_learning_rate, low=0.0) * factor


def create_adamw(
    learning_rate=1e-3,
    weight_decay=0.05,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-8,
    global_clipnorm=None,
    gradient_accumulation_steps=None,
    global_batch_size=None,
    reference_batch_size=REFERENCE_BATCH_SIZE,
    exclude_from_weight_decay=NO_WEIGHT_DECAY_NAMES,
):
    """Returns `keras.optimizers.AdamW` set up for Vision Transformers.

    Decoupled weight decay (Loshchilov & Hutter 2019) applies to the dense
    and convolution kernels only: biases, LayerNorm scales and offsets, the
    class token, position embedding, register tokens and LayerScale are
    excluded by their variable names (`NO_WEIGHT_DECAY_NAMES`), as in DeiT and
    timm. Each step Keras first shrinks every decayed variable by
    `learning_rate * weight_decay` times its value, then applies the Adam
    update. The defaults are DeiT's (`weight_decay=0.05`, `epsilon=1e-8`).

    Args:
        learning_rate: float or `LearningRateSchedule`. Use a float (e.g. 0.0)
            when a `WarmupCosineScheduler` callback sets it. With
            `global_batch_size`, this is the base rate for
            `reference_batch_size` images and is scaled linearly.
        weight_decay: float >= 0. Decoupled weight decay coefficient.
        beta_1: float. Adam's first-moment decay.
        beta_2: float. Adam's second-moment decay.
        epsilon: float. Adam's epsilon.
        global_clipnorm: float or None. Clip the gradients so that their
            global norm is at most this (big_vision and Google fine-tuning
            use 1.0).
        gradient_accumulation_steps: int >= 2 or None. Average the gradients
            of this many batches before each update, for an effective batch
            that many times larger; schedules still count every batch.
        global_batch_size: int or None. If given, apply DeiT's rule
            `lr = learning_rate * global_batch_size / reference_batch_size`
            (pass the effective batch: replicas x per-replica batch x
            accumulation steps).
        reference_batch_size: int. See `global_batch_size`. Defaults to 512.
        exclude_from_weight_decay: sequence of str. Short variable names
            without weight decay (exact matches).

    Returns:
        A `keras.optimizers.AdamW`.

    Example:
    >>> optimizer = create_adamw(5e-4, global_batch_size=1024, global_clipnorm=1.0)
    >>> round(float(optimizer.learning_rate), 6), optimizer.global_clipnorm
    (0.001, 1.0)
    """
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    global_clipnorm = check_optional(check_float, "global_clipnorm", global_clipnorm, low=0.0, low_open=True)
    gradient_accumulation_steps = check_optional(
        check_positive_int, "gradient_accumulation_steps", gradient_accumulation_steps
    )
    if gradient_accumulation_steps == 1:
        gradient_accumulation_steps = None  # Keras accepts only None or >= 2.
    if isinstance(exclude_from_weight_decay, str):
        raise TypeError(
            "`exclude_from_weight_decay` must be a sequence of names, not a string. "
            f"Received: exclude_from_weight_decay={exclude_from_weight_decay!r}"
        )
    if global_batch_size is not None:
        learning_rate = scale_learning_rate(learning_rate, global_batch_size, reference_batch_size)
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        global_clipnorm=global_clipnorm,
        gradient_accumulation_steps=gradient_accumulation_steps,
    )
    # Exact matches of the last name component. Keras searches these patterns
    # in `variable.name`, which is the short name ("bias") on JAX and PyTorch
    # but the full TensorFlow name ("block/attention/query/bias:0") when the
    # TensorFlow optimizer applies the decay.
    names = [rf"(?:^|/){re.escape(name)}(?::\d+)?$" for name in exclude_from_weight_decay]
    if names:
        optimizer.exclude_from_weight_decay(var_names=names)
    return optimizer
