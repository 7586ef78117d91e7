"""keras_vit's weight paths: the common layout every converter maps to.

A checkpoint is converted to a dict `{variable.path: np.ndarray}` keyed by
the paths of `VisionTransformer` variables (they are frozen: see the model's
docstring). The position embedding always carries the class token's slot in
this layout, as keras_vit's does.
"""

import collections
import collections.abc
import contextlib
import dataclasses
import math
import os
import typing

import numpy as np

from keras_vit import layer_names as names

PATCH_KERNEL = f"{names.PATCH_EMBEDDING}/projection/kernel"
PATCH_BIAS = f"{names.PATCH_EMBEDDING}/projection/bias"
CLASS_TOKEN = f"{names.CLASS_TOKEN}/class_token"
DISTILLATION_TOKEN = f"{names.DISTILLATION_TOKEN}/distillation_token"
POSITION_EMBEDDING = f"{names.POSITION_EMBEDDING}/position_embedding"
REGISTER_TOKENS = f"{names.REGISTER_TOKENS}/register_tokens"
PRE_NORM_SCALE = f"{names.PRE_NORM}/gamma"
PRE_NORM_BIAS = f"{names.PRE_NORM}/beta"
NORM_SCALE = f"{names.ENCODER_NORM}/gamma"
NORM_BIAS = f"{names.ENCODER_NORM}/beta"
FC_NORM_SCALE = f"{names.FC_NORM}/gamma"
FC_NORM_BIAS = f"{names.FC_NORM}/beta"
POOL = f"{names.ATTENTION_POOL}/"
HEAD_KERNEL = f"{names.HEAD}/kernel"
HEAD_BIAS = f"{names.HEAD}/bias"
HEAD_DIST_KERNEL = f"{names.HEAD_DIST}/kernel"
HEAD_DIST_BIAS = f"{names.HEAD_DIST}/bias"
HEAD_KEYS = (HEAD_KERNEL, HEAD_BIAS, HEAD_DIST_KERNEL, HEAD_DIST_BIAS)

_BLOCK = names.BLOCK_PATTERN


def block_prefix(index):
    """`"transformer_block_{index}/"`: the path prefix of block `index`'s variables."""
    return names.block_name(index) + "/"


@dataclasses.dataclass(frozen=True)
class Layout:
    """One checkpoint layout: how to recognise it and convert it.

    Each layout module declares its record(s); `registry.LAYOUTS` lists them
    and the reader tries them in order.

    Attributes:
        name: str. The layout's name (`LoadReport.format`).
        container: str. `"npz"`, `"safetensors"` or `"keras"` (HDF5 or
            `.keras` archive).
        recognise: callable `keys -> bool`.
        to_keras: callable `(arrays, num_heads, description, expected) ->
            (weights, source)` (see `timm.to_keras`).
        architecture: callable `arrays -> dict`: the options and sizes the
            file determines, from headers only.
        approximate_gelu: bool. Whether weights in this layout were trained
            with the tanh GELU.
        from_keras: callable `weights -> dict` writing the layout, or None.
        refusal: callable `keys -> str or None`: a reason to refuse a file
            of a related layout keras_vit does not build.
        non_functional: tuple of key prefixes that carry nothing a loaded
            model computes (e.g. an unused pooler); they may stay unused.
        head_keys: tuple of key prefixes of the file's head (and what feeds
            only the head, e.g. `pre_logits`): unused when the model's head
            differs or it has none. Matched at the start of a key or after
            a `/`.
        description: str.
    """

    name: str
    container: str
    recognise: typing.Callable
    to_keras: typing.Callable
    architecture: typing.Callable
    approximate_gelu: bool
    from_keras: typing.Callable = None
    refusal: typing.Callable = None
    non_functional: tuple = ()
    head_keys: tuple = ()
    description: str = ""

    def is_head_key(self, key):
        """Whether `key` belongs to the file's head (see `head_keys`)."""
        return any(key.startswith(marker) or f"/{marker}" in key for marker in self.head_keys)


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


# Model weights whose checkpoint value may legitimately have another size:
# the position table (another patch grid, resampled) and the head (another
# class count, skipped). Every other weight's checkpoint array holds exactly
# the values of the weights it is converted into.
RESIZABLE = (POSITION_EMBEDDING, HEAD_KERNEL, HEAD_BIAS)
# A load reads at most this many times the model's own number of values
# (plus `_READ_FLOOR`): enough for a head with more classes, a larger
# position table or a deeper checkpoint, never a file's worth of junk.
READ_FACTOR = 4
_READ_FLOOR = 1 << 20

