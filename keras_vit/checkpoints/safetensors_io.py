"""Reading and writing `.safetensors` files with NumPy only.

The format (https://github.com/huggingface/safetensors): 8 bytes of
little-endian header length `n`, `n` bytes of UTF-8 JSON mapping each tensor
name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets into the
data that follows; an optional `"__metadata__"` entry maps strings to
strings), then the raw little-endian, C-ordered tensor bytes. No code is ever
executed when reading, unlike pickle-based `.pth`/`.bin` files.
"""

import json
import os
import pathlib
import struct

import numpy as np

from keras_vit._files import atomic_write
from keras_vit.checkpoints import layout

# safetensors dtype names -> NumPy dtypes. BF16 has no NumPy dtype: it is read
# as uint16 bits and widened to float32 exactly (bf16 is the top half of f32).
_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}
_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
# Larger headers are not written by any safetensors producer; refusing them
# keeps a corrupt or hostile file from making us allocate gigabytes of JSON.
MAX_HEADER_BYTES = 100 * 1024 * 1024
# Arrays are read (and written) in pieces of this size, so reading never
# holds a second copy of an array.
_CHUNK_BYTES = 16 * 1024 * 1024
# The reference implementation counts bytes in a 64-bit integer.
_MAX_BYTES = 2**64 - 1


def bfloat16_bits_to_float32(bits):
    """Widens bfloat16 values stored as uint16 bits to float32 (exactly)."""
    bits = np.asarray(bits, dtype="<u2")
    return (bits.astype("<u4") << 16).view("<f4")


def read_into(handle, array, description):
    """Fills C-contiguous `array` with the next bytes of binary `handle`.

    Reads in pieces straight into the array's memory; a file that ends
    early raises a ValueError with `description` (what is being read).
    """
    view = memoryview(array.reshape(-1).view(np.uint8))
    filled = 0
    while filled < len(view):
        count = handle.readinto(view[filled:filled + _CHUNK_BYTES])
        if not count:
            raise ValueError(
                f"{description} is cut short: {filled} of its {len(view)} bytes are in the file."
            )
        filled += count
    return array


def _unique_object(pairs):
    # json.loads keeps the last of two equal keys; a header naming a tensor
    # (or a field) twice is ambiguous, so it is refused instead.
    result = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"the key {name!r} appears twice in one JSON object")
        result[name] = value
    return result


def read_safetensors_header(path):
    """Returns `(header, data_start)` of a `.safetensors` file.

    Raises:
        ValueError: if the file is not a well-formed safetensors file.
    """
    path = pathlib.Path(path)
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ValueError(f"{path} is not a safetensors file: shorter than 8 bytes.")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise ValueError(
                f"{path} is not a safetensors file: its header length field ({length}) "
                f"exceeds the file size ({size} bytes)."
            )
        raw = handle.read(length)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_object)
    except RecursionError as error:
        raise ValueError(f"{path} is not a safetensors file: its JSON header is nested too deeply.") from error
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError, duplicates, huge numbers
        raise ValueError(f"{path} is not a safetensors file: bad JSON header ({error}).") from error
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a safetensors file: the header is not a JSON object.")
    return header, 8 + length


def _metadata(path, header):
    metadata = header.get("__metadata__")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(
            f"{path}: the header's '__metadata__' must map strings to strings. Received: "
            f"{str(metadata)[:200]}"
        )
    return dict(metadata)


def _natural(value):
    # JSON integers only: not booleans, floats or strings.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _entry(path, name, info):
    """`(dtype name, shape, begin, end)` of one header entry, checked."""
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        raise ValueError(
            f"{path}: malformed header entry for tensor {name!r}: {str(info)[:200]} (needs "
            "'dtype', 'shape' and 'data_offsets')."
        )
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if not isinstance(dtype, str) or (dtype not in _DTYPES and dtype != "BF16"):
        raise ValueError(
            f"{path}: tensor {name!r} has dtype {dtype!r}; supported: {sorted([*_DTYPES, 'BF16'])}"
        )
    if not isinstance(shape, list) or not all(_natural(d) for d in shape):
        raise ValueError(
            f"{path}: tensor {name!r} has shape {str(shape)[:200]}; a shape is a list of "
            "non-negative integers."
        )
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_natural(o) for o in offsets):
        raise ValueError(
            f"{path}: tensor {name!r} has data_offsets {str(offsets)[:200]}; expected two "
            "non-negative integers [begin, end]."
        )
    itemsize = 2 if dtype == "BF16" else np.dtype(_DTYPES[dtype]).itemsize
    count = 1
    for dim in shape:
        count *= dim
        if count * itemsize > _MAX_BYTES:
            raise ValueError(f"{path}: tensor {name!r} has shape {shape}, whose size overflows 64 bits.")
    begin, end = offsets
    if end - begin != count * itemsize:
        raise ValueError(
            f"{path}: tensor {name!r} with shape {shape} and dtype {dtype} does not fit its "
            f"data_offsets {offsets} ({count * itemsize} bytes needed)."
        )
    return dtype, tuple(shape), begin, end


