"""Loading a checkpoint into a `VisionTransformer`, strictly."""

import collections.abc
import dataclasses
import os

import numpy as np

from keras_vit import layer_names as names
from keras_vit._validation import check_bool
from keras_vit.checkpoints import architecture, layout, registry
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
        unused: list of str. Checkpoint keys that went nowhere: the head
            (skipped, or the model has none), pooling a model without
            pooling drops, and keys that carry no function (optimizer
            state, an unused pooler).
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


_MODEL_ATTRIBUTES = ("weights", "num_heads", "grid_size", "architecture_options")


def _check_model(model):
    # Duck-typed: checkpoints/ does not import keras_vit.models.
    missing = [name for name in _MODEL_ATTRIBUTES if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f"`model` must be a keras_vit VisionTransformer. Received: {type(model).__name__} "
            f"(it has no {', '.join(missing)})"
        )


def _head_message(converted, variables, arrays, skipped):
    """Skips the file's head when the model's differs; returns a printable
    reason or None."""
    model_classes = variables[layout.HEAD_KERNEL].shape[-1]
    if layout.HEAD_KERNEL not in converted:
        reason = ("its head sits on a pre_logits layer keras_vit does not build"
                  if any(k.endswith("pre_logits/kernel") for k in arrays) else "it has no head")
    elif converted[layout.HEAD_KERNEL].shape[-1] != model_classes:
        reason = (f"the checkpoint has {converted[layout.HEAD_KERNEL].shape[-1]} classes, the "
                  f"model {model_classes}")
    elif (layout.HEAD_DIST_KERNEL in variables) != (layout.HEAD_DIST_KERNEL in converted):
        return None  # a distillation head on one side only: refused below
    else:
        return None
    skipped += [k for k in layout.HEAD_KEYS if k in variables]
    return f"head not loaded: {reason}; the model's head keeps its initialisation"


def _fit_position_table(converted, variables, model, description):
    """Splits the file's position table with the model's grid and tokens,
    folds slots the model does not have into their tokens, adds zero slots
    it has and the file lacks, and resamples the grid. Returns
    `(source_grid, target_grid)` when resampled, else None."""
    table = converted[layout.POSITION_EMBEDDING]
    if table.ndim != 3:
        raise ValueError(f"{description}: the position table has shape {table.shape}; expected 3 dimensions.")
    counts = architecture.token_counts(converted)
    model_slots = architecture.model_slot_kinds(model.architecture_options())
    candidates = getattr(converted, "position_candidates", [("class", "distillation")])
    kinds, source_grid = architecture.choose_position_slots(
        table.shape[1], candidates, counts, tuple(model.grid_size), preferred=model_slots,
        description=description)
    slots, start = {}, 0
    for kind in kinds:
        slots[kind] = table[:, start:start + counts[kind]]
        start += counts[kind]
    grid = table[:, start:]
    for kind, value in slots.items():
        if kind not in model_slots:
            # A constant added to a constant token: fold it in, exactly.
            key = architecture.TOKEN_KEYS[kind]
            converted[key] = converted[key] + value
    prefix = [slots[k] if k in slots else np.zeros_like(table[:, :1]) for k in model_slots]
    table = np.concatenate(prefix + [grid], axis=1) if prefix else grid
    target_grid = tuple(model.grid_size)
    resampled = None
    if tuple(source_grid) != target_grid:
        table = resample_position_embedding(table, source_grid, target_grid,
                                            num_prefix_tokens=len(model_slots))
        resampled = (tuple(source_grid), target_grid)
    converted[layout.POSITION_EMBEDDING] = table
    return resampled


def _refuse_unused(source, checkpoint, dropped):
    """Raises unless every file key was converted or carries no function."""
    non_functional = registry.get_layout(checkpoint.format).non_functional
    unused = [k for k in source.unused()
              if not k.startswith(tuple(non_functional)) and k not in dropped]
    if unused:
        raise ValueError(
            f"{checkpoint.path} ({checkpoint.format} layout) has values keras_vit does not know how "
            f"to use: {_listed(unused)}. A model built "
            "without them would compute something else, so the file is refused; the model is "
            "unchanged."
        )


def _listed(keys, limit=8):
    return ", ".join(keys[:limit]) + (" ..." if len(keys) > limit else "")


