"""Attention maps, attention rollout and heatmap overlays for a ViT.

`attention_maps` runs a `VisionTransformer`'s own layers (and weights) in
inference mode and returns the attention probabilities of its blocks;
`attention_rollout` (pure NumPy) turns them into one class-token heatmap over
the patch grid; `overlay_attention` blends a heatmap over its image and can
write the result as a PNG (with Pillow and matplotlib, imported on use).
"""

import math
import numbers
import os
import weakref

import keras
import numpy as np

from keras_vit import layer_names

from keras_vit._validation import check_bool

HEAD_FUSIONS = ("mean", "max", "min")
INTERPOLATIONS = ("bilinear", "nearest")

# model -> {tuple of block indices: functional keras.Model}. Weak keys, so a
# model that is deleted takes its attention models with it. The attention
# models share the model's layers (and so its variables): later weight
# updates, e.g. more training, are seen without rebuilding them.
_ATTENTION_MODELS = weakref.WeakKeyDictionary()


def _block_names(model):
    """Names of the model's `transformer_block_{i}` layers, in order."""
    return layer_names.block_names(model)


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a keras_vit VisionTransformer (a keras.Model with "
            f"layers named transformer_block_0, ...). Received: model of type {type(model).__name__}"
        )
    blocks = _block_names(model)
    if not blocks:
        raise ValueError(
            "`model` must be a keras_vit VisionTransformer with layers named "
            f"transformer_block_0, transformer_block_1, ...; model {model.name!r} has none."
        )
    if len(model.inputs) != 1:
        raise ValueError(
            f"`model` must take a single image input. Received: a model with {len(model.inputs)} inputs"
        )
    return blocks


def _image_shape(model):
    shape = getattr(model, "image_shape", None)
    if shape is None:
        shape = tuple(model.inputs[0].shape[1:])
    return tuple(shape)


def _check_layers(layers, num_layers):
    if layers is None:
        return tuple(range(num_layers))
    if isinstance(layers, numbers.Integral) and not isinstance(layers, bool):
        layers = [layers]
    if not isinstance(layers, (list, tuple, range)) or not len(layers):
        raise TypeError(
            "`layers` must be None, a block index or a non-empty list of block "
            f"indices. Received: layers={layers!r}"
        )
    indices = set()
    for index in layers:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"`layers` must hold integer block indices. Received: layers={layers!r}")
        if not -num_layers <= index < num_layers:
            raise ValueError(
                f"`layers` must hold block indices in [{-num_layers}, {num_layers - 1}] "
                f"(the model has {num_layers} blocks). Received: layers={layers!r}"
            )
        indices.add(int(index) % num_layers)
    return tuple(sorted(indices))


class _AttentionProbe(keras.layers.Layer):
    """Calls one transformer block with `return_attention_scores=True`.

    Calling the block itself on a symbolic tensor would add a second node
    (with two outputs) to the model's own layer, which the functional API
    cannot map and which would change `block.output`-style lookups on the
    model. The probe owns the only new node; the block runs inside its call,
    with its own weights, exactly as in the model.
    """

    def __init__(self, block, **kwargs):
        super().__init__(name=f"{block.name}_probe", dtype=block.dtype_policy, **kwargs)
        self.block = block

    def build(self, input_shape):
        self.built = True

    def call(self, tokens, training=None):
        return self.block(tokens, training=training, return_attention_scores=True)


