"""Named ViT variants in the Keras Applications style.

Each builder spreads one row of `variants.VARIANTS` into
`VisionTransformer`; the signatures are spelled out for IDEs and share one
docstring template.
"""

from keras_vit.models.timm_architectures import architecture_config, is_timm_name
from keras_vit.models.variants import PATCH_SIZES, VARIANTS, get_variant_config
from keras_vit.models.vision_transformer import VisionTransformer

_DOC = """Builds ViT-{short} (`{variant}`): {hidden_dim} wide, {num_layers} blocks, {num_heads} heads, MLP {mlp_dim}.

    Reference: {reference}.

    Args:
        patch_size: int. One of {patch_sizes}; defaults to {default_patch}.
        include_top: bool. Whether to add the classification head.
        weights: None (random initialisation), a preset name or a
            checkpoint path (`.npz`, `.safetensors`, `.weights.h5`,
            `.keras`); see `VisionTransformer` and `keras_vit.from_preset`.
        input_shape: tuple `(height, width, channels)`, default
            `(224, 224, 3)`; height and width must be divisible by
            `patch_size`.
        pooling: `"token"`, `"gap"`, or None for the token sequence (only
            with `include_top=False`).
        classes: int. Number of classes of the head.
        classifier_activation: str, callable or None (logits). Defaults to
            `"softmax"`.
        dropout_rate: float in [0, 1). Dropout on embeddings, attention
            outputs and MLPs.
        attention_dropout_rate: float in [0, 1). Dropout on attention
            probabilities.
        drop_path_rate: float in [0, 1). Stochastic depth at the last block,
            linear from 0 at the first.
        layer_scale_init: float > 0 or None. LayerScale initial value.
        num_register_tokens: int >= 0. Register tokens after the class token.
        name: str or None. Model name; defaults to `"vit_{variant}_patch<N>"`.
        dtype: dtype or `keras.DTypePolicy`, e.g. `"mixed_bfloat16"`.
        **kwargs: further `VisionTransformer` arguments (`approximate_gelu`,
            `layer_norm_epsilon`, `use_qkv_bias`, `fused_qkv`, `remat`: the
            memory-saving rematerialisation for L/H, `max_parameters`), and
            the backbone option:
            `feature_blocks` (list of block indices, e.g. `[2, 5, 8, 11]`),
            `feature_output` (`"feature_maps"`, NHWC, or `"tokens"`) and
            `feature_scales` (e.g. `[4, 2, 1, 0.5]` for a pyramid). With
            `feature_blocks` the builder returns
            `keras_vit.vit_backbone(model, ...)` of the headless model
            (`include_top` and `pooling` are ignored; weights load as
            usual), for segmentation or detection heads.

    Inputs are float images, channels last; see `VisionTransformer` for the
    expected range and `keras_vit.preprocess_input`.

    Returns:
        A `VisionTransformer` (a `keras.Model`); with `feature_blocks`, a
        `ViTBackbone` whose outputs are the chosen blocks' features.

    Example:
    >>> model = {builder}(input_shape=({example_size}, {example_size}, 3), classes=10){skip}
    >>> model.output_shape{skip}
    (None, 10)
"""

_REFERENCES = {
    "tiny": "Touvron et al., \"Training data-efficient image transformers\", ICML 2021",
    "small": "Touvron et al., \"Training data-efficient image transformers\", ICML 2021",
    "base": "Dosovitskiy et al., \"An Image is Worth 16x16 Words\", ICLR 2021",
    "large": "Dosovitskiy et al., \"An Image is Worth 16x16 Words\", ICLR 2021",
    "huge": "Dosovitskiy et al., \"An Image is Worth 16x16 Words\", ICLR 2021",
}
_SHORT = {"tiny": "Ti", "small": "S", "base": "B", "large": "L", "huge": "H"}


def _documented(variant):
    def decorate(builder):
        builder.__doc__ = _DOC.format(
            variant=variant,
            short=_SHORT[variant],
            builder=builder.__name__,
            reference=_REFERENCES[variant],
            patch_sizes=", ".join(str(p) for p in sorted(PATCH_SIZES[variant])),
            default_patch=PATCH_SIZES[variant][0],
            example_size=4 * PATCH_SIZES[variant][0],
            # Building L and H (300M+ weights) takes tens of seconds per
            # backend; tests/models/test_variants.py builds them anyway.
            skip="  # doctest: +SKIP" if variant in ("large", "huge") else "",
            **VARIANTS[variant],
        )
        return builder

    return decorate


_FEATURE_ARGUMENTS = ("feature_blocks", "feature_output", "feature_scales")


def _with_features(config, kwargs):
    """Builds the model, or its `vit_backbone` when `feature_blocks` is given."""
    blocks = kwargs.pop("feature_blocks", None)
    output = kwargs.pop("feature_output", "feature_maps")
    scales = kwargs.pop("feature_scales", None)
    if blocks is None:
        if scales is not None:
            raise ValueError("`feature_scales` needs `feature_blocks`. Received: feature_blocks=None")
        return VisionTransformer(**{**config, **kwargs})
    from keras_vit.models.backbone import vit_backbone

    kwargs.update(include_top=False, pooling=None)  # a backbone has no head
    model = VisionTransformer(**{**config, **kwargs})
    return vit_backbone(model, block_indices=blocks, output=output, scales=scales,
                        name=f"{model.name}_backbone")