ArrayInfo = collections.namedtuple("ArrayInfo", ["shape", "dtype"])
ArrayInfo.__doc__ = "The declared shape (tuple) and NumPy dtype of a checkpoint array."


def _file_signature(path):
    status = os.stat(path)
    return (status.st_size, status.st_mtime_ns, status.st_ino, status.st_dev)


class LazyArrays(collections.abc.Mapping):
    """A checkpoint file's arrays, read from the file one at a time, on access.

    Keys and each array's declared shape and dtype (`info(key)`) come from
    the file's headers when it is opened; `arrays[key]` reads that array's
    data and nothing else, so a file with a huge array the model does not
    need costs nothing, and a converter can check an array's size before
    reading it. It behaves like a read-only dict of NumPy arrays.

    Args:
        path: str. The file, named in error messages.
        infos: dict key -> `ArrayInfo`, in the file's order.
        read: callable `key -> np.ndarray` reading one array from the file.
    """

    def __init__(self, path, infos, read):
        self.path = str(path)
        self._infos = dict(infos)
        self._read = read
        self._signature = _file_signature(path)
        # Appended to read errors (e.g. where a cached download lies).
        self.note = ""

    def __repr__(self):
        return f"LazyArrays({self.path!r}, {len(self)} arrays)"

    def __iter__(self):
        return iter(self._infos)

    def __len__(self):
        return len(self._infos)

    def __contains__(self, key):
        return key in self._infos

    def info(self, key):
        """The `ArrayInfo` (shape, dtype) of `key`, read from the headers only."""
        return self._infos[key]

    def __getitem__(self, key):
        info = self._infos[key]
        try:
            unchanged = _file_signature(self.path) == self._signature
        except OSError:
            unchanged = False
        if not unchanged:
            raise ValueError(
                f"{self.path} changed or disappeared since it was opened; read it again.{self.note}"
            )
        try:
            array = self._read(key)
        except ValueError as error:
            if not self.note:
                raise
            raise ValueError(f"{error}{self.note}") from error
        if tuple(array.shape) != tuple(info.shape):
            raise ValueError(
                f"{self.path}: array {key!r} holds shape {array.shape}, its header declares "
                f"{info.shape}.{self.note}"
            )
        return array


@contextlib.contextmanager
def file_errors(path, what):
    """Turns an exception raised while parsing `path` into a ValueError
    saying which file and what could not be done (`what`), chained to the
    original. ValueErrors that already name the file pass unchanged."""
    try:
        yield
    except MemoryError:
        raise
    except ValueError as error:
        if str(path) in str(error):
            raise
        raise ValueError(f"{path}: {what}: {error}") from error
    except Exception as error:  # whatever a parser raises on bad bytes
        raise ValueError(f"{path}: {what} ({type(error).__name__}: {error}).") from error


def info_of(arrays, key):
    """The `ArrayInfo` of `arrays[key]`, without reading it when `arrays` is a
    `LazyArrays`."""
    if isinstance(arrays, LazyArrays):
        return arrays.info(key)
    value = np.asarray(arrays[key])
    return ArrayInfo(value.shape, value.dtype)


_KINDS = {
    "b": "booleans",
    "i": "integers",
    "u": "unsigned integers",
    "c": "complex numbers",
    "m": "time spans",
    "M": "dates",
    "O": "Python objects",
    "S": "byte strings",
    "U": "strings",
    "V": "raw records",
}


def _check_dtype(key, dtype, description):
    # Integers, booleans, complex numbers, dates, strings and records are
    # refused: none of them is a weight, and a cast would invent one.
    # bfloat16 (`ml_dtypes`, kind "V") is a float.
    if dtype.kind != "f" and dtype.name != "bfloat16":
        raise ValueError(
            f"{description}: array {key!r} has dtype {dtype} ({_KINDS.get(dtype.kind, 'not numbers')}); "
            "weights must be floating point (float16, bfloat16, float32 or float64)."
        )


def _check_finite(key, value, description):
    finite = np.isfinite(value)
    if not finite.all():
        raise ValueError(
            f"{description}: array {key!r} holds {finite.size - np.count_nonzero(finite)} "
            f"non-finite value(s) (NaN or infinity) out of {finite.size}; a model loaded from "
            "it would compute NaN."
        )


