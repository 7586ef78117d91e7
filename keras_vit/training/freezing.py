"""Freezing parts of a Vision Transformer and unfreezing them during `fit`.

Freezing changes `layer.trainable`, which Keras 3 reads only when a training
function is built: the optimizer builds its slots over the trainable
variables once, and `fit` caches its compiled step (on JAX it also carries
the variables in a state tuple). Every function here therefore makes the
change take effect in an already compiled (even mid-`fit`) model: it
rebuilds the optimizer's slots over the new trainable variables, keeping the
iteration count, the learning rate and the slots of the variables that stay
trainable, and rebuilds the training step. No recompile is needed.
"""

import contextlib
import numbers

import keras
from keras import ops

from keras_vit import layer_names
from keras_vit._validation import check_bool, check_float, check_non_negative_int
from keras_vit.training import _state

# The layers before the first transformer block (each optional but the first).
EMBEDDING_LAYERS = layer_names.EMBEDDING_LAYERS


# --------------------------------------------------------------------------
# The model's structure
# --------------------------------------------------------------------------


def _num_blocks(model):
    """Checks that `model` is a keras_vit ViT and returns its block count."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras_vit.VisionTransformer. Received: "
            f"model={model!r} of type {type(model).__name__}"
        )
    names = {layer.name for layer in model.layers}
    num_layers = getattr(model, "num_layers", None)
    if not isinstance(num_layers, int):
        num_layers = 0
        num_layers = len(layer_names.block_names(model))
    missing = [
        name
        for name in (layer_names.PATCH_EMBEDDING,
                     *(layer_names.block_name(i) for i in range(num_layers)))
        if name not in names
    ]
    if num_layers < 1 or missing:
        raise TypeError(
            "`model` must be a keras_vit.VisionTransformer (layers `patch_embedding`, "
            "`transformer_block_0`, ..., `encoder_norm`, `head`). "
            f"Received model {model.name!r} with layers {sorted(names)}"
        )
    return num_layers


def _check_num_blocks(num_blocks, num_layers, name="num_blocks"):
    if num_blocks is None:
        return num_layers
    num_blocks = check_non_negative_int(name, num_blocks)
    if num_blocks > num_layers:
        raise ValueError(
            f"`{name}` must be None (every block) or an integer in [0, {num_layers}] "
            f"for this model of {num_layers} blocks. Received: {name}={num_blocks}"
        )
    return num_blocks


def _frozen_names(model, num_layers, num_blocks, embeddings, head):
    """Names of the top-level layers `freeze` leaves frozen."""
    names = {layer.name for layer in model.layers}
    frozen = [name for name in EMBEDDING_LAYERS if embeddings and name in names]
    frozen += [layer_names.block_name(i) for i in range(num_blocks)]
    if num_blocks == num_layers:
        # The final norm and the pooling (attention pool, fc_norm) between
        # the blocks and the head.
        frozen += [name for name in layer_names.POOLING_LAYERS if name in names]
    if head:
        frozen += [name for name in layer_names.HEAD_LAYERS if name in names]
    return frozen


def frozen_layers(model):
    """Lists the top-level layers of `model` whose weights are all frozen.

    Args:
        model: a `keras_vit.VisionTransformer` (any `keras.Model` works).

    Returns:
        list of str: names of the layers that hold weights but no trainable
        weight, in the model's order.

    Example:
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> frozen_layers(model)
    []
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: model={model!r}")
    return [layer.name for layer in model.layers if layer.weights and not (model.trainable and layer.trainable_weights)]


# --------------------------------------------------------------------------
# Making a change of `trainable` take effect in a compiled model
# --------------------------------------------------------------------------


def _strategy_scope(model):
    strategy = getattr(model, "distribute_strategy", None)  # TensorFlow only
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def _rebuild_slots(optimizer, variables):
    """Rebuilds `optimizer`'s per-variable state over `variables` in place.

    The iteration count and learning rate variables are kept; each new slot
    (Adam moments, EMA, gradient accumulators, ...) starts from the old slot
    of the same path where the variable was trainable before, zeros
    otherwise.
    """
    keep = [optimizer._iterations]
    if isinstance(optimizer._learning_rate, keras.Variable):
        keep.append(optimizer._learning_rate)
    keep_ids = {id(variable) for variable in keep}
    old_slots = {variable.path: variable for variable in optimizer._variables if id(variable) not in keep_ids}
    # `_variables` is the list the optimizer's tracker appends to: edit it in
    # place (item by item: TensorFlow's tracked list compares slice values).
    for index in reversed(range(len(optimizer._variables))):
        if id(optimizer._variables[index]) not in keep_ids:
            del optimizer._variables[index]
    optimizer._trainable_variables_indices.clear()
    optimizer.built = False
    with keras.name_scope(optimizer.name, caller=optimizer):
        optimizer.build(variables)
    for slot in optimizer._variables:
        old = old_slots.get(slot.path)
        if id(slot) not in keep_ids and old is not None and tuple(old.shape) == tuple(slot.shape):
            slot.assign(old.value)


