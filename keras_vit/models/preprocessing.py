"""Input scaling that matches how ViT checkpoints were trained."""

import warnings

import keras
import numpy as np
from keras import ops

from keras_vit import _tensors
from keras_vit._choices import PREPROCESSING_MODES as _MODES
from keras_vit._validation import check_range

# ImageNet statistics on the [0, 1] scale, used by DeiT, DINOv2 and most timm
# weights (timm.data.constants.IMAGENET_DEFAULT_MEAN / _STD).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# OpenAI's CLIP statistics on the [0, 1] scale, also used by OpenCLIP
# (LAION) towers (timm.data.constants.OPENAI_CLIP_MEAN / _STD).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# Modes that subtract per-channel statistics (and so need 3 channels).
_STATISTICS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "clip": (CLIP_MEAN, CLIP_STD)}


def preprocessing_layer(mode="vit", name="preprocessing"):
    """Returns a Keras layer that scales `[0, 255]` pixels like `preprocess_input`.

    The layer is `keras.layers.Rescaling` (`"vit"`, `"siglip"`, `"unit"`) or
    `keras.layers.Normalization` with the ImageNet (`"imagenet"`) or CLIP
    (`"clip"`) statistics, so it can sit inside a model or in a `tf.data`
    pipeline whatever the backend (`keras_vit.data` uses it there).

    Args:
        mode: str. `"vit"` or `"siglip"` (to `[-1, 1]`), `"imagenet"`,
            `"clip"` or `"unit"`; see `preprocess_input`.
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
    if mode in ("vit", "siglip"):  # SigLIP's mean 0.5, std 0.5 is the same map
        return keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name=name)
    if mode == "unit":
        return keras.layers.Rescaling(1.0 / 255.0, name=name)
    mean, std = _STATISTICS[mode]
    # (x / 255 - mean) / std == (x - 255 mean) / (255 std).
    return keras.layers.Normalization(
        mean=[255.0 * m for m in mean],
        variance=[(255.0 * s) ** 2 for s in std],
        name=name,
    )


def _within_unit_range(images):
    """True when `images` can be read now and all lie within [-1, 1]."""
    if not _tensors.is_concrete(images) or 0 in tuple(images.shape):
        return False
    low = float(ops.convert_to_numpy(ops.min(images)))
    high = float(ops.convert_to_numpy(ops.max(images)))
    return -1.0 <= low and high <= 1.0


def preprocess_input(images, mode="vit", input_range=None):
    """Scales images from pixel values in `[0, 255]` to the model's range.

    Models built here make no assumption about the input range: they are
    trained on what they are fed. Pretrained checkpoints do assume one:

    - `"vit"` (default): `x / 127.5 - 1`, pixels in `[-1, 1]`. The original
      Google ViT and AugReg (big_vision) checkpoints expect this; using
      ImageNet mean/std with them instead costs several points of accuracy.
    - `"imagenet"`: `(x / 255 - mean) / std` with the ImageNet channel
      statistics (`IMAGENET_MEAN`, `IMAGENET_STD`), for DeiT, DeiT-III,
      DINOv2 and timm weights trained that way.
    - `"clip"`: `(x / 255 - mean) / std` with OpenAI's CLIP statistics
      (`CLIP_MEAN`, `CLIP_STD`), for CLIP and OpenCLIP image towers.
    - `"siglip"`: SigLIP's mean 0.5 and std 0.5, i.e. `x / 127.5 - 1`:
      the same map as `"vit"`, named for the checkpoints that expect it.
    - `"unit"`: `x / 255`, pixels in `[0, 1]`.

    **Input range.** By default the images are taken to be `[0, 255]`
    pixels. Float images already scaled to `[0, 1]` (or already
    preprocessed to `[-1, 1]`) would silently land near -1 (mode `"vit"`);
    so when the values can be read (NumPy data and eager tensors on every
    backend) and a float input lies entirely within `[-1, 1]`, a
    `UserWarning` is issued (once per call site, Python's default). Symbolic
    inputs (`keras.Input`, `tf.data` and `tf.function` graphs, `jax.jit`
    tracers, `torch.compile`) are never inspected. Pass `input_range`
    to state the range: `(0, 1)` rescales `[0, 1]` images correctly, and
    `(0, 255)` silences the check (e.g. for genuinely dark images).

    Args:
        images: array or tensor of shape `(..., height, width, 3)` (any
            channel count for `"vit"`, `"siglip"` and `"unit"`), values in
            `[0, 255]` (or in `input_range`).
        mode: str. One of `"vit"`, `"imagenet"`, `"clip"`, `"siglip"`,
            `"unit"` (a preset's `preprocessing`).
        input_range: None or a pair `(low, high)` of the input's pixel
            range, e.g. `(0, 1)` or `(0, 255)`; `low` maps where 0 would and
            `high` where 255 would. None: `(0, 255)`, with the check above.

    Returns:
        A float32 tensor of the same shape.

    Example:
    >>> import numpy as np
    >>> x = np.array([[[[0.0, 127.5, 255.0]]]])
    >>> [round(float(v), 3) for v in preprocess_input(x)[0, 0, 0]]
    [-1.0, 0.0, 1.0]
    >>> unit = np.array([[[[0.0, 0.5, 1.0]]]])
    >>> [round(float(v), 3) for v in preprocess_input(unit, input_range=(0, 1))[0, 0, 0]]
    [-1.0, 0.0, 1.0]
    >>> white = np.full((1, 1, 1, 3), 255.0)
    >>> [round(float(v), 3) for v in preprocess_input(white, mode="clip")[0, 0, 0]]
    [1.93, 2.075, 2.146]
    """
    if mode not in _MODES:
        raise ValueError(f"`mode` must be one of {_MODES}. Received: mode={mode!r}")
    if input_range is not None:
        input_range = check_range("input_range", input_range)
    dtype = getattr(images, "dtype", None)
    if dtype is None:
        dtype = np.asarray(images).dtype
    is_float = "float" in keras.backend.standardize_dtype(dtype)
    images = ops.cast(images, "float32")
    if mode in _STATISTICS and images.shape[-1] != 3:
        raise ValueError(
            f"mode={mode!r} needs 3-channel images. Received shape: "
            f"{tuple(images.shape)}"
        )
    if input_range is None and is_float and _within_unit_range(images):
        warnings.warn(
            "preprocess_input expects pixels in [0, 255], but these float images "
            "all lie within [-1, 1]: already scaled to [0, 1], or already "
            "preprocessed? They would all map to about -1. Pass input_range=(0, 1) "
            "for [0, 1] images, or input_range=(0, 255) if [0, 255] is right.",
            UserWarning,
            stacklevel=2,
        )
    if input_range is not None and input_range != (0.0, 255.0):
        low, high = input_range
        images = (images - low) * (255.0 / (high - low))
    return preprocessing_layer(mode)(images)
