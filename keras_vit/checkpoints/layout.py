"""keras_vit's weight paths: the common layout every converter maps to.

A checkpoint is converted to a dict `{variable.path: np.ndarray}` keyed by
the paths of `VisionTransformer` variables (they are frozen: see the model's
docstring). The position embedding always carries the class token's slot in
this layout, as keras_vit's does.
"""

import re

import numpy as np

PATCH_KERNEL = "patch_embedding/projection/kernel"
PATCH_BIAS = "patch_embedding/projection/bias"
CLASS_TOKEN = "class_token/class_token"
POSITION_EMBEDDING = "position_embedding/position_embedding"
REGISTER_TOKENS = "register_tokens/register_tokens"
NORM_SCALE = "encoder_norm/gamma"
NORM_BIAS = "encoder_norm/beta"
HEAD_KERNEL = "head/kernel"
HEAD_BIAS = "head/bias"
HEAD_KEYS = (HEAD_KERNEL, HEAD_BIAS)

_BLOCK = re.compile(r"^transformer_block_(\d+)/")


def block_prefix(index):
    """`"transformer_block_{index}/"`."""
    return f"transformer_block_{index}/"


def count_blocks(weights):
    """Number of transformer blocks with at least one weight in `weights`."""
    indices = {int(m.group(1)) for m in map(_BLOCK.match, weights) if m}
    if indices and indices != set(range(max(indices) + 1)):
        raise ValueError(f"The checkpoint's blocks are not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def grid_of(num_patches, hint=None):
    """The patch grid `(h, w)` of a flattened position table.

    A square grid is assumed (every published checkpoint has one) unless
    `hint` (the model's grid) has exactly `num_patches` cells.
    """
    if hint is not None and hint[0] * hint[1] == num_patches:
        return tuple(hint)
    side = int(round(num_patches**0.5))
    if side * side != num_patches:
        raise ValueError(
            f"Cannot infer the patch grid of a position embedding with {num_patches} "
            "patch slots: it is not square and does not match the model's grid."
        )
    return (side, side)


class KeySource:
    """Arrays of a checkpoint, tracking which keys a converter consumed."""

    def __init__(self, arrays, description):
        self.arrays = dict(arrays)
        self.description = description
        self.used = set()

    def __contains__(self, key):
        return key in self.arrays

    def take(self, key):
        """Returns the array under `key` as NumPy and marks it used.

        Each key may be taken once: a converter that read one array into two
        weights would be a bug, caught here.
        """
        if key not in self.arrays:
            raise ValueError(f"{self.description} has no key {key!r}.")
        if key in self.used:
            raise RuntimeError(f"Checkpoint key {key!r} was converted twice.")
        self.used.add(key)
        return np.asarray(self.arrays[key])

    def unused(self):
        return sorted(set(self.arrays) - self.used)


class AssignOnce(dict):
    """A dict that refuses to set a key twice (each model weight gets
    exactly one value from a checkpoint)."""

    def __setitem__(self, key, value):
        if key in self:
            raise RuntimeError(f"Model weight {key!r} was given two values by the converter.")
        super().__setitem__(key, value)
