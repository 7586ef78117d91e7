"""Building a model straight from a named pretrained checkpoint."""

from keras_vit.checkpoints.presets import get_preset


def from_preset(name, local_dir=None, **kwargs):
    """Builds the preset's architecture and loads its weights.

    The model is `keras_vit.vit(preset.architecture, ...)`: the timm
    architecture name sets everything the file needs (width, depth, patch
    size, tokens, pooling, normalisation and the MLP activation, e.g.
    QuickGELU for OpenAI CLIP), and the preset the resolution and the class
    count. Keyword arguments override them (e.g. `classes=10` for a new
    head, `input_shape=(384, 384, 3)` to resample, `include_top=False` for a
    backbone, `drop_path_rate` for fine-tuning). A preset without a head
    (DINOv2, SigLIP, ViT-H/14 in21k) builds `include_top=False` unless
    told otherwise.

    Args:
        name: str. A preset name (`keras_vit.checkpoints.list_presets()`).
        local_dir: str or None. Directory holding the preset's file (e.g. a
            Kaggle dataset); otherwise it is downloaded into the Keras cache.
        **kwargs: `keras_vit.vit` / `VisionTransformer` arguments, applied
            over the preset's (`weights` is the preset's file and cannot be
            passed).

    Returns:
        A `VisionTransformer` with the preset's weights, named after the
        preset (dots replaced by underscores); its `load_report` says what
        was loaded. Feed it images scaled with
        `keras_vit.preprocess_input(images, mode=preset.preprocessing)`.

    Raises:
        ValueError: unknown preset name.
        TypeError: `weights` was passed.

    Example:
    >>> from keras_vit.checkpoints import get_preset
    >>> preset = get_preset("vit_small_patch14_dinov2.lvd142m")
    >>> preset.architecture, preset.image_size, preset.classes
    ('vit_small_patch14_dinov2', 518, None)
    >>> model = from_preset("vit_small_patch14_dinov2.lvd142m")  # doctest: +SKIP
    >>> model.output_shape  # doctest: +SKIP
    (None, 384)
    """
    # Imported at call time, so that keras_vit.models.builders (and the
    # checkpoint code it reaches) never forms an import cycle with this module.
    from keras_vit.models.builders import vit

    preset = get_preset(name)
    if "weights" in kwargs:
        raise TypeError(
            f"from_preset loads the weights of preset {name!r}; `weights` cannot be passed. "
            "Use keras_vit.vit(...) to load another file."
        )
    size = preset.image_size
    config = dict(input_shape=(size, size, 3), name=name.replace(".", "_"))
    if preset.classes is None:
        config["include_top"] = False
    else:
        config["classes"] = preset.classes
    config.update(kwargs)
    if local_dir is not None:
        from keras_vit.checkpoints.presets import fetch_preset

        weights = fetch_preset(name, local_dir=local_dir)
    else:
        weights = name
    return vit(preset.architecture, weights=weights, **config)
