"""A Vision Transformer as a multi-level feature extractor for dense
prediction (segmentation, detection, depth)."""

import keras

from keras_vit import layer_names
from keras_vit._validation import check_bool, check_positive_int, is_integer
from keras_vit.layers.feature_map import ResampleFeatureMap, TokensToFeatureMap
from keras_vit.models.vision_transformer import VisionTransformer

OUTPUT_KINDS = ("feature_maps", "tokens")


def default_block_indices(num_layers, num_outputs=4):
    """Evenly spaced transformer blocks ending at the last one.

    With 12 blocks and 4 outputs this is `[2, 5, 8, 11]`, the blocks DPT taps
    on ViT-B; models with fewer blocks than `num_outputs` give every block.

    Args:
        num_layers: int. Number of transformer blocks of the model.
        num_outputs: int. How many blocks to pick.

    Returns:
        A list of increasing block indices.

    Example:
    >>> default_block_indices(12), default_block_indices(24), default_block_indices(2)
    ([2, 5, 8, 11], [5, 11, 17, 23], [0, 1])
    """
    num_layers = check_positive_int("num_layers", num_layers)
    num_outputs = check_positive_int("num_outputs", num_outputs)
    if num_layers <= num_outputs:
        return list(range(num_layers))
    return [(k + 1) * num_layers // num_outputs - 1 for k in range(num_outputs)]


def _check_block_indices(block_indices, num_layers):
    if block_indices is None:
        return default_block_indices(num_layers)
    if is_integer(block_indices):
        block_indices = [block_indices]
    if not isinstance(block_indices, (tuple, list)) or not block_indices:
        raise TypeError(
            "`block_indices` must be None, an int or a non-empty list of ints "
            f"(transformer block indices). Received: block_indices={block_indices!r}"
        )
    resolved = []
    for index in block_indices:
        if not is_integer(index):
            raise TypeError(
                "`block_indices` must hold ints. "
                f"Received: block_indices={block_indices!r}"
            )
        if not -num_layers <= index < num_layers:
            raise ValueError(
                f"`block_indices` must lie in [{-num_layers}, {num_layers - 1}] for a "
                f"model with {num_layers} transformer blocks. "
                f"Received: block_indices={block_indices!r}"
            )
        resolved.append(int(index) % num_layers)
    return resolved


def _final_norm(vit):
    names = {layer.name for layer in vit.layers}
    if layer_names.ENCODER_NORM not in names:
        raise ValueError(
            "`apply_norm`=True needs the model's final LayerNorm (encoder_norm); this model "
            "normalises after pooling instead (fc_norm=True). Pass apply_norm=False.")
    return vit.get_layer(layer_names.ENCODER_NORM)


@keras.saving.register_keras_serializable(package="keras_vit")
class ViTBackbone(keras.Model):
    """A `VisionTransformer`'s transformer blocks tapped for dense features.

    Not the same thing as keras-hub's `ViTBackbone`: there a backbone is the
    headless encoder, which here is `VisionTransformer(include_top=False)`
    (or `pooling=None` for the token sequence). This class taps the outputs
    of several blocks, as segmentation and detection necks need.

    Build it with `vit_backbone` (same arguments), which documents them.
    The model is functional: it reuses `vit`'s own layers from its image
    input to the chosen `transformer_block_{i}` outputs, so it shares their
    weights with `vit`. It saves the ViT's configuration rather than one
    entry per layer, and `from_config` rebuilds the ViT and the taps.

    Args:
        vit: a `keras_vit.VisionTransformer`.
        block_indices, output, scales, apply_norm, interpolation, name: as
            in `vit_backbone`.
        **kwargs: `keras.Model` arguments (`trainable`).

    Returns:
        A functional `keras.Model` (see `vit_backbone`).

    Attributes: `block_indices` (resolved, non-negative), `output_type`, `scales`,
    `apply_norm`, `interpolation`, `grid_size`, `num_prefix_tokens`,
    `hidden_dim`, `patch_size`, `image_shape` (the last five are the ViT's).

    Example:
    >>> from keras_vit import VisionTransformer
    >>> vit = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(16, 16, 3), include_top=False)
    >>> backbone = ViTBackbone(vit, block_indices=-1, output="tokens")
    >>> tuple(backbone.output_shape)
    (None, 17, 16)
    """

    def __init__(
        self,
        vit,
        block_indices=None,
        output="feature_maps",
        scales=None,
        apply_norm=False,
        interpolation="bilinear",
        name=None,
        **kwargs,
    ):
        args = _check_arguments(vit, block_indices, output, scales, apply_norm, interpolation, name)
        block_indices, scales, apply_norm = args
        policy = vit.dtype_policy
        norm = _final_norm(vit) if apply_norm else None
        outputs = []
        for k, index in enumerate(block_indices):
            x = vit.get_layer(layer_names.block_name(index)).output
            if norm is not None:
                x = norm(x)
            if output == "feature_maps":
                x = TokensToFeatureMap(
                    vit.grid_size, vit.num_prefix_tokens, dtype=policy,
                    name=f"feature_map_{k}",
                )(x)
                if scales is not None:
                    x = ResampleFeatureMap(
                        scales[k], interpolation=interpolation, dtype=policy,
                        name=f"resample_{k}",
                    )(x)
            outputs.append(x)
        super().__init__(vit.inputs[0], outputs, name=name or f"{vit.name}_backbone", **kwargs)
        self.dtype_policy = policy
        # The ViT itself is not tracked (its unused head would join this
        # model's weights); its config is kept to rebuild it on loading.
        self._vit_config = vit.get_config()
        self.block_indices = block_indices
        self.output_type = output
        self.scales = None if scales is None else list(scales)
        self.apply_norm = apply_norm
        self.interpolation = interpolation
        self.grid_size = vit.grid_size
        self.num_prefix_tokens = vit.num_prefix_tokens
        self.hidden_dim = vit.hidden_dim
        self.patch_size = vit.patch_size
        self.image_shape = vit.image_shape

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "vit": {"class_name": "VisionTransformer", "config": dict(self._vit_config)},
            "block_indices": list(self.block_indices),
            "output": self.output_type,
            "scales": self.scales,
            "apply_norm": self.apply_norm,
            "interpolation": self.interpolation,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        vit = VisionTransformer.from_config(config.pop("vit")["config"])
        return cls(vit, **config)


def _check_arguments(model, block_indices, output, scales, apply_norm, interpolation, name):
    if not isinstance(model, VisionTransformer):
        raise TypeError(
            "`model` must be a keras_vit VisionTransformer. "
            f"Received: model of type {type(model).__name__}"
        )
    block_indices = _check_block_indices(block_indices, model.num_layers)
    if output not in OUTPUT_KINDS:
        raise ValueError(f"`output` must be one of {OUTPUT_KINDS}. Received: output={output!r}")
    if scales is not None:
        if output != "feature_maps":
            raise ValueError(
                "`scales` resamples feature maps: it needs output='feature_maps'. "
                f"Received: scales={scales!r} with output={output!r}"
            )
        if not isinstance(scales, (tuple, list)) or len(scales) != len(block_indices):
            raise ValueError(
                "`scales` must be None or a list with one factor per block of "
                f"`block_indices`={block_indices}. Received: scales={scales!r}"
            )
        for scale in scales:
            # Checks the factor, then that it gives a whole size on the grid.
            ResampleFeatureMap(scale).compute_output_shape((None, *model.grid_size, 1))
    apply_norm = check_bool("apply_norm", apply_norm)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"`name` must be a str or None. Received: name={name!r}")
    ResampleFeatureMap(1, interpolation=interpolation)  # checks `interpolation`
    return block_indices, scales, apply_norm


