"""Recognising and reading checkpoint files by their contents.

The container is told by its first bytes, never by the file name: a zip
(`PK`) holding `.npy` members is an `.npz`, one holding `model.weights.h5`
a `.keras` archive; `\\x89HDF` starts an HDF5 file; a little-endian length
followed by a JSON object is a `.safetensors` file. The layout is then told
by the keys. Nothing is unpickled: `.npz` members holding Python objects
are refused, and pickle-based PyTorch files (`.pth`, `.bin`) are refused
with a hint.

Opening a file reads its headers only (zip directory and `.npy` headers,
the safetensors JSON header, HDF5 metadata): every array's shape and dtype
is known before any data is read, and an array is read when it is
accessed. A huge array the model does not need therefore costs nothing,
and the loader refuses an array larger than the weight it is meant for
before reading it. Anything malformed raises a ValueError naming the file.
"""

import pathlib
import zipfile

import numpy as np

from keras_vit.checkpoints import keras_h5, layout, registry
from keras_vit.checkpoints.safetensors_io import bfloat16_bits_to_float32, open_safetensors, read_into

# Layout names, as reported by `sniff_format` and `LoadReport.format`.
FORMATS = tuple(layout.name for layout in registry.LAYOUTS)
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _container(path):
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(_HDF5_MAGIC):
        return "hdf5"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        with layout.file_errors(path, "it starts like a zip archive but cannot be read as one"):
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        if keras_h5.ARCHIVE_MEMBER in names:
            return "keras_archive"
        if any(n.endswith("data.pkl") for n in names):
            return "torch_pickle"
        if names and all(n.endswith(".npy") for n in names):
            return "npz"
        return "zip"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 1:
        return "safetensors"
    if head[:1] == b"\x80":
        return "torch_pickle"
    return "unknown"


def _npy_header(handle, path, key):
    """`(shape, fortran_order, dtype)` from the `.npy` header at the start of
    `handle` (an open zip member), leaving it at the first data byte."""
    with layout.file_errors(path, f"cannot read the .npy header of member {key + '.npy'!r}"):
        version = np.lib.format.read_magic(handle)
        if version not in _NPY_HEADER_READERS:
            raise ValueError(f".npy format version {version} is not supported (1.0 and 2.0 are)")
        shape, fortran_order, dtype = _NPY_HEADER_READERS[version](handle)
    if any(d < 0 for d in shape):
        raise ValueError(f"{path}: array {key!r} has a negative dimension in its shape {shape}.")
    if dtype.hasobject:
        raise ValueError(
            f"{path}: array {key!r} holds Python objects; keras_vit never unpickles "
            "(allow_pickle=False)."
        )
    if dtype.subdtype is not None or dtype.itemsize == 0:
        raise ValueError(f"{path}: array {key!r} has dtype {dtype}, which holds no plain array.")
    return tuple(shape), fortran_order, dtype


def _npz_member_key(member):
    return member.filename[: -len(".npy")]


def _open_npz(path):
    """Opens an `.npz` file: reads its zip directory and each member's `.npy`
    header (shape, dtype) and checks that each member holds exactly the
    bytes its header declares; arrays are read on access."""
    infos, members = {}, {}
    with layout.file_errors(path, "cannot read it as a zip archive"):
        archive = zipfile.ZipFile(path)
    with archive:
        for member in archive.infolist():
            key = _npz_member_key(member)
            if key in members:
                raise ValueError(f"{path}: the zip archive holds two members named {member.filename!r}.")
            with layout.file_errors(path, f"cannot open member {member.filename!r}"):
                handle = archive.open(member)
            with handle:
                shape, fortran_order, dtype = _npy_header(handle, path, key)
                start = handle.tell()
            needed = start + int(np.prod(shape, dtype=object)) * dtype.itemsize
            if needed != member.file_size:
                raise ValueError(
                    f"{path}: member {member.filename!r} declares an array of shape {shape} and "
                    f"dtype {dtype} ({needed - start} bytes) but holds {member.file_size - start} "
                    "bytes of data: it is truncated or corrupt."
                )
            bfloat16 = dtype.kind == "V" and dtype.itemsize == 2 and dtype.names is None
            # bfloat16 saved by JAX (raw 2-byte records) is read as float32.
            infos[key] = layout.ArrayInfo(shape, np.dtype("float32") if bfloat16 else dtype)
            members[key] = (member.filename, shape, fortran_order, dtype, bfloat16)

    def read(key):
        name, shape, fortran_order, dtype, bfloat16 = members[key]
        with layout.file_errors(path, f"cannot read member {name!r}"):
            with zipfile.ZipFile(path) as archive, archive.open(name) as handle:
                if _npy_header(handle, path, key) != (shape, fortran_order, dtype):
                    raise ValueError(f"{path}: member {name!r} changed since the file was opened.")
                stored = shape[::-1] if fortran_order else shape
                array = read_into(handle, np.empty(stored, dtype), f"{path}: array {key!r}")
                if handle.read(1):
                    raise ValueError(f"{path}: member {name!r} holds more bytes than its header declares.")
        if fortran_order:
            array = array.T
        if bfloat16:
            array = bfloat16_bits_to_float32(array.view("<u2"))
        return array

    return layout.LazyArrays(path, infos, read)


