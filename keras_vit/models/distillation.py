"""Both heads of a distilled ViT (DeiT), for training with a teacher."""

import keras

from keras_vit import layer_names


def distillation_outputs(model):
    """A model returning the class head's and the distillation head's
    outputs separately, sharing `model`'s layers and weights.

    A distilled ViT (`distillation=True`, e.g. `keras_vit.vit(
    "deit_base_distilled_patch16_224")`) returns the average of its two
    heads, as timm does at inference. DeiT's hard distillation trains the
    class head on the labels and the distillation head on a teacher's
    predictions: compile this model with one loss per output. Training it
    trains `model`.

    Args:
        model: a `VisionTransformer` built with `distillation=True` and a
            head.

    Returns:
        A `keras.Model` with the same input and outputs
        `[class_logits, distillation_logits]` (logits: the heads have no
        activation in a distilled model).

    Example:
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=1, num_heads=2,
    ...     mlp_dim=32, input_shape=(8, 8, 3), classes=3, distillation=True)
    >>> [tuple(s) for s in distillation_outputs(model).output_shape]
    [(None, 3), (None, 3)]
    """
    layers = {layer.name for layer in getattr(model, "layers", [])}
    if not getattr(model, "distillation", False) or layer_names.HEAD_DIST not in layers:
        raise ValueError(
            "`model` must be a distilled VisionTransformer with its heads (distillation=True, "
            "include_top=True), e.g. keras_vit.vit('deit_small_distilled_patch16_224').")
    heads = [model.get_layer(layer_names.HEAD).output, model.get_layer(layer_names.HEAD_DIST).output]
    return keras.Model(model.inputs, heads, name=f"{model.name}_distillation")