def vit_backbone(
    model,
    block_indices=None,
    output="feature_maps",
    scales=None,
    apply_norm=False,
    interpolation="bilinear",
    name=None,
):
    """Taps a `VisionTransformer`'s transformer blocks for dense features.

    The returned model shares every layer (and so every weight) with `model`:
    it reuses the model's own graph from its input to the chosen
    `transformer_block_{i}` outputs, so pretrained or fine-tuned weights
    carry over, and training the backbone trains `model` too. The head and
    the pooling of `model`, if any, are not used.

    With `output="feature_maps"` each block's tokens become an NHWC map
    (the prefix tokens are dropped, see `TokensToFeatureMap`); `scales`
    then optionally resamples map `k` by `scales[k]` (see
    `ResampleFeatureMap`), e.g. `block_indices=[2, 5, 8, 11]` with
    `scales=[4, 2, 1, 0.5]` gives the stride 4/8/16/32 pyramid a U-Net or FPN
    decoder expects; `block_indices=[-1] * 4` with the same scales is
    ViTDet's simple feature pyramid from the last block.

    Args:
        model: a `keras_vit.VisionTransformer` (with or without its top).
        block_indices: None, an int or a list of ints. Blocks to tap, in
            output order; negative values count from the end and a block may
            repeat. None: 4 evenly spaced blocks ending at the last one
            (`default_block_indices`), or every block of a shallower model.
        output: `"feature_maps"` (NHWC maps `(batch, grid_h, grid_w,
            hidden_dim)`, rescaled by `scales`) or `"tokens"` (the token
            sequences `(batch, num_prefix_tokens + grid_h * grid_w,
            hidden_dim)`, class and register tokens included).
        scales: None (no resampling) or one positive factor per entry of
            `block_indices` (see `ResampleFeatureMap`; 1 keeps the map).
            Only with `output="feature_maps"`.
        apply_norm: bool. Pass each block output through the model's final
            `encoder_norm` LayerNorm (shared weights), as the classifier does
            after the last block. False returns the raw block outputs, as DPT
            and ViTDet use.
        interpolation: `"bilinear"`, `"nearest"` or `"bicubic"`; how
            `scales` above 1 upsample.
        name: str or None. Name of the returned model; None uses
            `"{model.name}_backbone"`.

    Returns:
        A `ViTBackbone`: a functional `keras.Model` from `model`'s image
        input to a list with one output per entry of `block_indices` (with a
        single entry, the output itself: Keras unpacks one-element output
        lists). It saves to `.keras` and loads with
        `keras.models.load_model`.

    Example:
    >>> from keras_vit import VisionTransformer
    >>> vit = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(16, 16, 3), include_top=False)
    >>> backbone = vit_backbone(vit, block_indices=[0, 1], scales=[2, 0.5])
    >>> [tuple(shape) for shape in backbone.output_shape]
    [(None, 8, 8, 16), (None, 2, 2, 16)]
    """
    return ViTBackbone(
        model, block_indices=block_indices, output=output, scales=scales,
        apply_norm=apply_norm, interpolation=interpolation, name=name,
    )
