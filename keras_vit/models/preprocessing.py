"""Input scaling that matches how ViT checkpoints were trained."""

import keras
from keras import ops

# ImageNet statistics on the [0, 1] scale, used by DeiT and most timm weights.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_MODES = ("vit", "imagenet", "unit")


def preprocessing_layer(mode="vit", name="preprocessing"):
    """Returns a Keras layer that scales `[0, 255]` pixels like `preprocess_input`.

    The layer is `keras.layers.Rescaling` (`"vit"`, `"unit"`) or
    `keras.layers.Normalization` with the ImageNet statistics
    (`"imagenet"`), so it can sit inside a model or in a `tf.data` pipeline
    whatever the backend (`keras_vit.data` uses it there).

    Args:
        mode: str. `"vit"` (to `[-1, 1]`), `"imagenet"` or `"unit"`; see
            `preprocess_input`.
        name: str. Name of the layer.

    Returns:
        A `keras.layers.Layer`.

    Example:
    >>> import numpy as np
    >>> layer = preprocessing_layer("vit")
    >>> keras.ops.convert_to_numpy(layer(np.array([[0.0, 255.0]]))).tolist()
    [[-1.0, 1.0]]
    """
    if mode not in _MODES:
        raise ValueError(f"`mode` must be one of {_MODES}. Received: mode={mode!r}")
    if mode == "vit":
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name=name)
    if mode == "unit":
        return keras.layers.Rescaling(1.0 / 255.0, name=name)
    # (x / 255 - mean) / std == (x - 255 mean) / (255 std).
    return keras.layers.Normalization(
        mean=[255.0 * m for m in IMAGENET_MEAN],
        variance=[(255.0 * s) ** 2 for s in IMAGENET_STD],
        name=name,
    )


def preprocess_input(images, mode="vit"):
    """Scales images from pixel values in `[0, 255]` to the model's range.

    Models built here make no assumption about the input range: they are
    trained on what they are fed. Pretrained checkpoints do assume one:

    - `"vit"` (default): `x / 127.5 - 1`, pixels in `[-1, 1]`. The original
      Google ViT and AugReg (big_vision) checkpoints expect this; using
      ImageNet mean/std with them instead costs several points of accuracy.
    - `"imagenet"`: `(x / 255 - mean) / std` with the ImageNet channel
      statistics, for DeiT and timm weights trained that way.
    - `"unit"`: `x / 255`, pixels in `[0, 1]`.

    Args:
        images: array or tensor of shape `(..., height, width, 3)` (any
            channel count for `"vit"` and `"unit"`), values in `[0, 255]`.
        mode: str. One of `"vit"`, `"imagenet"`, `"unit"`.

    Returns:
        A float32 tensor of the same shape.

    Example:
    >>> import numpy as np
    >>> x = np.array([[[[0.0, 127.5, 255.0]]]])
    >>> [round(float(v), 3) for v in preprocess_input(x)[0, 0, 0]]
    [-1.0, 0.0, 1.0]
    """
    if mode not in _MODES:
        raise ValueError(f"`mode` must be one of {_MODES}. Received: mode={mode!r}")
    images = ops.cast(images, "float32")
    if mode == "imagenet" and images.shape[-1] != 3:
        raise ValueError(
            'mode="imagenet" needs 3-channel images. Received shape: '
            f"{tuple(images.shape)}"
        )
    return preprocessing_layer(mode)(images)