def _build(variant, arguments):
    arguments = dict(arguments)
    kwargs = arguments.pop("kwargs")
    config = get_variant_config(variant, patch_size=arguments.pop("patch_size"))
    if arguments["name"] is None:
        arguments["name"] = f"vit_{variant}_patch{config['patch_size']}"
    return _with_features(config, {**arguments, **kwargs})


@_documented("tiny")
def ViTTiny(patch_size=16, include_top=True, weights=None, input_shape=None, pooling="token",
            classes=1000, classifier_activation="softmax", dropout_rate=0.0,
            attention_dropout_rate=0.0, drop_path_rate=0.0, layer_scale_init=None,
            num_register_tokens=0, name=None, dtype=None, **kwargs):
    return _build("tiny", locals())


@_documented("small")
def ViTSmall(patch_size=16, include_top=True, weights=None, input_shape=None, pooling="token",
             classes=1000, classifier_activation="softmax", dropout_rate=0.0,
             attention_dropout_rate=0.0, drop_path_rate=0.0, layer_scale_init=None,
             num_register_tokens=0, name=None, dtype=None, **kwargs):
    return _build("small", locals())


@_documented("base")
def ViTBase(patch_size=16, include_top=True, weights=None, input_shape=None, pooling="token",
            classes=1000, classifier_activation="softmax", dropout_rate=0.0,
            attention_dropout_rate=0.0, drop_path_rate=0.0, layer_scale_init=None,
            num_register_tokens=0, name=None, dtype=None, **kwargs):
    return _build("base", locals())


@_documented("large")
def ViTLarge(patch_size=16, include_top=True, weights=None, input_shape=None, pooling="token",
             classes=1000, classifier_activation="softmax", dropout_rate=0.0,
             attention_dropout_rate=0.0, drop_path_rate=0.0, layer_scale_init=None,
             num_register_tokens=0, name=None, dtype=None, **kwargs):
    return _build("large", locals())


@_documented("huge")
def ViTHuge(patch_size=14, include_top=True, weights=None, input_shape=None, pooling="token",
            classes=1000, classifier_activation="softmax", dropout_rate=0.0,
            attention_dropout_rate=0.0, drop_path_rate=0.0, layer_scale_init=None,
            num_register_tokens=0, name=None, dtype=None, **kwargs):
    return _build("huge", locals())


def vit(variant, **kwargs):
    """Builds a ViT from a variant name (big_vision style) or a timm
    architecture name.

    timm's names build exactly timm's architecture of that name (the same
    parameter count as `timm.create_model(name)` at any resolution and
    class count, the same function): ViT/AugReg (`"vit_base_patch16_224"`),
    DeiT (`"deit_small_patch16_224"`), DeiT distilled
    (`"deit_base_distilled_patch16_224"`), DeiT-III
    (`"deit3_base_patch16_224"`), DINOv2 with and without registers
    (`"vit_large_patch14_reg4_dinov2"`), CLIP image towers
    (`"vit_base_patch16_clip_224"`, OpenAI's `"..._clip_quickgelu_224"`),
    SigLIP (`"vit_base_patch16_siglip_224"`, `"..._siglip_gap_224"`) and
    timm's class-token-free ViTs (`"vit_betwixt_patch16_reg4_gap_256"`);
    see `keras_vit.models.list_architectures()`. A pretrained tag after a
    dot is ignored. Names of families keras_vit does not build (EVA-02,
    RoPE and res-post-norm ViTs, DINOv2 giant) raise a `ValueError` saying
    why.

    Args:
        variant: str. A timm architecture name; or `"B/16"`, `"Ti/16"`,
            `"L/32"`, `"H/14"`, `"vit_small_patch32"`, or `"base"` (then
            pass `patch_size`).
        **kwargs: `VisionTransformer` arguments, overriding the named
            configuration (`input_shape`, `classes`, `include_top`,
            `num_layers`, `classifier_activation`, `drop_path_rate`,
            `weights`, `dtype`, ...). `classes` given for an architecture
            whose timm default has no head adds one.

    Returns:
        A `VisionTransformer` (or a `ViTBackbone` with `feature_blocks`).

    Example:
    >>> vit("Ti/16", input_shape=(32, 32, 3), classes=10).output_shape
    (None, 10)
    >>> vit("vit_small_patch14_reg4_dinov2", input_shape=(56, 56, 3), num_layers=2).num_register_tokens
    4
    """
    if isinstance(variant, str) and is_timm_name(variant.split(".")[0]):
        config = architecture_config(variant)
        if "classes" in kwargs and "include_top" not in kwargs:
            config.pop("include_top", None)
        config["name"] = variant.split(".")[0]
        config.update(kwargs)
        return _with_features({}, config)
    patch_size = kwargs.pop("patch_size", None)
    try:
        config = get_variant_config(variant, patch_size=patch_size)
    except ValueError:
        if isinstance(variant, str) and variant.count("_") >= 2:
            architecture_config(variant)  # raises, naming close timm names
        raise
    return _with_features(config, kwargs)
