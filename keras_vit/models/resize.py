from keras_vit import layer_names
from keras_vit._validation import check_int_tuple
from keras_vit.models.vision_transformer import VisionTransformer


def resize_model(model, input_shape):
    """Returns a copy of a `VisionTransformer` for another image size.

    All weights are copied; the position embedding's patch grid is resampled
    bicubically (the class slot is copied unchanged), the standard way to
    fine-tune or evaluate a ViT at a higher resolution (e.g. 224 -> 384).
    The original model is left untouched.

    Args:
        model: a `VisionTransformer`.
        input_shape: tuple `(height, width, channels)` with the same channel
            count; height and width must be divisible by the patch size.
            Non-square sizes are accepted.

    Returns:
        A new `VisionTransformer` with `input_shape` and the same weights.

    Example:
    >>> from keras_vit import VisionTransformer
    >>> small = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=1,
    ...     num_heads=2, mlp_dim=32, input_shape=(16, 16, 3), classes=3)
    >>> tuple(resize_model(small, (24, 32, 3)).output_shape)
    (None, 3)
    """
    if not isinstance(model, VisionTransformer):
        raise TypeError(
            "`model` must be a keras_vit VisionTransformer. "
            f"Received: model of type {type(model).__name__}"
        )
    input_shape = check_int_tuple("input_shape", input_shape, 3, "(height, width, channels)")
    config = model.get_config()
    if input_shape[-1] != config["input_shape"][-1]:
        raise ValueError(
            "`input_shape` must keep the model's channel count "
            f"{config['input_shape'][-1]}. Received: input_shape={input_shape!r}"
        )
    config["input_shape"] = input_shape
    resized = VisionTransformer.from_config(config)
    source = model.get_layer(layer_names.POSITION_EMBEDDING)
    target = resized.get_layer(layer_names.POSITION_EMBEDDING)
    for new_layer in resized.layers:
        if new_layer is target:
            target.position_embedding.assign(source.resample(target.grid_size))
        else:
            new_layer.set_weights(model.get_layer(new_layer.name).get_weights())
    return resized
