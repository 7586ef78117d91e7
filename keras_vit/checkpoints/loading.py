"""Loading a checkpoint into a `VisionTransformer`, strictly."""

import collections.abc
import dataclasses
import os

import numpy as np

from keras_vit._validation import check_bool
from keras_vit.checkpoints import layout
from keras_vit.checkpoints.formats import read_checkpoint, to_keras_layout
from keras_vit.checkpoints.presets import PRESETS, cache_directory, fetch_preset
from keras_vit.layers.position_embedding import resample_position_embedding


@dataclasses.dataclass
class Checkpoint:
    """A checkpoint file, opened: its layout and its arrays.

    Attributes:
        path: str. Where it was read from.
        format: str. One of `keras_vit.checkpoints.FORMATS`.
        arrays: mapping. The file's arrays under its own keys; from
            `resolve_checkpoint`, a read-only mapping that reads each array
            from the file when it is accessed (a dict works too).
        preset: `Preset` or None. The preset it was fetched for.
    """

    path: str
    format: str
    arrays: collections.abc.Mapping
    preset: object = None


@dataclasses.dataclass
class LoadReport:
    """What `load_weights` did.

    Attributes:
        format: str. The checkpoint's layout.
        path: str. The file.
        assigned: list of str. Model variables set from the checkpoint.
        skipped: list of str. Model variables left as they were (the head,
            when the class count differs or the checkpoint has none).
        unused: list of str. Checkpoint keys that went nowhere.
        resampled: tuple or None. `(source_grid, target_grid)` when the
            position embedding was resampled.
    """

    format: str
    path: str
    assigned: list
    skipped: list
    unused: list
    resampled: tuple = None

    def summary(self):
        text = (f"Loaded {len(self.assigned)} weights from {os.path.basename(self.path)} "
                f"({self.format} layout)")
        if self.resampled:
            text += f"; position embedding resampled from grid {self.resampled[0]} to {self.resampled[1]}"
        if self.skipped:
            text += f"; left unchanged: {', '.join(self.skipped)}"
        if self.unused:
            text += f"; unused checkpoint keys: {', '.join(self.unused)}"
        return text + "."


def _cache_hint(path):
    return (f" The file is the cached download {path}; delete it and the next call downloads "
            "it again.")


def resolve_checkpoint(weights, local_dir=None):
    """Reads `weights` (a preset name, a file path or a `Checkpoint`).

    Only the file's headers are read (every array's key, shape and dtype);
    the arrays themselves are read by `load_weights`, one at a time.

    Returns:
        A `Checkpoint`.

    Raises:
        ValueError: for a file that is not a readable checkpoint, naming it;
            for a preset's cached download, also saying that deleting the
            file makes the next call download it again.
    """
    if isinstance(weights, Checkpoint):
        return weights
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            "`weights` must be None, a preset name (see keras_vit.checkpoints.list_presets()) "
            f"or a path to a checkpoint file. Received: weights of type {type(weights).__name__}"
        )
    preset = None
    path = os.fspath(weights)
    if not os.path.exists(path):
        if path in PRESETS:
            preset = PRESETS[path]
            path = fetch_preset(path, local_dir=local_dir)
        else:
            raise ValueError(
                f"`weights`={path!r} is neither an existing file nor a preset name. Presets: "
                f"{', '.join(sorted(PRESETS))}"
            )
    # Only a file keras_vit downloaded into its cache may be deleted to be
    # fetched again; a preset found in `local_dir` is the user's own copy.
    cached = preset is not None and (
        os.path.dirname(os.path.abspath(path)) == os.path.abspath(cache_directory()))
    try:
        format_name, arrays = read_checkpoint(path)
    except ValueError as error:
        if not cached:
            raise
        raise ValueError(f"{error}{_cache_hint(path)}") from error
    if cached and hasattr(arrays, "note"):
        arrays.note = _cache_hint(path)  # for errors reading the arrays later
    return Checkpoint(path=path, format=format_name, arrays=arrays, preset=preset)


def _model_variables(model):
    variables = {}
    for variable in model.weights:
        if variable.path in variables:
            raise ValueError(f"The model has two variables with the path {variable.path!r}.")
        variables[variable.path] = variable
    return variables


def _checked_values(converted, variables, source, path):
    """Each model weight's value, cast to the variable's dtype, after
    checking its shape and that the cast kept every value finite (float64
    beyond float32's range, or float32 beyond float16's, becomes infinite).

    The converter already refused non-float dtypes and NaN/inf in the file.
    """
    values = {}
    for key in sorted(converted):
        if key not in variables:
            continue
        value = np.asarray(converted[key])
        expected = tuple(variables[key].shape)
        if value.shape != expected:
            raise ValueError(
                f"Shape mismatch for weight {key!r}: the checkpoint {path} has "
                f"{value.shape}, the model expects {expected}. Check the variant, patch size "
                "and num_heads."
            )
        dtype = np.dtype(variables[key].dtype)
        with np.errstate(over="ignore", invalid="ignore"):
            cast = value.astype(dtype)
        if not np.isfinite(cast).all():
            origin = source.origins.get(key)
            named = f" (from {origin!r})" if origin else ""
            raise ValueError(
                f"{path}: the value of weight {key!r}{named} does not fit the variable's "
                f"dtype {dtype}: {np.size(cast) - np.count_nonzero(np.isfinite(cast))} value(s) "
                "overflow to infinity in the cast."
            )
        values[key] = cast
    return values


