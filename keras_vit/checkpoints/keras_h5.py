"""Keras `.weights.h5` files (and the weights inside `.keras` archives)
written from a keras_vit `VisionTransformer`.

Keras 3 stores a functional model's weights as
`layers/<generic name>/<sublayer attribute>/.../vars/<index>`, where the
generic name is the snake-cased class name with a counter
(`transformer_block`, `transformer_block_1`, ..., `dense` for the head,
`layer_normalization` for the final norm), and a layer's own variables are
numbered in creation order. This module maps those groups back to
keras_vit's variable paths, so a file saved at one resolution or class count
loads into another model the way the other formats do.
"""

import io
import re
import zipfile

import numpy as np

from keras_vit.checkpoints import layout

# Own variables of each layer, in creation order (the `vars/<i>` order).
_VARIABLE_NAMES = {
    "layer_norm_1": ("gamma", "beta"),
    "layer_norm_2": ("gamma", "beta"),
    "layer_normalization": ("gamma", "beta"),
    "layer_scale_1": ("layer_scale",),
    "layer_scale_2": ("layer_scale",),
}
_TOP_LEVEL = {
    "patch_embedding": "patch_embedding",
    "class_token": "class_token",
    "position_embedding": "position_embedding",
    "register_tokens": "register_tokens",
    "layer_normalization": "encoder_norm",
    "dense": "head",
}
_TOKEN_LAYERS = ("class_token", "position_embedding", "register_tokens")
_BLOCK = re.compile(r"^transformer_block(?:_(\d+))?$")


def read_h5(source):
    """Reads every dataset of an HDF5 file (path or file object) into a dict."""
    import h5py

    arrays = {}
    with h5py.File(source, "r") as handle:
        def visit(name, item):
            if isinstance(item, h5py.Dataset):
                arrays[name] = np.asarray(item[()])

        handle.visititems(visit)
    return arrays


def read_keras_archive(path):
    """Reads the weights file inside a `.keras` zip archive."""
    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    return read_h5(io.BytesIO(data))


def looks_like_keras(keys):
    return any(k.startswith("layers/patch_embedding/") for k in keys)


def to_keras(arrays, description="The checkpoint"):
    """Converts Keras `.weights.h5` datasets to keras_vit variable paths.

    Returns:
        `(weights, source)` as `google.to_keras`.
    """
    source = layout.KeySource(arrays, description)
    weights = layout.AssignOnce()
    for key in sorted(arrays):
        parts = key.split("/")
        if len(parts) < 4 or parts[0] != "layers" or parts[-2] != "vars":
            continue
        top, inner, index = parts[1], parts[2:-2], int(parts[-1])
        block = _BLOCK.match(top)
        if block:
            ours = f"transformer_block_{int(block.group(1) or 0)}"
        elif top in _TOP_LEVEL:
            ours = _TOP_LEVEL[top]
        else:
            continue
        owner = inner[-1] if inner else top
        if top in _TOKEN_LAYERS:
            names = (top,)
        else:
            names = _VARIABLE_NAMES.get(owner, ("kernel", "bias"))
        if index >= len(names):
            continue
        weights["/".join([ours, *inner, names[index]])] = source.take(key)
    if not weights:
        raise ValueError(f"{description} holds no keras_vit VisionTransformer weights.")
    return weights, source