def attention_model(model, layers=None):
    """Returns a functional model mapping images to attention probabilities.

    The returned `keras.Model` reuses `model`'s input, its embedding stage
    and its transformer blocks (the same layer objects, so the same weights;
    nothing is copied or rebuilt), calling each block with
    `return_attention_scores=True`. It stops after the deepest block asked
    for. `model` itself is not modified: its outputs, config and weights stay
    as they were. The result is cached per model and block selection, so
    repeated calls are cheap. Most users want `attention_maps`, which runs it.

    Args:
        model: a `keras_vit.VisionTransformer` (or a `keras.Model` with its
            layer names `transformer_block_{i}`).
        layers: None (every block), a block index, or a list of block
            indices; negative indices count from the last block.

    Returns:
        A `keras.Model` whose outputs are a list with one
        `(batch, num_heads, num_tokens, num_tokens)` tensor per selected
        block, in ascending block order.

    Example:
    >>> from keras_vit import VisionTransformer
    >>> vit = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(16, 16, 3), classes=3)
    >>> [tuple(output.shape) for output in attention_model(vit).outputs]
    [(None, 2, 17, 17), (None, 2, 17, 17)]
    """
    blocks = _check_model(model)
    selected = _check_layers(layers, len(blocks))
    cache = _ATTENTION_MODELS.setdefault(model, {})
    if selected in cache:
        return cache[selected]

    # Start from the tensor block 0 receives in the model's own graph (after
    # patch embedding, class token, position embedding, register tokens and
    # embedding dropout), then chain the blocks through probes.
    tokens = model.get_layer(blocks[0]).input
    outputs = []
    for index in range(selected[-1] + 1):
        tokens, probs = _AttentionProbe(model.get_layer(blocks[index]))(tokens)
        if index in selected:
            outputs.append(probs)
    # Named after the model: keras.Model would otherwise auto-name it, and
    # with the global name counters advanced later layer names could shift.
    result = keras.Model(model.inputs, outputs, name=f"{model.name}_attention")
    cache[selected] = result
    return result