def _rebuild_optimizer(model, variables):
    optimizer = model.optimizer
    with _strategy_scope(model):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            _rebuild_slots(optimizer.inner_optimizer, variables)
            # The wrapper's own state (loss scale, step counter) is kept; it
            # only indexes the variables.
            optimizer._trainable_variables_indices.clear()
            for index, variable in enumerate(variables):
                optimizer._trainable_variables_indices[optimizer._var_key(variable)] = index
            optimizer._trainable_variables = variables[:]
        else:
            _rebuild_slots(optimizer, variables)


def _refresh(model, force=False):
    """Makes the current `trainable` flags (and optimizer variables) take
    effect in a compiled model, also between the batches of `fit`."""
    if not getattr(model, "compiled", False):
        return
    variables = model.trainable_variables
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and optimizer.built:
        if not force and [id(v) for v in optimizer._trainable_variables] == [id(v) for v in variables]:
            return
        _rebuild_optimizer(model, variables)
    if model.train_function is not None:
        model.make_train_function(force=True)
    model.test_function = None
    model.predict_function = None
    if hasattr(model, "_compiled_trainable_state"):
        # Keras warns at `fit` when the flags changed since `compile`: they
        # have been taken into account.
        model._compiled_trainable_state = {layer: layer.trainable for layer in model._flatten_layers()}


def _set_frozen(model, names, force=False):
    _state.sync_before_assign(model)  # JAX: write the trainer's state back first
    # On TensorFlow `model.trainable = True` is a no-op when the flag is
    # already True (Keras's TF `__setattr__` short-circuits an assignment of
    # the same object), leaving frozen sublayers frozen: go through False.
    model.trainable = False
    model.trainable = True
    for name in names:
        model.get_layer(name).trainable = False
    _refresh(model, force=force)
    return frozen_layers(model)


# --------------------------------------------------------------------------
# Freezing
# --------------------------------------------------------------------------


def freeze(model, num_blocks=None, embeddings=True, head=False):
    """Freezes the embeddings and the first `num_blocks` transformer blocks.

    The call is declarative: afterwards exactly the layers listed below are
    frozen and every other layer is trainable. With `num_blocks=None` every
    block and the final `encoder_norm` are frozen too: only the `head` trains
    ("linear probing" / head warm-up; `freeze_backbone` says it shorter).

    Frozen layers keep their values bit for bit in `fit` (LayerNorm and
    dropout behave the same frozen or not: a ViT has no BatchNorm). The
    change takes effect even in a compiled model that has already trained:
    the optimizer's slots are rebuilt over the new trainable variables
    (keeping its iteration count and the state of the variables that stay
    trainable) and the training step is rebuilt, so no recompile is needed.

    Args:
        model: a `keras_vit.VisionTransformer`.
        num_blocks: int in `[0, model.num_layers]` or None. Number of leading
            transformer blocks (`transformer_block_0`, ...) to freeze; None
            freezes every block and `encoder_norm`.
        embeddings: bool. Also freeze `patch_embedding`, `class_token`,
            `position_embedding` and `register_tokens` (when present).
        head: bool. Also freeze the classification `head` (e.g. to train the
            backbone under a fixed classifier). Needs `include_top=True`.

    Returns:
        list of str: the names of the frozen layers (as `frozen_layers`).

    Example:
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> freeze(model, num_blocks=1)
    ['patch_embedding', 'class_token', 'position_embedding', 'transformer_block_0']
    >>> freeze(model)[-2:]  # every block: only the head trains
    ['transformer_block_1', 'encoder_norm']
    """
    num_layers = _num_blocks(model)
    num_blocks = _check_num_blocks(num_blocks, num_layers)
    embeddings = check_bool("embeddings", embeddings)
    head = check_bool("head", head)
    if head and "head" not in {layer.name for layer in model.layers}:
        raise ValueError("`head=True` needs a model with a `head` layer; this one was built with include_top=False.")
    return _set_frozen(model, _frozen_names(model, num_layers, num_blocks, embeddings, head))


def freeze_backbone(model):
    """Freezes everything but the `head`: `freeze(model, num_blocks=None)`.

    Args:
        model: a `keras_vit.VisionTransformer`.

    Returns:
        list of str: the names of the frozen layers.

    Example:
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> _ = freeze_backbone(model)
    >>> [v.path for v in model.trainable_weights]
    ['head/kernel', 'head/bias']
    """
    return freeze(model, num_blocks=None)


def unfreeze(model):
    """Makes every layer of `model` trainable again (in a compiled model too).

    Args:
        model: a `keras_vit.VisionTransformer`.

    Returns:
        list of str: the frozen layers afterwards, i.e. `[]`.

    Example:
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> _ = freeze_backbone(model)
    >>> unfreeze(model)
    []
    """
    _num_blocks(model)
    return _set_frozen(model, [])