def _tensor_table(path, header, data_size):
    """Checks every header entry and that the tensors tile the data section.

    As the reference implementation requires: sorted by offset, each tensor
    starts where the previous one ends, from 0 to the end of the file, so
    no two tensors share bytes and no byte is unaccounted for.

    Returns:
        dict name -> `(dtype name, shape, begin, end)`, in header order.
    """
    table = {name: _entry(path, name, info) for name, info in header.items() if name != "__metadata__"}
    ordered = sorted(table.items(), key=lambda item: (item[1][2], item[1][3], item[0]))
    end, previous = 0, None
    for name, (_, _, begin, stop) in ordered:  # shared bytes first: the worse problem
        if begin < end:
            raise ValueError(
                f"{path}: the data_offsets of tensor {name!r} overlap tensor {previous!r} "
                f"(bytes {begin}..{min(stop, end)} are claimed by both)."
            )
        end, previous = stop, name
    position = 0
    for name, (_, _, begin, stop) in ordered:
        if begin != position:
            raise ValueError(
                f"{path}: bytes {position}..{begin} of the data section belong to no tensor "
                f"(the next, {name!r}, starts at {begin})."
            )
        position = stop
    if position != data_size:
        raise ValueError(
            f"{path}: the tensors cover {position} bytes but the data section holds {data_size}: "
            "the file is truncated or has trailing bytes."
        )
    return table


def _read_tensor(handle, path, start, name, entry):
    dtype, shape, begin, _ = entry
    handle.seek(start + begin)
    stored = "<u2" if dtype == "BF16" else _DTYPES[dtype]
    array = read_into(handle, np.empty(shape, dtype=stored), f"{path}: tensor {name!r}")
    return bfloat16_bits_to_float32(array) if dtype == "BF16" else array


def open_safetensors(path):
    """Opens a `.safetensors` file for reading tensors on demand.

    Only the header is read: every entry is checked (dtype, shape, offsets
    tiling the data section exactly), then each tensor is read, with a seek,
    when its key is accessed.

    Args:
        path: str or path-like. The file.

    Returns:
        `(tensors, metadata)`: a `layout.LazyArrays` (bfloat16 tensors read
        as float32) and the `__metadata__` dict (empty if absent).

    Raises:
        ValueError: on a malformed file, naming it and the tensor.
    """
    path = pathlib.Path(path)
    header, start = read_safetensors_header(path)
    metadata = _metadata(path, header)
    table = _tensor_table(path, header, path.stat().st_size - start)
    infos = {
        name: layout.ArrayInfo(shape, np.dtype("float32" if dtype == "BF16" else _DTYPES[dtype]))
        for name, (dtype, shape, _, _) in table.items()
    }

    def read(name):
        with open(path, "rb") as handle:
            return _read_tensor(handle, path, start, name, table[name])

    return layout.LazyArrays(path, infos, read), metadata


def read_safetensors(path):
    """Reads every tensor of a `.safetensors` file into NumPy arrays.

    Args:
        path: str or path-like. The file.

    Returns:
        `(tensors, metadata)`: a dict name -> `np.ndarray` (bfloat16 tensors
        widened to float32) and the header's `__metadata__` dict (empty if
        absent).

    Raises:
        ValueError: on a malformed file or an unsupported dtype, naming the
            tensor.

    Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> write_safetensors(path, {"a": np.arange(3, dtype="float32")})
    >>> read_safetensors(path)[0]["a"].tolist()
    [0.0, 1.0, 2.0]
    """
    tensors, metadata = open_safetensors(path)
    return {name: tensors[name] for name in tensors}, metadata


def _write_tensor(handle, array):
    handle.write(array.reshape(-1).view(np.uint8))


def write_safetensors(path, tensors, metadata=None):
    """Writes NumPy arrays as a `.safetensors` file (readable by `safetensors`,
    timm and Hugging Face tools).

    The file is written to a temporary sibling and renamed into place (see
    `keras_vit._files.atomic_write`): an interrupted write leaves `path` as
    it was.

    Args:
        path: str or path-like. Destination file.
        tensors: dict name -> array-like. float64/32/16, int and bool arrays.
        metadata: optional dict of str -> str, stored as `__metadata__`
            (timm writes `{"format": "pt"}`).

    Example:
    >>> import numpy as np, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> write_safetensors(path, {"w": np.ones((2, 2), "float32")}, {"format": "pt"})
    >>> read_safetensors(path)[1]
    {'format': 'pt'}
    """
    header = {}
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError(f"`metadata` must map str to str. Received: {metadata!r}")
        header["__metadata__"] = dict(metadata)
    arrays, offset = {}, 0
    # Sorted names, as the reference writer does, so files are reproducible.
    for name in sorted(tensors, key=str):
        if not isinstance(name, str) or name == "__metadata__":
            raise TypeError(f"Tensor names must be strings other than '__metadata__'. Received: {name!r}")
        array = np.ascontiguousarray(tensors[name])
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        if np.dtype(dtype) not in _NAMES:
            raise TypeError(f"Tensor {name!r} has unsupported dtype {array.dtype}.")
        arrays[name] = np.ascontiguousarray(array.astype(dtype, copy=False))
        header[name] = {
            "dtype": _NAMES[np.dtype(dtype)],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + arrays[name].nbytes],
        }
        offset += arrays[name].nbytes
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # align the data section to 8 bytes
    with atomic_write(os.fspath(path), "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        for array in arrays.values():
            _write_tensor(handle, array)