def _check_images(images, image_shape):
    if hasattr(images, "element_spec") or hasattr(images, "__next__"):
        raise TypeError(
            "`images` must be an array of shape (batch, height, width, channels); "
            f"datasets and generators are not accepted. Received: images of type {type(images).__name__}"
        )
    try:
        array = np.asarray(keras.ops.convert_to_numpy(images))
    except Exception as error:  # noqa: BLE001 - re-raised with the argument's name
        raise TypeError(
            "`images` must be an array of shape (batch, height, width, channels). "
            f"Received: images of type {type(images).__name__}"
        ) from error
    if array.dtype.kind not in "biuf" and str(array.dtype) != "bfloat16":
        raise TypeError(f"`images` must hold numbers. Received: images of dtype {array.dtype}")
    if array.ndim != 4 or tuple(array.shape[1:]) != tuple(image_shape):
        hint = " (for a single image use `images[None]`)" if array.ndim == 3 else ""
        raise ValueError(
            f"`images` must have shape (batch, {', '.join(str(s) for s in image_shape)}), "
            f"the model's image shape{hint}. Received: images of shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError("`images` must hold at least one image. Received: an empty batch")
    return array.astype("float32")


def attention_maps(model, images, layers=None, batch_size=32):
    """Attention probabilities of a ViT's blocks for a batch of images.

    Runs `model`'s own layers in inference mode (dropout and drop path off)
    through `attention_model` and one `predict` call, so it works the same on
    TensorFlow, JAX and PyTorch and never modifies `model`. Give `images` as
    the model expects them (e.g. `keras_vit.preprocess_input` already
    applied).

    Token order along the last two axes is the model's: the class token
    (index 0; none with `class_token=False`), the distillation token (a
    distilled model), the register tokens, then the `grid_h * grid_w`
    patch tokens in row-major order (`model.num_prefix_tokens` tokens come
    before the patches). These are the blocks' attentions; the attention
    pooling head of a MAP model (SigLIP) is not included.

    Args:
        model: a `keras_vit.VisionTransformer`.
        images: array `(batch, height, width, channels)` of the model's
            `image_shape`.
        layers: None (every block), a block index or a list of block
            indices; negative indices count from the last block.
        batch_size: int. Batch size of the `predict` call.

    Returns:
        A dict mapping each selected block index (ascending, non-negative) to
        a float32 NumPy array `(batch, num_heads, num_tokens, num_tokens)`;
        each row is a softmax distribution over the tokens (it sums to 1).

    Raises:
        TypeError: if `model` is not a ViT or an argument has a wrong type.
        ValueError: if `images` does not match `model.image_shape`, or a
            block index is out of range.

    Example:
    >>> import numpy as np
    >>> from keras_vit import VisionTransformer
    >>> vit = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
    ...     num_heads=2, mlp_dim=32, input_shape=(16, 16, 3), classes=3)
    >>> maps = attention_maps(vit, np.zeros((3, 16, 16, 3), "float32"))
    >>> sorted(maps), maps[1].shape
    ([0, 1], (3, 2, 17, 17))
    >>> bool(np.allclose(maps[1].sum(-1), 1.0, atol=1e-5))
    True
    """
    blocks = _check_model(model)
    selected = _check_layers(layers, len(blocks))
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    images = _check_images(images, _image_shape(model))

    extractor = attention_model(model, selected)
    outputs = extractor.predict(images, batch_size=int(batch_size), verbose=0)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return {
        index: np.asarray(keras.ops.convert_to_numpy(output)).astype("float32")
        for index, output in zip(selected, outputs)
    }


def _as_map_list(maps):
    if isinstance(maps, dict):
        if not maps:
            raise ValueError("`maps` must hold at least one attention map. Received: an empty dict")
        keys = sorted(maps)
        if keys != list(range(keys[0], keys[0] + len(keys))):
            raise ValueError(
                "`maps` must hold consecutive blocks for a rollout (each block "
                f"attends to the previous one's output). Received block indices {keys}"
            )
        arrays = [maps[key] for key in keys]
    elif isinstance(maps, (list, tuple)):
        arrays = list(maps)
    elif isinstance(maps, np.ndarray) and maps.ndim == 5:
        arrays = list(maps)
    else:
        raise TypeError(
            "`maps` must be the dict returned by `attention_maps`, a list of "
            "(batch, heads, tokens, tokens) arrays, or one array "
            f"(layers, batch, heads, tokens, tokens). Received: maps of type {type(maps).__name__}"
        )
    if not arrays:
        raise ValueError("`maps` must hold at least one attention map. Received: an empty sequence")
    arrays = [np.asarray(array, dtype=np.float64) for array in arrays]
    first = arrays[0].shape
    for array in arrays:
        if array.ndim != 4 or array.shape[-1] != array.shape[-2]:
            raise ValueError(
                "Each attention map in `maps` must have shape (batch, heads, tokens, "
                f"tokens). Received a map of shape {array.shape}"
            )
        if array.shape != first:
            raise ValueError(
                f"All attention maps in `maps` must have the same shape. Received shapes {first} and {array.shape}"
            )
    return arrays


def _discard_lowest(attention, discard_ratio):
    """Zeroes the `floor(discard_ratio * tokens)` smallest entries of each row."""
    count = int(math.floor(discard_ratio * attention.shape[-1]))
    if count == 0:
        return attention
    order = np.argsort(attention, axis=-1, kind="stable")[..., :count]
    attention = attention.copy()
    np.put_along_axis(attention, order, 0.0, axis=-1)
    return attention


def attention_rollout(
    maps,
    head_fusion="mean",
    discard_ratio=0.0,
    residual=True,
    num_prefix_tokens=1,
    grid_size=None,
):
    """Attention rollout: how much the class token draws on each patch.

    Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020.
    For each block, in order: the heads are fused (`head_fusion`) into one
    `(tokens, tokens)` matrix `A`; with `discard_ratio > 0` the smallest
    entries of each row are set to zero (the noise filter of the popular
    `vit-explain` implementation, applied per row here so no row empties);
    with `residual=True` the identity is added for the skip connection, `A +
    I`; each row is renormalised to sum to 1. The rollout is the product
    `A_last @ ... @ A_first`, and the result is its class-token row (row 0)
    over the patch tokens, reshaped to the patch grid.

    Register tokens (and the class token) take part in the product, as they
    do in the model, but their columns are left out of the returned grid, so
    it sums to 1 minus the share the class token keeps on the prefix tokens.
    Computed in float64 NumPy on any backend.

    Args:
        maps: the dict returned by `attention_maps` (its blocks must be
            consecutive), a list of arrays `(batch, heads, tokens, tokens)`
            from the first block to the last, or one array
            `(layers, batch, heads, tokens, tokens)`.
        head_fusion: `"mean"`, `"max"` or `"min"` over the heads.
        discard_ratio: float in [0, 1). Fraction of each fused row's
            smallest entries set to zero (`floor(ratio * tokens)` of them).
        residual: bool. Whether to add the identity (residual path).
        num_prefix_tokens: int >= 1. Class token plus register tokens
            before the patches: `model.num_prefix_tokens`.
        grid_size: `(grid_h, grid_w)` or None for a square grid inferred from
            the token count: `model.grid_size`.

    Returns:
        float32 NumPy array `(batch, grid_h, grid_w)`, non-negative.

    Example:
    >>> import numpy as np
    >>> uniform = np.full((1, 2, 5, 5), 0.2)  # 1 image, 2 heads, 1 + 2x2 tokens
    >>> attention_rollout([uniform, uniform], residual=False)
    array([[[0.2, 0.2],
            [0.2, 0.2]]], dtype=float32)
    """
    arrays = _as_map_list(maps)
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"`head_fusion` must be one of {HEAD_FUSIONS}. Received: head_fusion={head_fusion!r}")
    if isinstance(discard_ratio, bool) or not isinstance(discard_ratio, numbers.Real):
        raise TypeError(f"`discard_ratio` must be a float in [0, 1). Received: discard_ratio={discard_ratio!r}")
    if not 0.0 <= float(discard_ratio) < 1.0:
        raise ValueError(f"`discard_ratio` must be in [0, 1). Received: discard_ratio={discard_ratio!r}")
    residual = check_bool("residual", residual)
    num_tokens = arrays[0].shape[-1]
    if (
        isinstance(num_prefix_tokens, bool)
        or not isinstance(num_prefix_tokens, numbers.Integral)
        or not 1 <= num_prefix_tokens < num_tokens
    ):
        raise ValueError(
            f"`num_prefix_tokens` must be an integer in [1, {num_tokens - 1}] (the maps "
            f"have {num_tokens} tokens). Received: num_prefix_tokens={num_prefix_tokens!r}"
        )
    num_patches = num_tokens - int(num_prefix_tokens)
    if grid_size is None:
        side = math.isqrt(num_patches)
        if side * side != num_patches:
            raise ValueError(
                f"`grid_size` is needed: the {num_patches} patch tokens (after "
                f"num_prefix_tokens={num_prefix_tokens}) do not form a square grid. Pass "
                "`grid_size=model.grid_size, num_prefix_tokens=model.num_prefix_tokens`."
            )
        grid_size = (side, side)
    if (
        not isinstance(grid_size, (tuple, list))
        or len(grid_size) != 2
        or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in grid_size)
        or grid_size[0] * grid_size[1] != num_patches
    ):
        raise ValueError(
            f"`grid_size` must be a pair (grid_h, grid_w) with grid_h * grid_w = {num_patches}, "
            f"the number of patch tokens. Received: grid_size={grid_size!r}"
        )
    if any(np.any(~np.isfinite(array)) or np.any(array < 0) for array in arrays):
        raise ValueError("`maps` must hold finite, non-negative attention probabilities.")

    fuse = {"mean": np.mean, "max": np.max, "min": np.min}[head_fusion]
    batch = arrays[0].shape[0]
    identity = np.eye(num_tokens)
    rollout = np.broadcast_to(identity, (batch, num_tokens, num_tokens))
    for array in arrays:
        attention = fuse(array, axis=1)
        attention = _discard_lowest(attention, float(discard_ratio))
        if residual:
            attention = attention + identity
        totals = attention.sum(-1, keepdims=True)
        # A row can only be all zero without the residual (e.g. "min" fusion
        # of heads attending to disjoint tokens); it then passes nothing on.
        attention = np.divide(attention, totals, out=np.zeros_like(attention), where=totals > 0)
        rollout = attention @ rollout
    cls_row = rollout[:, 0, int(num_prefix_tokens):]
    return cls_row.reshape(batch, int(grid_size[0]), int(grid_size[1])).astype("float32")


