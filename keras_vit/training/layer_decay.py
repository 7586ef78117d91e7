"""Layer-wise learning-rate decay (BEiT, timm `layer_decay`) as an AdamW."""

import keras
from keras import ops

from keras_vit._validation import check_float
from keras_vit.training.freezing import EMBEDDING_LAYERS, _num_blocks
from keras_vit import layer_names
from keras_vit.training.optimizers import (
    NO_WEIGHT_DECAY_NAMES,
    REFERENCE_BATCH_SIZE,
    create_adamw,
    scale_learning_rate,
)

def _layer_multiplier(path, num_layers, decay):
    for part in path.split("/"):
        index = layer_names.block_index(part)
        if index is not None:
            return decay ** (num_layers - index)
        if part in EMBEDDING_LAYERS:
            return decay ** (num_layers + 1)
    return 1.0


def layer_decay_multipliers(model, decay):
    """Learning-rate multipliers of layer-wise decay (BEiT, timm `layer_decay`).

    With `L = model.num_layers` blocks, block `i` gets `decay ** (L - i)`,
    the embeddings (patch embedding, class token, position embedding,
    register tokens) `decay ** (L + 1)`, and `encoder_norm` and `head` 1:
    layers near the input, which hold the most general features, move least.

    Args:
        model: a `keras_vit.VisionTransformer`.
        decay: float in (0, 1]. Per-layer factor (0.65 to 0.75 is usual for
            ViT-B; 1 disables the decay).

    Returns:
        dict mapping each weight's `variable.path` to its multiplier, for
        `LayerDecayAdamW(learning_rate_multipliers=...)`.

    Example:
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> multipliers = layer_decay_multipliers(model, 0.5)
    >>> [multipliers[path] for path in ("class_token/class_token",
    ...     "transformer_block_0/attention/query/kernel",
    ...     "transformer_block_1/mlp/dense_2/bias", "head/kernel")]
    [0.125, 0.25, 0.5, 1.0]
    """
    num_layers = _num_blocks(model)
    decay = check_float("decay", decay, low=0.0, high=1.0, low_open=True)
    return {variable.path: _layer_multiplier(variable.path, num_layers, decay) for variable in model.weights}


def _check_multipliers(multipliers):
    if multipliers is None:
        return {}
    if not isinstance(multipliers, dict):
        raise TypeError(
            "`learning_rate_multipliers` must be a dict mapping variable paths (or "
            f"layer names) to floats. Received: {type(multipliers).__name__}"
        )
    checked = {}
    for path, multiplier in multipliers.items():
        if not isinstance(path, str):
            raise TypeError(f"`learning_rate_multipliers` keys must be strings. Received key {path!r}")
        checked[path] = check_float(f"learning_rate_multipliers[{path!r}]", multiplier, low=0.0)
    return checked


def _check_names(names):
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise TypeError(
            "`no_weight_decay_names` must be a sequence of variable names, not a "
            f"string. Received: no_weight_decay_names={names!r}"
        )
    return tuple(names)


