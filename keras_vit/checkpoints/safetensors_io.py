"""Reading and writing `.safetensors` files with NumPy only.

The format (https://github.com/huggingface/safetensors): 8 bytes of
little-endian header length `n`, `n` bytes of UTF-8 JSON mapping each tensor
name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets into the
data that follows; an optional `"__metadata__"` entry maps strings to
strings), then the raw little-endian, C-ordered tensor bytes. No code is ever
executed when reading, unlike pickle-based `.pth`/`.bin` files.
"""

import json
import pathlib
import struct

import numpy as np

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


def bfloat16_bits_to_float32(bits):
    """Widens bfloat16 values stored as uint16 bits to float32 (exactly)."""
    bits = np.asarray(bits, dtype="<u2")
    return (bits.astype("<u4") << 16).view("<f4")


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
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a safetensors file: bad JSON header ({error}).") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a safetensors file: the header is not a JSON object.")
    return header, 8 + length


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
    header, start = read_safetensors_header(path)
    metadata = header.pop("__metadata__", None) or {}
    data_size = pathlib.Path(path).stat().st_size - start
    tensors = {}
    with open(path, "rb") as handle:
        for name, info in header.items():
            try:
                dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
            except (TypeError, KeyError, ValueError):
                raise ValueError(f"{path}: malformed header entry for tensor {name!r}: {info!r}") from None
            if dtype not in _DTYPES and dtype != "BF16":
                raise ValueError(
                    f"{path}: tensor {name!r} has dtype {dtype!r}; supported: "
                    f"{sorted([*_DTYPES, 'BF16'])}"
                )
            itemsize = 2 if dtype == "BF16" else np.dtype(_DTYPES[dtype]).itemsize
            count = int(np.prod(shape, dtype=np.int64))
            if not 0 <= begin <= end <= data_size or end - begin != count * itemsize:
                raise ValueError(
                    f"{path}: tensor {name!r} with shape {shape} and dtype {dtype} does not "
                    f"fit its data_offsets {[begin, end]} (data section: {data_size} bytes)."
                )
            handle.seek(start + begin)
            buffer = handle.read(end - begin)
            if dtype == "BF16":
                array = bfloat16_bits_to_float32(np.frombuffer(buffer, dtype="<u2"))
            else:
                array = np.frombuffer(buffer, dtype=_DTYPES[dtype]).copy()
            tensors[name] = array.reshape(shape)
    return tensors, dict(metadata)


def write_safetensors(path, tensors, metadata=None):
    """Writes NumPy arrays as a `.safetensors` file (readable by `safetensors`,
    timm and Hugging Face tools).

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
    blobs, offset = [], 0
    # Sorted names, as the reference writer does, so files are reproducible.
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        if np.dtype(dtype) not in _NAMES:
            raise TypeError(f"Tensor {name!r} has unsupported dtype {array.dtype}.")
        data = array.astype(dtype, copy=False).tobytes()
        header[name] = {
            "dtype": _NAMES[np.dtype(dtype)],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # align the data section to 8 bytes
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(raw)))
        handle.write(raw)
        for data in blobs:
            handle.write(data)