def _resize(heatmap, height, width, interpolation):
    """Resizes a 2-D map (half-pixel centres, edges clamped), in NumPy."""

    def matrix(in_size, out_size):
        if interpolation == "nearest":
            source = np.minimum(((np.arange(out_size) + 0.5) * in_size / out_size).astype(np.int64), in_size - 1)
            weights = np.zeros((out_size, in_size))
            weights[np.arange(out_size), source] = 1.0
            return weights
        positions = np.clip((np.arange(out_size) + 0.5) * (in_size / out_size) - 0.5, 0.0, in_size - 1)
        lower = np.floor(positions).astype(np.int64)
        upper = np.minimum(lower + 1, in_size - 1)
        frac = positions - lower
        weights = np.zeros((out_size, in_size))
        np.add.at(weights, (np.arange(out_size), lower), 1.0 - frac)
        np.add.at(weights, (np.arange(out_size), upper), frac)
        return weights

    return matrix(heatmap.shape[0], height) @ heatmap @ matrix(heatmap.shape[1], width).T


def _image_to_unit(image, image_range):
    if image_range is None:
        if image.dtype.kind in "biu":
            image_range = (0.0, 255.0)
        else:
            low, high = float(image.min()), float(image.max())
            if low >= 0.0 and high <= 1.0:
                image_range = (0.0, 1.0)
            elif low >= -1.0 and high <= 1.0:
                image_range = (-1.0, 1.0)
            elif low >= 0.0 and high <= 255.0:
                image_range = (0.0, 255.0)
            else:
                image_range = (low, high if high > low else low + 1.0)
    low, high = image_range
    return np.clip((image.astype(np.float64) - low) / (high - low), 0.0, 1.0)