# --------------------------------------------------------------------------
# Staged unfreezing during fit
# --------------------------------------------------------------------------


def _check_learning_rate(learning_rate):
    if learning_rate is None or isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        return learning_rate
    if isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
        return check_float("learning_rate", learning_rate, low=0.0)
    raise TypeError(
        "`learning_rate` must be None, a float >= 0 or a LearningRateSchedule. "
        f"Received: learning_rate={learning_rate!r}"
    )


def _set_learning_rate(model, learning_rate):
    optimizer = model.optimizer
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        optimizer = optimizer.inner_optimizer
    if isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        optimizer.learning_rate = learning_rate  # replaces (and untracks) a float's variable
    elif isinstance(optimizer._learning_rate, keras.Variable):
        optimizer.learning_rate = learning_rate
    else:
        # From a schedule to a float, which Keras's setter refuses: give the
        # optimizer the variable its constructor would have made.
        with _strategy_scope(model), keras.name_scope(optimizer.name, caller=optimizer):
            variable = keras.Variable(
                learning_rate,
                name="learning_rate",
                dtype=keras.config.floatx(),
                trainable=False,
                aggregation="only_first_replica",
            )
        optimizer._track_variable(variable)
        optimizer._learning_rate = variable


class UnfreezeCallback(keras.callbacks.Callback):
    """Unfreezes a frozen ViT at the start of epoch `epoch` of `fit`.

    The usual two-stage fine-tuning recipe in one `fit`: train the new head
    with the backbone frozen (`freeze_backbone`) for `epoch` epochs, then
    train everything. The change takes effect in the running `fit` on every
    backend: the optimizer's slots are rebuilt over the new trainable
    variables and the compiled training step is rebuilt (a retrace).

    What carries over: the optimizer's iteration count (so a
    `LearningRateSchedule`, or `WarmupCosineScheduler`, continues where it
    was) and the Adam moments of the variables that were already trainable.
    Newly trainable variables start with zero moments. Keras's Adam corrects
    the moments' bias with the global step, not per variable, so their first
    updates are larger than the learning rate (up to a few times, fading
    over about `1 / (1 - beta_2)` steps); a lower `learning_rate` here, or
    layer-wise decay (`create_layer_decay_adamw`), keeps that gentle.

    Args:
        epoch: int >= 0. Index (0-based, as `fit` counts) of the first epoch
            trained with the unfrozen layers, i.e. the layers unfreeze after
            `epoch` epochs. With `fit(initial_epoch=...)` past it, they
            unfreeze at the first epoch.
        frozen_blocks: int or None. None makes every layer trainable;
            an int keeps the embeddings and that many leading blocks frozen
            (`freeze(model, frozen_blocks)`), for gradual unfreezing with
            several callbacks.
        learning_rate: None, float >= 0 or `LearningRateSchedule`. Learning
            rate from the unfreezing on (e.g. lower than the head's). A
            schedule is evaluated at the optimizer's global step, which is
            not reset. None keeps the optimizer's.
        verbose: bool. Print a line when the layers unfreeze.

    Example:
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> _ = freeze_backbone(model)  # epochs 0-2: the head only
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> callback = UnfreezeCallback(epoch=3, learning_rate=1e-4)  # then everything
    >>> model.fit(images, labels, epochs=10, callbacks=[callback])  # doctest: +SKIP
    """

    def __init__(self, epoch, frozen_blocks=None, learning_rate=None, verbose=True):
        super().__init__()
        self.epoch = check_non_negative_int("epoch", epoch)
        self.frozen_blocks = None if frozen_blocks is None else check_non_negative_int("frozen_blocks", frozen_blocks)
        self.learning_rate = _check_learning_rate(learning_rate)
        self.verbose = check_bool("verbose", verbose)
        self.unfrozen_at = None

    def on_train_begin(self, logs=None):
        # Checked before the first step, not at the unfreezing epoch.
        num_layers = _num_blocks(self.model)
        if self.frozen_blocks is not None:
            _check_num_blocks(self.frozen_blocks, num_layers, name="frozen_blocks")
        self.unfrozen_at = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.unfrozen_at is not None or epoch < self.epoch:
            return
        self.unfrozen_at = epoch
        _state.sync_before_assign(self.model)
        if self.learning_rate is not None:
            _set_learning_rate(self.model, self.learning_rate)
        num_layers = _num_blocks(self.model)
        names = (
            []
            if self.frozen_blocks is None
            else _frozen_names(self.model, num_layers, self.frozen_blocks, embeddings=True, head=False)
        )
        # A new learning-rate variable changes the optimizer's state too.
        frozen = _set_frozen(self.model, names, force=self.learning_rate is not None)
        if self.verbose:
            count = sum(int(ops.size(v)) for v in self.model.trainable_weights)
            print(
                f"Epoch {epoch + 1}: unfroze the model ({len(frozen)} layers still frozen); "
                f"{count:,} trainable parameters."
            )