def _refuse_mismatch(checkpoint, extra, missing):
    """Raises when the file has weights the model has no place for
    (`extra`) or lacks weights the model has (`missing`), naming the
    architecture option behind each."""
    for keys, model_has in ((extra, False), (missing, True)):
        if not keys:
            continue
        hints = "; ".join(sorted({architecture.option_hint(k, model_has=model_has) for k in keys}))
        what = (f"has weights this model has no place for ({_listed(keys)})" if not model_has else
                f"has no value for model weight(s) {_listed(keys)}")
        raise ValueError(
            f"{checkpoint.path} ({checkpoint.format} layout) {what}: {hints}. Loading it would "
            "compute something else than the file; the model is unchanged."
        )


def load_weights(model, weights, local_dir=None, verbose=True):
    """Loads a pretrained checkpoint into a keras_vit `VisionTransformer`.

    The file's layout is told from its contents (Google/big_vision `.npz`,
    timm or Hugging Face transformers `.safetensors`, Keras `.weights.h5`
    or `.keras`), converted to keras_vit's variables, and adapted to the
    model:

    - the position table is split with the model's own grid and tokens;
      position slots of tokens the model gives none (register tokens, or
      the class token with `no_embed_class`) are folded into the tokens,
      exactly;
    - a position embedding for another patch grid is resampled (bicubic on
      the grid, prefix slots unchanged), e.g. 224 -> 384;
    - a head with another class count (or no head in the file, or a head
      behind a `pre_logits` layer) is skipped: the model's head keeps its
      initialisation, with a printed line;
    - a model without head (`include_top=False`) leaves the file's head
      unused, and one without pooling (`pooling=None`) the file's pooling
      (`fc_norm`, attention pool).

    The load reproduces the file's function or raises: every other file
    value must land in a model weight (a `ValueError` names the
    architecture option the model lacks, e.g. LayerScale, registers, a
    distillation token), and every model weight must get one value of the
    same shape. Values must be finite floating-point numbers (float16,
    bfloat16, float32 or float64) that stay finite in the variable's dtype;
    integer, boolean, complex, date or string arrays and NaN/infinity are
    refused, naming the key. Only the arrays the model needs are read, and
    each one's declared size is checked before it is read. Either every
    weight is assigned or, on any error, none is.

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
    _check_model(model)
    verbose = check_bool("verbose", verbose)
    checkpoint = resolve_checkpoint(weights, local_dir=local_dir)
    variables = _model_variables(model)
    # The model's shapes let the converter refuse an oversized array before
    # reading it; arrays the model does not need are never read.
    expected = {path: tuple(variable.shape) for path, variable in variables.items()}
    converted, source = to_keras_layout(
        checkpoint.format, checkpoint.arrays, model.num_heads,
        description=checkpoint.path, expected=expected,
    )
    candidates = getattr(converted, "position_candidates", None)
    converted = _Converted(converted)  # adapted below
    if candidates is not None:
        converted.position_candidates = candidates
    skipped, dropped_keys = [], set()

    head_present = layout.HEAD_KERNEL in variables
    if head_present:
        message = _head_message(converted, variables, checkpoint.arrays, skipped)
        if message and verbose:
            print(f"keras_vit: {message}.")
    dropped = [k for k in layout.HEAD_KEYS if k in converted and (k in skipped or not head_present)]
    if not head_present or skipped:
        # The file's head (and a pre_logits layer feeding only it).
        file_layout = registry.get_layout(checkpoint.format)
        dropped_keys.update(k for k in checkpoint.arrays if file_layout.is_head_key(k))
    if getattr(model, "pooling", "token") is None:
        # A model without pooling drops the file's pooling with its head.
        dropped += [k for k in converted
                    if k.split("/")[0] in (names.FC_NORM, names.ATTENTION_POOL) and k not in variables]
    for key in dropped:
        dropped_keys.add(source.origins.get(key, key))
        del converted[key]

    resampled = None
    if layout.POSITION_EMBEDDING in converted and layout.POSITION_EMBEDDING in variables:
        resampled = _fit_position_table(converted, variables, model, checkpoint.path)

    _refuse_unused(source, checkpoint, dropped_keys)
    _refuse_mismatch(checkpoint, sorted(set(converted) - set(variables)),
                     sorted(set(variables) - set(converted) - set(skipped)))
    values = _checked_values(converted, variables, source, checkpoint.path)
    # Everything is converted and checked; only now is the model changed.
    for key, value in values.items():
        variables[key].assign(value)
    why = "the model has no head" if not head_present else "head skipped"
    unused = [f"{k} ({why})" for k in dropped if k.split("/")[0] in names.HEAD_LAYERS]
    unused += [f"{k} (the model has no pooling)" for k in dropped
               if k.split("/")[0] not in names.HEAD_LAYERS]
    unused += source.unused()
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


class _Converted(dict):
    """The converted weights, adapted in place (a plain dict that may carry
    the converter's `position_candidates`)."""
