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

import contextlib
import io
import re
import struct
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
ARCHIVE_MEMBER = "model.weights.h5"


class _Window(io.RawIOBase):
    """Bytes `[start, start + size)` of an open binary file, as a seekable
    file: an uncompressed zip member, read in place by h5py."""

    def __init__(self, handle, start, size):
        super().__init__()
        self._handle, self._start, self._size, self._position = handle, start, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer):
        count = max(0, min(len(buffer), self._size - self._position))
        if not count:
            return 0
        self._handle.seek(self._start + self._position)
        got = self._handle.readinto(memoryview(buffer)[:count])
        self._position += got
        return got


def _stored_member_start(handle, member):
    """Offset of an uncompressed member's data in the archive file."""
    handle.seek(member.header_offset)
    local = handle.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise ValueError(f"the local header of {member.filename!r} is missing")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    return member.header_offset + 30 + name_length + extra_length


@contextlib.contextmanager
def _open_h5(path, in_archive):
    """Opens the HDF5 file at `path`, or the one inside the `.keras` archive
    at `path`, read-only, without reading its datasets.

    An uncompressed member (what Keras writes) is read in place through a
    window on the archive; a compressed one is decompressed as h5py reads
    it. Neither is ever held in memory whole.
    """
    import h5py

    with contextlib.ExitStack() as stack:
        if in_archive:
            with layout.file_errors(path, "cannot read it as a .keras zip archive"):
                archive = stack.enter_context(zipfile.ZipFile(path))
                member = archive.getinfo(ARCHIVE_MEMBER)
                if member.compress_type == zipfile.ZIP_STORED and not member.flag_bits & 0x1:
                    raw = stack.enter_context(open(path, "rb"))
                    source = _Window(raw, _stored_member_start(raw, member), member.file_size)
                else:
                    source = stack.enter_context(archive.open(member))
            what = f"cannot read its {ARCHIVE_MEMBER} as HDF5"
        else:
            source, what = path, "cannot read it as HDF5"
        with layout.file_errors(path, what):
            handle = stack.enter_context(h5py.File(source, "r"))
        yield handle


def _dataset_infos(handle, path):
    """`{name: ArrayInfo}` of every dataset, from metadata only."""
    import h5py

    infos = {}

    def visit(name, item):
        if not isinstance(item, h5py.Dataset):
            return
        if item.external or item.is_virtual:
            # Such a dataset reads another file on this machine.
            raise ValueError(f"{path}: dataset {name!r} stores its data outside the file; refused.")
        if item.shape is None:  # an HDF5 "null" dataspace: no array at all
            raise ValueError(f"{path}: dataset {name!r} has no shape (null dataspace).")
        infos[name] = layout.ArrayInfo(tuple(item.shape), item.dtype)

    handle.visititems(visit)
    return infos


def _open_lazy(path, in_archive):
    what = f"its {ARCHIVE_MEMBER}" if in_archive else "it as HDF5"
    with _open_h5(path, in_archive) as handle:
        with layout.file_errors(path, f"cannot list the datasets of {what}"):
            infos = _dataset_infos(handle, path)

    def read(name):
        with _open_h5(path, in_archive) as handle:
            with layout.file_errors(path, f"cannot read dataset {name!r}"):
                return np.asarray(handle[name][()])

    return layout.LazyArrays(path, infos, read)


def read_h5(path):
    """Opens an HDF5 weights file; datasets are read when accessed.

    Returns:
        A `layout.LazyArrays` keyed by dataset path.
    """
    return _open_lazy(path, in_archive=False)


def read_keras_archive(path):
    """Opens the weights file inside a `.keras` zip archive; datasets are
    read when accessed, straight from the archive.

    Returns:
        A `layout.LazyArrays` keyed by dataset path.
    """
    return _open_lazy(path, in_archive=True)


def looks_like_keras(keys):
    return any(k.startswith("layers/patch_embedding/") for k in keys)


def to_keras(arrays, description="The checkpoint", expected=None):
    """Converts Keras `.weights.h5` datasets to keras_vit variable paths.

    Args:
        arrays: mapping dataset path -> array.
        description: str naming the file in error messages.
        expected: optional dict keras_vit variable path -> shape of the
            model being loaded (see `google.to_keras`).

    Returns:
        `(weights, source)` as `google.to_keras`.
    """
    source = layout.KeySource(arrays, description, expected)
    weights = layout.AssignOnce()
    for key in sorted(arrays):
        parts = key.split("/")
        if len(parts) < 4 or parts[0] != "layers" or parts[-2] != "vars":
            continue
        if not parts[-1].isdigit():
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
        target = "/".join([ours, *inner, names[index]])
        weights[target] = source.take(key, target)
    if not weights:
        raise ValueError(f"{description} holds no keras_vit VisionTransformer weights.")
    return weights, source