def read_checkpoint(path):
    """Reads a checkpoint file and tells its layout.

    Only headers are read here; the arrays are read one by one when
    accessed, so this is cheap even for a large file.

    Args:
        path: str or path-like.

    Returns:
        `(layout, arrays)`: one of `FORMATS` and a read-only mapping that
        behaves like a dict of NumPy arrays under the file's own keys
        (a `LazyArrays`: `arrays.info(key)` gives an array's shape and
        dtype without reading it; `arrays[key]` reads it).

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the contents are not a supported checkpoint, or the
            file is truncated or malformed, naming the file and saying what
            was found.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint file at {str(path)!r}.")
    container = _container(path)
    if container == "torch_pickle":
        raise ValueError(
            f"{path} is a pickled PyTorch checkpoint. keras_vit never unpickles files; "
            "convert it to .safetensors (e.g. `safetensors.torch.save_file(state_dict, ...)`) "
            "or download the .safetensors file of the same weights."
        )
    if container not in _OPENERS:
        raise ValueError(
            f"{path} is not a supported checkpoint. Supported: Google/big_vision .npz, "
            "timm or Hugging Face transformers .safetensors, Keras .weights.h5 / .keras (told by "
            "content, not by name)."
        )
    kind, arrays = _OPENERS[container](path)
    reason = registry.refusals(arrays)
    if reason:
        reason = reason.rstrip(".")
        raise ValueError(f"{path} {reason}." if reason.startswith("has ") else f"{path}: {reason}.")
    for candidate in registry.layouts_for(kind):
        if candidate.recognise(arrays):
            return candidate.name, arrays
    raise ValueError(f"{path} {_UNRECOGNISED[kind]} (first keys: {sorted(arrays)[:5]}).")


def _open_keras(path):
    if _container(path) == "hdf5":
        return "keras", keras_h5.read_h5(path)
    return "keras", keras_h5.read_keras_archive(path)


_OPENERS = {
    "npz": lambda path: ("npz", _open_npz(path)),
    "safetensors": lambda path: ("safetensors", open_safetensors(path)[0]),
    "hdf5": _open_keras,
    "keras_archive": _open_keras,
}
_UNRECOGNISED = {
    "npz": "is an .npz file but not in the Google ViT layout (no 'embedding/kernel')",
    "safetensors": "is a safetensors file without the keys of a timm or transformers ViT",
    "keras": "is a Keras weights file but not of a keras_vit VisionTransformer",
}


def sniff_format(path):
    """Returns the layout of a checkpoint file: one of `FORMATS`.

    Example:
    >>> import numpy as np, tempfile, os
    >>> from keras_vit.checkpoints.safetensors_io import write_safetensors
    >>> path = os.path.join(tempfile.mkdtemp(), "weights.bin")  # name says nothing
    >>> write_safetensors(path, {"patch_embed.proj.weight": np.zeros((2, 3, 1, 1), "float32"),
    ...                          "pos_embed": np.zeros((1, 5, 2), "float32"),
    ...                          "blocks.0.norm1.weight": np.ones(2, "float32")})
    >>> sniff_format(path)
    'timm'
    """
    return read_checkpoint(path)[0]


def to_keras_layout(layout_name, arrays, num_heads, description="The checkpoint", expected=None):
    """Converts with the layout's converter; returns `(weights, source)`.

    `expected` (keras_vit variable path -> shape of the target model) makes
    the converter check each array's declared size before reading it (see
    `layout.KeySource`).
    """
    return registry.get_layout(layout_name).to_keras(arrays, num_heads, description, expected)
