"""Recognising and reading checkpoint files by their contents.

The container is told by its first bytes, never by the file name: a zip
(`PK`) holding `.npy` members is an `.npz`, one holding `model.weights.h5`
a `.keras` archive; `\\x89HDF` starts an HDF5 file; a little-endian length
followed by a JSON object is a `.safetensors` file. The layout is then told
by the keys. Nothing is unpickled: `.npz` files are read with
`allow_pickle=False`, and pickle-based PyTorch files (`.pth`, `.bin`) are
refused with a hint.
"""

import pathlib
import zipfile

import numpy as np

from keras_vit.checkpoints import google, keras_h5, timm
from keras_vit.checkpoints.safetensors_io import bfloat16_bits_to_float32, read_safetensors

# Layout names, as reported by `sniff_format` and `LoadReport.format`.
FORMATS = ("google", "big_vision", "timm", "keras")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def _container(path):
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(_HDF5_MAGIC):
        return "hdf5"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if "model.weights.h5" in names:
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


def _read_npz(path):
    arrays = {}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            try:
                array = data[key]
            except ValueError:
                raise ValueError(
                    f"{path}: array {key!r} holds Python objects; keras_vit never unpickles "
                    "(allow_pickle=False)."
                ) from None
            if array.dtype.kind == "V" and array.dtype.itemsize == 2:
                array = bfloat16_bits_to_float32(array.view("<u2"))  # bfloat16 saved by JAX
            arrays[key] = array
    return arrays


def read_checkpoint(path):
    """Reads a checkpoint file and tells its layout.

    Args:
        path: str or path-like.

    Returns:
        `(layout, arrays)`: one of `FORMATS` and a dict of NumPy arrays
        under the file's own keys.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the contents are not a supported checkpoint, saying
            what was found.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint file at {str(path)!r}.")
    container = _container(path)
    if container == "npz":
        arrays = _read_npz(path)
        prefix = google.detect_prefix(arrays)
        if prefix is None:
            raise ValueError(
                f"{path} is an .npz file but not in the Google ViT layout (no 'embedding/kernel'; "
                f"first keys: {sorted(arrays)[:5]})."
            )
        return ("big_vision" if google.is_big_vision(arrays, prefix) else "google"), arrays
    if container == "safetensors":
        arrays, _ = read_safetensors(path)
        if timm.looks_like_timm(arrays):
            return "timm", arrays
        hint = ""
        if any(k.startswith(("vit.", "embeddings.")) for k in arrays):
            hint = (" It looks like a Hugging Face transformers ViTModel; use the timm "
                    "repository of the same weights (huggingface.co/timm/...).")
        raise ValueError(
            f"{path} is a safetensors file without timm's ViT keys (first keys: "
            f"{sorted(arrays)[:5]}).{hint}"
        )
    if container in ("hdf5", "keras_archive"):
        arrays = keras_h5.read_h5(path) if container == "hdf5" else keras_h5.read_keras_archive(path)
        if not keras_h5.looks_like_keras(arrays):
            raise ValueError(
                f"{path} is a Keras weights file but not of a keras_vit VisionTransformer "
                f"(first groups: {sorted(arrays)[:5]})."
            )
        return "keras", arrays
    if container == "torch_pickle":
        raise ValueError(
            f"{path} is a pickled PyTorch checkpoint. keras_vit never unpickles files; "
            "convert it to .safetensors (e.g. `safetensors.torch.save_file(state_dict, ...)`) "
            "or download the .safetensors file of the same weights."
        )
    raise ValueError(
        f"{path} is not a supported checkpoint. Supported: Google/big_vision .npz, "
        "timm .safetensors, Keras .weights.h5 / .keras (told by content, not by name)."
    )


def sniff_format(path):
    """Returns the layout of a checkpoint file: one of `FORMATS`.

    Example:
    >>> import numpy as np, tempfile, os
    >>> from keras_vit.checkpoints.safetensors_io import write_safetensors
    >>> path = os.path.join(tempfile.mkdtemp(), "weights.bin")  # name says nothing
    >>> write_safetensors(path, {"patch_embed.proj.weight": np.zeros((2, 3, 1, 1), "float32"),
    ...                          "blocks.0.norm1.weight": np.ones(2, "float32")})
    >>> sniff_format(path)
    'timm'
    """
    return read_checkpoint(path)[0]


def to_keras_layout(layout_name, arrays, num_heads, grid_hint=None, description="The checkpoint"):
    """Dispatches to the layout's converter; returns `(weights, source)`."""
    if layout_name in ("google", "big_vision"):
        return google.to_keras(arrays, description)
    if layout_name == "timm":
        return timm.to_keras(arrays, num_heads, grid_hint, description)
    return keras_h5.to_keras(arrays, description)