def load_weights(model, weights, local_dir=None, verbose=True):
    """Loads a pretrained checkpoint into a keras_vit `VisionTransformer`.

    The file's layout is told from its contents (Google/big_vision `.npz`,
    timm `.safetensors`, Keras `.weights.h5` or `.keras`), converted to
    keras_vit's variables, and adapted to the model:

    - a position embedding for another patch grid is resampled (bicubic on
      the grid, class slot unchanged), e.g. 224 -> 384;
    - a head with another class count (or no head in the file, or a head
      behind a `pre_logits` layer) is skipped: the model's head keeps its
      initialisation, with a printed line;
    - a model without head (`include_top=False`) leaves the file's head
      unused.

    Every other model variable must be assigned exactly once with the same
    shape; otherwise a `ValueError` names the key, before any variable is
    changed. Values must be finite floating-point numbers (float16,
    bfloat16, float32 or float64) that stay finite in the variable's dtype;
    integer, boolean, complex, date or string arrays and NaN/infinity are
    refused, naming the key. Only the arrays the model needs are read, and
    each one's declared size is checked before it is read. Either every
    weight is assigned or, on any error, none is. Checkpoint keys that went
    nowhere are listed in the report.

    Args:
        model: a `keras_vit.VisionTransformer`.
        weights: a preset name, a path to a checkpoint file, or a
            `Checkpoint`.
        local_dir: str or None. Directory to look in for a preset's file
            before downloading.
        verbose: bool. Print the summary line.

    Returns:
        A `LoadReport`.

    Example:
    >>> import os, tempfile
    >>> from keras_vit import VisionTransformer
    >>> from keras_vit.checkpoints import export_weights
    >>> small = dict(patch_size=4, hidden_dim=16, num_layers=1, num_heads=2,
    ...              mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.safetensors")
    >>> export_weights(VisionTransformer(**small), path, format="timm")
    >>> report = load_weights(VisionTransformer(**{**small, "input_shape": (16, 16, 3)}),
    ...                       path, verbose=False)
    >>> report.format, report.resampled
    ('timm', ((2, 2), (4, 4)))
    """
    from keras_vit.models.vision_transformer import VisionTransformer

    if not isinstance(model, VisionTransformer):
        raise TypeError(
            f"`model` must be a keras_vit VisionTransformer. Received: {type(model).__name__}"
        )
    verbose = check_bool("verbose", verbose)
    checkpoint = resolve_checkpoint(weights, local_dir=local_dir)
    variables = _model_variables(model)
    # The model's shapes let the converter refuse an oversized array before
    # reading it; arrays the model does not need are never read.
    expected = {path: tuple(variable.shape) for path, variable in variables.items()}
    converted, source = to_keras_layout(
        checkpoint.format, checkpoint.arrays, model.num_heads, model.grid_size,
        description=checkpoint.path, expected=expected,
    )
    converted = dict(converted)  # adapted below
    skipped, resampled = [], None

    head_present = layout.HEAD_KERNEL in variables
    if head_present:
        model_classes = variables[layout.HEAD_KERNEL].shape[-1]
        if layout.HEAD_KERNEL not in converted:
            reason = ("its head sits on a pre_logits layer keras_vit does not build"
                      if any(k.endswith("pre_logits/kernel") for k in checkpoint.arrays)
                      else "it has no head")
            skipped += [layout.HEAD_KERNEL, layout.HEAD_BIAS]
            message = f"head not loaded: {reason}; the model's head keeps its initialisation"
        elif converted[layout.HEAD_KERNEL].shape[-1] != model_classes:
            skipped += [layout.HEAD_KERNEL, layout.HEAD_BIAS]
            message = (f"head not loaded: the checkpoint has {converted[layout.HEAD_KERNEL].shape[-1]} "
                       f"classes, the model {model_classes}; the model's head keeps its initialisation")
        else:
            message = None
        if message and verbose:
            print(f"keras_vit: {message}.")
    dropped_head = [k for k in layout.HEAD_KEYS if k in converted and (k in skipped or not head_present)]
    for key in dropped_head:
        del converted[key]

    if layout.POSITION_EMBEDDING in converted and layout.POSITION_EMBEDDING in variables:
        table = converted[layout.POSITION_EMBEDDING]
        target_slots = variables[layout.POSITION_EMBEDDING].shape[1]
        if table.ndim == 3 and table.shape[1] != target_slots:
            source_grid = layout.grid_of(table.shape[1] - 1)
            target_grid = tuple(model.grid_size)
            converted[layout.POSITION_EMBEDDING] = resample_position_embedding(
                table, source_grid, target_grid, num_prefix_tokens=1
            )
            resampled = (source_grid, target_grid)

    missing = sorted(set(variables) - set(converted) - set(skipped))
    if missing:
        raise ValueError(
            f"{checkpoint.path} ({checkpoint.format} layout) has no value for model weight(s) "
            f"{', '.join(missing)}: the architectures differ (e.g. LayerScale, register tokens, "
            "qkv bias or depth)."
        )
    extra = sorted(set(converted) - set(variables))
    values = _checked_values(converted, variables, source, checkpoint.path)
    # Everything is converted and checked; only now is the model changed.
    for key, value in values.items():
        variables[key].assign(value)
    unused = source.unused() + [f"{k} (converted, not in the model)" for k in extra]
    why = "the model has no head" if not head_present else "head skipped"
    unused += [f"{k} ({why})" for k in dropped_head]
    report = LoadReport(
        format=checkpoint.format,
        path=checkpoint.path,
        assigned=sorted(values),
        skipped=skipped,
        unused=unused,
        resampled=resampled,
    )
    if verbose:
        print(f"keras_vit: {report.summary()}")
    return report
