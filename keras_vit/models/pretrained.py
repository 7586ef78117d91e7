"""Building a model straight from a named pretrained checkpoint."""

from keras_vit.checkpoints.presets import get_preset
from keras_vit.models.variants import get_variant_config
from keras_vit.models.vision_transformer import VisionTransformer


def from_preset(name, local_dir=None, **kwargs):
    """Builds the preset's architecture and loads its weights.

    The variant, patch size, resolution, GELU form and class count come from
    the preset; keyword arguments override them (e.g. `classes=10` for a new
    head, `input_shape=(384, 384, 3)` to resample, `include_top=False` for a
    backbone, `drop_path_rate` for fine-tuning). A preset without a head
    builds `include_top=False` unless told otherwise.

    Args:
        name: str. A preset name (`keras_vit.checkpoints.list_presets()`).
        local_dir: str or None. Directory holding the preset's file (e.g. a
            Kaggle dataset); otherwise it is downloaded into the Keras cache.
        **kwargs: `VisionTransformer` arguments.

    Returns:
        A `VisionTransformer` with the preset's weights; its
        `load_report` says what was loaded. Feed it images scaled with
        `keras_vit.preprocess_input(images, mode=preset.preprocessing)`.

    Example:
    >>> from keras_vit.checkpoints import get_preset
    >>> get_preset("vit_base_patch16_384.augreg_in21k_ft_in1k").image_size
    384
    """
    preset = get_preset(name)
    config = get_variant_config(preset.variant, patch_size=preset.patch_size)
    config.update(
        input_shape=(preset.image_size, preset.image_size, 3),
        approximate_gelu=preset.approximate_gelu,
        name=name.replace(".", "_"),
    )
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
    return VisionTransformer(weights=weights, **config)