def _check_overlay_args(image, heatmap, path, alpha, colormap, interpolation, image_range, overwrite):
    image = np.asarray(keras.ops.convert_to_numpy(image))
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype.kind not in "biuf" or not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise ValueError(
            "`image` must be one numeric image (height, width), (height, width, 1) or "
            f"(height, width, 3). Received: image of shape {image.shape} and dtype {image.dtype}"
        )
    heatmap = np.asarray(keras.ops.convert_to_numpy(heatmap), dtype=np.float64)
    if heatmap.ndim != 2 or min(heatmap.shape) < 1:
        raise ValueError(
            "`heatmap` must be one 2-D map (grid_h, grid_w), e.g. `attention_rollout(...)[i]`. "
            f"Received: heatmap of shape {heatmap.shape}"
        )
    if not np.all(np.isfinite(heatmap)):
        raise ValueError("`heatmap` must hold finite values.")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"`alpha` must be a float in [0, 1]. Received: alpha={alpha!r}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"`interpolation` must be one of {INTERPOLATIONS}. Received: interpolation={interpolation!r}")
    overwrite = check_bool("overwrite", overwrite)
    if not isinstance(colormap, str):
        raise TypeError(f"`colormap` must be a matplotlib colormap name. Received: colormap={colormap!r}")
    if image_range is not None and (
        not isinstance(image_range, (tuple, list)) or len(image_range) != 2 or not image_range[1] > image_range[0]
    ):
        raise ValueError(f"`image_range` must be None or a pair (low, high) with low < high. Received: {image_range!r}")
    if path is not None:
        path = os.fspath(path)
        if not path.lower().endswith(".png"):
            raise ValueError(f"`path` must name a .png file. Received: path={path!r}")
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"`path` {path!r} already exists; pass overwrite=True to replace it.")
    return image, heatmap, path