@keras.saving.register_keras_serializable(package="keras_vit")
class LayerDecayAdamW(keras.optimizers.AdamW):
    """AdamW with a learning-rate multiplier per variable (layer-wise decay).

    Each variable's step uses `learning_rate * multiplier`, for the Adam
    update and for the decoupled weight decay alike (as timm's parameter
    groups do: `w <- w - lr * multiplier * weight_decay * w`). A variable's
    multiplier is looked up by its `variable.path`: the exact path, else its
    nearest enclosing layer path (so `{"transformer_block_0": 0.5}` covers
    the whole block), else 1. Variables whose short name is in
    `no_weight_decay_names` get no weight decay (the names are matched on the
    Keras variables when the optimizer is built, the same on every backend).

    It goes through Keras's per-variable `update_step` on every backend
    (PyTorch's fused multi-tensor AdamW is used only for the exact
    `keras.optimizers.AdamW` class). Build it for a ViT with
    `create_layer_decay_adamw`.

    Args:
        learning_rate: float or `LearningRateSchedule`. Base learning rate
            (multiplier 1: the head).
        weight_decay: float. Decoupled weight decay coefficient.
        beta_1, beta_2, epsilon, amsgrad: as `keras.optimizers.AdamW`.
        learning_rate_multipliers: dict of variable path (or layer path) to
            float >= 0, e.g. from `layer_decay_multipliers`.
        no_weight_decay_names: sequence of str. Short variable names without
            weight decay. Defaults to `NO_WEIGHT_DECAY_NAMES`.
        name: str.
        **kwargs: the other `keras.optimizers.Optimizer` arguments
            (`global_clipnorm`, `gradient_accumulation_steps`, ...).

    Example:
    >>> optimizer = LayerDecayAdamW(1e-3, learning_rate_multipliers={"head": 1.0, "transformer_block_0": 0.5})
    >>> optimizer.multiplier_for("transformer_block_0/mlp/dense_1/kernel")
    0.5
    >>> type(LayerDecayAdamW.from_config(optimizer.get_config())).__name__
    'LayerDecayAdamW'
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.05,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        amsgrad=False,
        learning_rate_multipliers=None,
        no_weight_decay_names=NO_WEIGHT_DECAY_NAMES,
        name="layer_decay_adamw",
        **kwargs,
    ):
        learning_rate_multipliers = _check_multipliers(learning_rate_multipliers)
        no_weight_decay_names = _check_names(no_weight_decay_names)
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            name=name,
            **kwargs,
        )
        self.learning_rate_multipliers = learning_rate_multipliers
        self.no_weight_decay_names = no_weight_decay_names
        self._per_variable = {}

    def multiplier_for(self, path):
        """The learning-rate multiplier of the variable at `path`."""
        parts = path.split("/")
        for end in range(len(parts), 0, -1):
            multiplier = self.learning_rate_multipliers.get("/".join(parts[:end]))
            if multiplier is not None:
                return multiplier
        return 1.0

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # Keyed like the optimizer's own slots: `update_step` receives the
        # backend's native variable on TensorFlow, the Keras one elsewhere.
        per_variable = {}
        for variable in variables:
            path = getattr(variable, "path", variable.name)
            decays = self._use_weight_decay(variable) and variable.name not in self.no_weight_decay_names
            per_variable[self._var_key(variable)] = (self.multiplier_for(path), decays)
        self._per_variable = per_variable

    def _apply_weight_decay(self, variables):
        # Applied per variable in `update_step`, with the variable's rate.
        return

    def update_step(self, gradient, variable, learning_rate):
        multiplier, decays = self._per_variable.get(self._var_key(variable), (1.0, True))
        learning_rate = ops.cast(learning_rate, variable.dtype)
        if multiplier != 1.0:
            learning_rate = learning_rate * ops.cast(multiplier, variable.dtype)
        if self.weight_decay and decays:
            decay = ops.cast(self.weight_decay, variable.dtype)
            self.assign_sub(variable, variable * decay * learning_rate)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["learning_rate_multipliers"] = dict(self.learning_rate_multipliers)
        config["no_weight_decay_names"] = list(self.no_weight_decay_names)
        return config


def create_layer_decay_adamw(
    model,
    learning_rate=1e-3,
    layer_decay=0.75,
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
    """Returns a `LayerDecayAdamW` for fine-tuning `model` (BEiT/MAE recipe).

    `create_adamw`'s recipe (same arguments, checks, DeiT batch scaling and
    weight-decay exclusions) with layer-wise learning-rate decay on top:
    block `i` of `L` trains at `learning_rate * layer_decay ** (L - i)`, the
    embeddings at `layer_decay ** (L + 1)`, `encoder_norm` and `head` at the
    full rate (see `layer_decay_multipliers`).

    Args:
        model: the `keras_vit.VisionTransformer` to fine-tune.
        learning_rate: float or `LearningRateSchedule`. The head's rate.
        layer_decay: float in (0, 1]. 0.65 (ViT-B) to 0.75 (ViT-S/Ti) in
            BEiT and MAE; 1 turns the decay off.
        weight_decay, beta_1, beta_2, epsilon, global_clipnorm,
            gradient_accumulation_steps, global_batch_size,
            reference_batch_size, exclude_from_weight_decay: as
            `create_adamw`.

    Returns:
        A `LayerDecayAdamW`.

    Example:
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> optimizer = create_layer_decay_adamw(model, 1e-3, layer_decay=0.5)
    >>> optimizer.multiplier_for("position_embedding/position_embedding")
    0.125
    """
    multipliers = layer_decay_multipliers(model, layer_decay)
    if isinstance(exclude_from_weight_decay, str):
        raise TypeError(
            "`exclude_from_weight_decay` must be a sequence of names, not a string. "
            f"Received: exclude_from_weight_decay={exclude_from_weight_decay!r}"
        )
    if global_batch_size is not None:
        learning_rate = scale_learning_rate(learning_rate, global_batch_size, reference_batch_size)
    # create_adamw checks and normalises the shared arguments; its
    # configuration then builds the layer-decay optimizer.
    reference = create_adamw(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        global_clipnorm=global_clipnorm,
        gradient_accumulation_steps=gradient_accumulation_steps,
        exclude_from_weight_decay=exclude_from_weight_decay,
    )
    config = reference.get_config()
    config.pop("name", None)
    config["learning_rate"] = learning_rate  # the float or schedule itself, not its serialised form
    return LayerDecayAdamW(
        learning_rate_multipliers=multipliers,
        no_weight_decay_names=tuple(exclude_from_weight_decay),
        **config,
    )
