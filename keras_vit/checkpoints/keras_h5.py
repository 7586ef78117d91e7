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

from keras_vit import layer_names as names
from keras_vit.checkpoints import layout

# Own variables of each layer, in creation order (the `vars/<i>` order).
_VARIABLE_NAMES = {
    "layer_norm_1": ("gamma", "beta"),
    "layer_norm_2": ("gamma", "beta"),
    "layer_norm": ("gamma", "beta"),
    "layer_normalization": ("gamma", "beta"),
    "layer_scale_1": ("layer_scale",),
    "layer_scale_2": ("layer_scale",),
    names.ATTENTION_POOL: ("latent",),
}
# Keras names a functional model's layers in the file by class: these are
# the classes with one instance at most.
_TOP_LEVEL = {
    "patch_embedding": names.PATCH_EMBEDDING,
    "class_token": names.CLASS_TOKEN,
    "distillation_token": names.DISTILLATION_TOKEN,
    "position_embedding": names.POSITION_EMBEDDING,
    "register_tokens": names.REGISTER_TOKENS,
    "attention_pool": names.ATTENTION_POOL,
}
# Classes with several instances, numbered in the model's layer order:
# the LayerNorms outside the blocks and the Dense heads.
_NUMBERED = {
    "layer_normalization": (names.PRE_NORM, names.ENCODER_NORM, names.FC_NORM),
    "dense": (names.HEAD, names.HEAD_DIST),
}
_TOKEN_LAYERS = ("class_token", "distillation_token", "position_embedding", "register_tokens")
_BLOCK = re.compile(r"^transformer_block(?:_(\d+))?$")
_NUMBERED_NAME = re.compile(r"^(layer_normalization|dense)(?:_(\d+))?$")
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
        A `layout.LazyArrays` keyed by dataset path; its `model_config` is
        the archive's saved model configuration (a dict; None if the
        archive has none or it is larger than 1 MiB or unreadable).
    """
    arrays = _open_lazy(path, in_archive=True)
    arrays.model_config = _read_config(path)
    return arrays


_CONFIG_LIMIT = 1 << 20


def _read_config(path):
    import json

    try:
        with zipfile.ZipFile(path) as archive:
            member = archive.getinfo("config.json")
            if member.file_size > _CONFIG_LIMIT:
                return None
            with archive.open(member) as handle:
                config = json.loads(handle.read(_CONFIG_LIMIT + 1).decode("utf-8"))
    except (KeyError, OSError, ValueError, zipfile.BadZipFile, UnicodeDecodeError):
        return None
    return config if isinstance(config, dict) else None


def looks_like_keras(keys):
    return any(k.startswith("layers/patch_embedding/") for k in keys)


def _top_groups(keys):
    return {k.split("/")[1] for k in keys if k.startswith("layers/") and k.count("/") >= 2}


def _numbered(keys, kind):
    """The file's groups of `kind` (`layer_normalization`, `dense`), in order."""
    found = []
    for group in _top_groups(keys):
        match = _NUMBERED_NAME.match(group)
        if match and match.group(1) == kind:
            found.append((int(match.group(2) or 0), group))
    return [group for _, group in sorted(found)]


def _numbered_targets(keys, kind, expected, description):
    """Maps the file's numbered groups of `kind` to the model's layers: in
    the model's order, among the candidates the model has."""
    groups = _numbered(keys, kind)
    if expected is None:
        # Without a model: a plain ViT (encoder_norm; head).
        candidates = (names.ENCODER_NORM,) if kind == "layer_normalization" else (names.HEAD,
                                                                                  names.HEAD_DIST)
    else:
        tops = {path.split("/")[0] for path in expected}
        candidates = tuple(n for n in _NUMBERED[kind] if n in tops)
    if kind == "dense":
        return dict(zip(groups, candidates))
    if len(groups) != len(candidates):
        raise ValueError(
            f"{description} has {len(groups)} LayerNorm(s) outside the transformer blocks, the "
            f"model {len(candidates)} ({', '.join(candidates) or 'none'}): the architectures differ "
            "(pre_norm / fc_norm).")
    return dict(zip(groups, candidates))