def _colormap(name):
    try:
        import matplotlib
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "`overlay_attention` needs matplotlib for its colormaps. Install it "
            "with `pip install matplotlib` (or `pip install 'keras-vit-zoo[plot]'`)."
        ) from error
    try:
        return matplotlib.colormaps[name]
    except KeyError as error:
        raise ValueError(f"`colormap` must name a matplotlib colormap. Received: colormap={name!r}") from error


def _write_png(array, path, overwrite):
    try:
        from PIL import Image
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError(
            "`overlay_attention(path=...)` needs Pillow to write PNG files. "
            "Install it with `pip install pillow`."
        ) from error
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    try:
        # "xb" fails if the file appeared since the check: never overwrite.
        with open(path, "wb" if overwrite else "xb") as file:
            Image.fromarray(array).save(file, format="PNG")
    except FileExistsError as error:
        raise FileExistsError(f"`path` {path!r} already exists; pass overwrite=True to replace it.") from error


def overlay_attention(
    image,
    heatmap,
    path=None,
    alpha=0.5,
    colormap="jet",
    interpolation="bilinear",
    image_range=None,
    overwrite=False,
):
    """Blends a patch-grid heatmap over its image; optionally saves a PNG.

    The heatmap is scaled to [0, 1] (min to max; a constant map becomes 0),
    upsampled to the image size (`"bilinear"`, or `"nearest"` to show the
    patches as blocks), coloured with a matplotlib colormap and blended:
    `(1 - alpha) * image + alpha * colour`. The image is scaled to [0, 1]
    from `image_range`, so model inputs in [-1, 1] work too.

    Args:
        image: one image `(height, width)`, `(height, width, 1)` or
            `(height, width, 3)`.
        heatmap: 2-D array `(grid_h, grid_w)`, e.g. one image of
            `attention_rollout`, or `maps[layer][i, head, 0, prefix:]`
            reshaped to the grid.
        path: str, path-like or None. Where to write the PNG (must end with
            `.png`; missing folders are created). None writes nothing.
        alpha: float in [0, 1]. Weight of the heatmap colour.
        colormap: str. A matplotlib colormap name.
        interpolation: `"bilinear"` or `"nearest"`.
        image_range: `(low, high)` pixel range of `image`, or None to infer
            it: integers are [0, 255]; floats [0, 1], [-1, 1] or [0, 255],
            whichever first contains them, else their min to max.
        overwrite: bool. Whether an existing `path` may be replaced;
            otherwise a `FileExistsError` is raised before any work.

    Returns:
        uint8 NumPy array `(height, width, 3)`: the blended RGB image.

    Raises:
        ValueError: on a malformed image, heatmap or argument.
        FileExistsError: if `path` exists and `overwrite` is False.
        ImportError: if matplotlib (or, with `path`, Pillow) is missing.

    Example:
    >>> import numpy as np
    >>> image = np.zeros((16, 16, 3), "uint8")
    >>> heatmap = np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> rgb = overlay_attention(image, heatmap, alpha=1.0, interpolation="nearest")
    >>> rgb.shape, rgb.dtype.name, bool((rgb[0, 15] != rgb[15, 0]).any())
    ((16, 16, 3), 'uint8', True)
    """
    image, heatmap, path = _check_overlay_args(
        image, heatmap, path, alpha, colormap, interpolation, image_range, overwrite
    )
    cmap = _colormap(colormap)
    unit = _image_to_unit(image, image_range)
    if unit.ndim == 2:
        unit = np.repeat(unit[..., None], 3, axis=-1)
    low, high = heatmap.min(), heatmap.max()
    scaled = (heatmap - low) / (high - low) if high > low else np.zeros_like(heatmap)
    upsampled = np.clip(_resize(scaled, unit.shape[0], unit.shape[1], interpolation), 0.0, 1.0)
    colour = np.asarray(cmap(upsampled))[..., :3]
    blended = (1.0 - alpha) * unit + alpha * colour
    rgb = np.round(np.clip(blended, 0.0, 1.0) * 255.0).astype(np.uint8)
    if path is not None:
        _write_png(rgb, path, overwrite)
    return rgb
