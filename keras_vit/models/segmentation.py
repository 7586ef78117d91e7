"""Semantic segmentation with a ViT backbone and a U-Net-like decoder."""

import keras

from keras_vit._validation import (
    check_bool,
    check_non_negative_int,
    check_pair,
    check_positive_int,
    is_integer,
)
from keras_vit.layers.feature_map import ResampleFeatureMap
from keras_vit.models.backbone import ViTBackbone, default_block_indices, vit_backbone
from keras_vit.models.vision_transformer import VisionTransformer


def default_scales(num_levels):
    """Pyramid factors for `num_levels` tapped blocks: the first (shallowest)
    block upsampled 4x, each next one half as much.

    For a ViT with patch 16 and four blocks this is `[4, 2, 1, 0.5]`: the
    stride 4, 8, 16 and 32 maps of ViTDet's simple feature pyramid.

    Args:
        num_levels: int. Number of feature maps.

    Returns:
        A list of `num_levels` floats.

    Example:
    >>> default_scales(4), default_scales(2)
    ([4.0, 2.0, 1.0, 0.5], [4.0, 2.0])
    """
    num_levels = check_positive_int("num_levels", num_levels)
    return [4.0 / 2**k for k in range(num_levels)]


def _check_filters(decoder_filters, num_stages):
    if is_integer(decoder_filters):
        check_positive_int("decoder_filters", decoder_filters)
        return [max(int(decoder_filters) // 2**k, 8) for k in range(num_stages)]
    if not isinstance(decoder_filters, (tuple, list)) or len(decoder_filters) != num_stages:
        raise ValueError(
            "`decoder_filters` must be a positive int (the width of the coarsest "
            f"stage, halved at each of the next ones) or a list of {num_stages} "
            f"positive ints, one per decoder stage. Received: decoder_filters={decoder_filters!r}"
        )
    return [check_positive_int("decoder_filters", value) for value in decoder_filters]


def _conv_block(x, filters, num_convs, dtype, name):
    for index in range(num_convs):
        x = keras.layers.Conv2D(
            filters, 3, padding="same", use_bias=False, dtype=dtype, name=f"{name}_conv_{index}"
        )(x)
        x = keras.layers.BatchNormalization(dtype=dtype, name=f"{name}_norm_{index}")(x)
        x = keras.layers.Activation("relu", dtype=dtype, name=f"{name}_relu_{index}")(x)
    return x


def unet_head(
    features,
    classes,
    output_size,
    images=None,
    decoder_filters=256,
    stem_filters=0,
    num_convs=2,
    dtype=None,
    name="decoder",
):
    """U-Net-like decoder from multi-scale feature maps to per-pixel logits.

    The maps are grouped by resolution and visited from the coarsest to the
    finest: at each stage the running features are upsampled (bilinear) to
    the stage's resolution, concatenated with that resolution's maps, and
    passed through `num_convs` x (3x3 conv, BatchNorm, ReLU). A last stage
    at `output_size` follows if the finest map is smaller (with the `stem`
    features, when `stem_filters` > 0, as its skip connection), then a 1x1
    conv gives the logits. Works on symbolic (`keras.Input`) tensors; wrap
    the result in a `keras.Model`.

    Args:
        features: list of channels-last maps `(batch, h_k, w_k, c_k)`, no
            larger than `output_size`, each a whole fraction of it.
        classes: int. Number of classes (logit channels).
        output_size: tuple `(height, width)` of the logits.
        images: the image tensor `(batch, height, width, channels)`; needed
            when `stem_filters` > 0.
        decoder_filters: int or list of ints. Width of each stage, coarse to
            fine; an int `F` gives `F, F/2, F/4, ...` (at least 8).
        stem_filters: int >= 0. Width of a small conv stem on `images` whose
            full-resolution features join the last stage (the high-resolution
            skip connection the ViT lacks); 0 disables it.
        num_convs: int >= 1. Conv, norm, ReLU units per stage.
        dtype: dtype policy of the decoder layers; the logits are float32
            under a mixed policy.
        name: str. Prefix of the decoder's layer names.

    Returns:
        Logits `(batch, height, width, classes)` (no softmax).

    Example:
    >>> import keras
    >>> maps = [keras.Input((2, 2, 8)), keras.Input((4, 4, 8))]
    >>> logits = unet_head(maps, classes=3, output_size=(8, 8), decoder_filters=8)
    >>> tuple(logits.shape)
    (None, 8, 8, 3)
    """
    classes = check_positive_int("classes", classes)
    output_size = check_pair("output_size", output_size)
    stem_filters = check_non_negative_int("stem_filters", stem_filters)
    num_convs = check_positive_int("num_convs", num_convs)
    if not isinstance(features, (tuple, list)) or not features:
        raise TypeError(
            "`features` must be a non-empty list of feature maps (batch, height, width, "
            f"channels). Received: features={features!r}"
        )
    if stem_filters and images is None:
        raise ValueError("`images` is needed when `stem_filters` > 0.")
    levels = {}
    for feature in features:
        if len(feature.shape) != 4 or None in feature.shape[1:3]:
            raise ValueError(
                "`features` must hold channels-last maps with static sizes. "
                f"Received a tensor of shape {tuple(feature.shape)}"
            )
        size = tuple(feature.shape[1:3])
        if size[0] > output_size[0] or size[1] > output_size[1]:
            raise ValueError(
                f"Feature maps must not be larger than `output_size`={output_size}. "
                f"Received a map of shape {tuple(feature.shape)}"
            )
        levels.setdefault(size, []).append(feature)
    levels.setdefault(output_size, [])
    sizes = sorted(levels, key=lambda size: size[0] * size[1])
    filters = _check_filters(decoder_filters, len(sizes))
    policy = keras.dtype_policies.get(dtype) if dtype is not None else keras.config.dtype_policy()
    logits_dtype = "float32" if policy.compute_dtype in ("float16", "bfloat16") else policy

    if stem_filters:
        stem = _conv_block(images, stem_filters, num_convs, policy, f"{name}_stem")
        levels[output_size].append(stem)
    x, current = None, None
    for stage, size in enumerate(sizes):
        inputs = list(levels[size])
        if x is not None:
            scale = (size[0] / current[0], size[1] / current[1])
            x = ResampleFeatureMap(scale, dtype=policy, name=f"{name}_upsample_{stage}")(x)
            inputs.insert(0, x)
        if len(inputs) > 1:
            x = keras.layers.Concatenate(axis=-1, dtype=policy, name=f"{name}_concat_{stage}")(inputs)
        else:
            x = inputs[0]
        x = _conv_block(x, filters[stage], num_convs, policy, f"{name}_stage_{stage}")
        current = size
    return keras.layers.Conv2D(classes, 1, dtype=logits_dtype, name=f"{name}_logits")(x)


def build_segmenter(
    model,
    classes,
    block_indices=None,
    scales=None,
    apply_norm=None,
    decoder_filters=256,
    stem_filters=0,
    num_convs=2,
    name="segmenter",
):
    """Builds an end-to-end semantic segmentation model on a ViT.

    A `ViTBackbone` (multi-level feature maps) feeds `unet_head`; the model
    maps images to per-pixel class logits at the input resolution. Given a
    `VisionTransformer`, the backbone taps `block_indices` (default: 4
    evenly spaced blocks) and resamples them by `scales` (default:
    `default_scales`, e.g. `[4, 2, 1, 0.5]`); the backbone shares its weights
    with `model`, so training the segmenter fine-tunes `model` in place.

    Train with `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`
    on integer masks `(batch, height, width)`.

    Args:
        model: a `keras_vit.VisionTransformer`, or a `ViTBackbone` with
            `output="feature_maps"` (then `block_indices`, `scales` and
            `apply_norm` must be left None).
        classes: int. Number of classes, background included.
        block_indices: None or list of ints; see `vit_backbone`.
        scales: None or list of factors, one per block; see `vit_backbone`.
        apply_norm: None (False) or bool; see `vit_backbone`.
        decoder_filters: int or list of ints; see `unet_head`.
        stem_filters: int >= 0; see `unet_head`.
        num_convs: int >= 1; see `unet_head`.
        name: str. Name of the model.

    Returns:
        A functional `keras.Model` from images `(batch, height, width,
        channels)` to logits `(batch, height, width, classes)`; it
        contains the backbone as a nested model named like `backbone.name`.

    Example:
    >>> from keras_vit import VisionTransformer
    >>> vit = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(16, 16, 3), include_top=False)
    >>> segmenter = build_segmenter(vit, classes=3, decoder_filters=8)
    >>> tuple(segmenter.output_shape)
    (None, 16, 16, 3)
    """
    classes = check_positive_int("classes", classes)
    check_non_negative_int("stem_filters", stem_filters)
    check_positive_int("num_convs", num_convs)
    apply_norm = check_bool("apply_norm", apply_norm, allow_none=True)
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a str. Received: name={name!r}")
    if isinstance(model, ViTBackbone):
        if block_indices is not None or scales is not None or apply_norm is not None:
            raise ValueError(
                "`block_indices`, `scales` and `apply_norm` configure the backbone "
                "built from a VisionTransformer; with a ViTBackbone they must be None. "
                f"Received: block_indices={block_indices!r}, scales={scales!r}, "
                f"apply_norm={apply_norm!r}"
            )
        if model.output_type != "feature_maps":
            raise ValueError(
                "The backbone must output feature maps (output='feature_maps'). "
                f"Received a backbone with output={model.output_type!r}"
            )
        backbone = model
    elif isinstance(model, VisionTransformer):
        if block_indices is None:
            block_indices = default_block_indices(model.num_layers)
        elif is_integer(block_indices):
            block_indices = [block_indices]
        if scales is None and isinstance(block_indices, (tuple, list)) and block_indices:
            scales = default_scales(len(block_indices))
        backbone = vit_backbone(
            model, block_indices=block_indices, output="feature_maps", scales=scales,
            apply_norm=bool(apply_norm),  # None: False
        )
    else:
        raise TypeError(
            "`model` must be a keras_vit VisionTransformer or ViTBackbone. "
            f"Received: model of type {type(model).__name__}"
        )
    images = keras.Input(shape=backbone.image_shape, name="images")
    features = backbone(images)
    if not isinstance(features, (tuple, list)):
        features = [features]  # a one-output backbone returns the tensor itself
    logits = unet_head(
        features, classes, backbone.image_shape[:2], images=images,
        decoder_filters=decoder_filters, stem_filters=stem_filters, num_convs=num_convs,
        dtype=backbone.dtype_policy, name="decoder",
    )
    return keras.Model(images, logits, name=name)