def _archive_options(arrays):
    config = getattr(arrays, "model_config", None)
    if not isinstance(config, dict):
        return {}
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        return {}
    from keras_vit.checkpoints.architecture import INFERRED_OPTIONS

    return {k: inner[k] for k in INFERRED_OPTIONS if k in inner}


def architecture(arrays):
    """The options and sizes a keras_vit Keras file determines (headers
    only; a `.keras` archive's saved configuration when there is one)."""
    keys = set(arrays)
    tops = _top_groups(keys)
    registers = [k for k in keys if k.startswith("layers/register_tokens/")]
    blocks = [g for g in tops if _BLOCK.match(g)]
    layer_scale = any("/layer_scale_1/" in k for k in keys)
    summary = dict(
        class_token="class_token" in tops,
        distillation="distillation_token" in tops,
        num_register_tokens=layout.info_of(arrays, registers[0]).shape[1] if registers else 0,
        layer_scale_init=1e-5 if layer_scale else None,
        num_layers=len(blocks),
    )
    if "attention_pool" in tops:
        summary["pooling"] = "map"
    elif "class_token" not in tops:
        summary["pooling"] = "gap"
    # Which of pre_norm / encoder_norm / fc_norm the LayerNorms outside the
    # blocks are is not in a .weights.h5 file's group names: only a .keras
    # archive's saved configuration says (a count that does not match the
    # model is refused when loading).
    summary.update(_archive_options(arrays))
    return summary


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
    keys, mapped = set(arrays), {}
    for key in sorted(arrays):
        parts = key.split("/")
        if len(parts) < 4 or parts[0] != "layers" or parts[-2] != "vars":
            continue
        if not parts[-1].isdigit():
            continue
        top, inner, index = parts[1], parts[2:-2], int(parts[-1])
        block = _BLOCK.match(top)
        numbered = _NUMBERED_NAME.match(top)
        if block:
            ours = names.block_name(int(block.group(1) or 0))
        elif top in _TOP_LEVEL:
            ours = _TOP_LEVEL[top]
        elif numbered:
            if numbered.group(1) not in mapped:
                mapped[numbered.group(1)] = _numbered_targets(keys, numbered.group(1), expected,
                                                              description)
            ours = mapped[numbered.group(1)].get(top)
            if ours is None:
                continue
        else:
            continue
        owner = inner[-1] if inner else (numbered.group(1) if numbered else top)
        if top in _TOKEN_LAYERS:
            variable_names = (top,)
        else:
            variable_names = _VARIABLE_NAMES.get(owner, ("kernel", "bias"))
        if index >= len(variable_names):
            continue
        target = "/".join([ours, *inner, variable_names[index]])
        weights[target] = source.take(key, target)
    if not weights:
        raise ValueError(f"{description} holds no keras_vit VisionTransformer weights.")
    # keras_vit's own table: a slot for the class (and distillation) token,
    # or none (no_embed_class); never for registers.
    weights.position_candidates = [("class", "distillation"), ()]
    return weights, source


def _to_keras(arrays, num_heads, description="The checkpoint", expected=None):
    return to_keras(arrays, description, expected)


LAYOUT = layout.Layout(
    name="keras", container="keras", recognise=looks_like_keras, to_keras=_to_keras,
    architecture=architecture, approximate_gelu=False,
    # Only `layers/...` groups hold model weights; optimizer state and
    # metrics variables carry nothing the model computes.
    non_functional=("optimizer/", "vars/", "metrics/", "compile_metrics/", "loss_tracker/"),
    head_keys=("layers/dense/", "layers/dense_1/"),
    description="keras_vit's own Keras .weights.h5 / .keras",
)