class KeySource:
    """Arrays of a checkpoint, tracking which keys a converter consumed.

    Args:
        arrays: mapping key -> array (a dict or a `LazyArrays`).
        description: str naming the checkpoint in error messages.
        expected: optional dict keras_vit variable path -> shape of the
            model being loaded. With it, each array's declared size is
            checked against the weights it is converted into before its data
            is read (see `take`).
    """

    def __init__(self, arrays, description, expected=None):
        self.arrays = arrays
        self.description = description
        self.used = set()
        self.expected = None if expected is None else {k: tuple(v) for k, v in expected.items()}
        self.origins = {}  # keras_vit path -> checkpoint key it came from
        self._read_values = 0
        if self.expected is not None:
            self.model_values = sum(math.prod(shape) for shape in self.expected.values())
            self.read_limit = READ_FACTOR * self.model_values + _READ_FLOOR

    def __contains__(self, key):
        return key in self.arrays

    def info(self, key):
        """The declared `ArrayInfo` of `key` (no data is read)."""
        if key not in self.arrays:
            raise ValueError(f"{self.description} has no key {key!r}.")
        return info_of(self.arrays, key)

    def _check_size(self, key, info, targets):
        # Before any data is read: an array must not hold more values than
        # the weights it becomes (position table and head aside), and all
        # arrays read together must stay within a few times the model.
        count = math.prod(info.shape)
        present = [t for t in targets if t in self.expected]
        if present and len(present) == len(targets) and not any(t in RESIZABLE for t in present):
            wanted = sum(math.prod(self.expected[t]) for t in present)
            if count > wanted:
                shapes = ", ".join(f"{t} {self.expected[t]}" for t in present)
                raise ValueError(
                    f"Shape mismatch for weight {present[0]!r}: the checkpoint {self.description} "
                    f"has {key!r} of shape {tuple(info.shape)} ({count} values), more than the "
                    f"model's {shapes} ({wanted} values). Check the variant, patch size and "
                    "num_heads."
                )
        self._read_values += count
        if self._read_values > self.read_limit:
            raise ValueError(
                f"{self.description}: array {key!r} of shape {tuple(info.shape)} would bring the "
                f"values read to {self._read_values}, over {READ_FACTOR}x the model's "
                f"{self.model_values} weights (+{_READ_FLOOR}): the file does not fit this model "
                "or is corrupt. The array was not read and the model is unchanged."
            )

    def take(self, key, *targets, ndim=None):
        """Returns the array under `key` as floating-point NumPy and marks it used.

        Each key may be taken once: a converter that read one array into two
        weights would be a bug, caught here.

        Args:
            key: the checkpoint key.
            *targets: keras_vit variable paths the array is converted into;
                with `expected`, the declared size is checked against them
                before the data is read.
            ndim: int or tuple of ints, optional. Accepted numbers of
                dimensions (checked from the header, before reading).

        Raises:
            ValueError: naming the key, for a missing key, a wrong number of
                dimensions, a size the model cannot use, a dtype that is not
                floating point, or NaN/infinite values.
        """
        info = self.info(key)
        if key in self.used:
            raise RuntimeError(f"Checkpoint key {key!r} was converted twice.")
        if ndim is not None:
            accepted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
            if len(info.shape) not in accepted:
                raise ValueError(
                    f"{self.description}: array {key!r} has shape {tuple(info.shape)}; expected "
                    f"{' or '.join(str(n) for n in accepted)} dimensions."
                )
        _check_dtype(key, np.dtype(info.dtype), self.description)
        if self.expected is not None:
            self._check_size(key, info, targets)
        self.used.add(key)
        value = np.asarray(self.arrays[key])
        _check_dtype(key, value.dtype, self.description)
        if value.dtype.name == "bfloat16":
            value = value.astype("float32")  # exact
        _check_finite(key, value, self.description)
        for target in targets:
            self.origins.setdefault(target, key)
        return value

    def unused(self):
        return sorted(set(self.arrays) - self.used)


class AssignOnce(dict):
    """A dict that refuses to set a key twice (each model weight gets
    exactly one value from a checkpoint)."""

    def __setitem__(self, key, value):
        if key in self:
            raise RuntimeError(f"Model weight {key!r} was given two values by the converter.")
        super().__setitem__(key, value)
