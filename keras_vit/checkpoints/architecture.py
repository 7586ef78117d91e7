"""What a checkpoint file says about the architecture that computes it.

A file determines some architecture options: whether there is LayerScale,
register tokens, a class token, a distillation token, a LayerNorm before the
blocks (`pre_norm`, CLIP) or after pooling (`fc_norm`), an attention-pooling
("MAP") head, biases on the query/key/value projections, and whether the
class token has a position slot (`no_embed_class`). A builder given
`weights=` takes every such option it was left at its default from the
file, and says so; an option set explicitly to something the file
contradicts is an error. `loading.load_weights` then refuses any file value
the model has no place for, naming the option to change (`option_hint`).

This module works on keras_vit's converted variable paths and on each
layout's `architecture(arrays)` summary; it never imports `keras_vit.models`.
"""

from keras_vit import layer_names as names

# Token kinds that may precede the patch grid, in sequence order.
TOKEN_KINDS = ("class", "distillation", "registers")
TOKEN_KEYS = {
    "class": f"{names.CLASS_TOKEN}/class_token",
    "distillation": f"{names.DISTILLATION_TOKEN}/distillation_token",
    "registers": f"{names.REGISTER_TOKENS}/register_tokens",
}
# The options a file determines (the model's attribute of the same name).
INFERRED_OPTIONS = ("patch_bias", "class_token", "distillation", "num_register_tokens", "no_embed_class",
                    "pre_norm", "fc_norm", "layer_scale_init", "use_qkv_bias", "pooling")
# What a file with LayerScale is built with when the option was left at its
# default: the value only initialises LayerScale, which the file overwrites.
INFERRED_LAYER_SCALE = 1e-5


def _describe(option, value):
    if option == "layer_scale_init":
        return "LayerScale" if value is not None else "no LayerScale"
    if option == "num_register_tokens":
        return f"{value} register token(s)"
    if option == "pooling":
        return {"map": "an attention-pooling (MAP) head", "gap": "no class token to pool"}.get(
            value, f"pooling={value!r}")
    words = {
        "class_token": ("a class token", "no class token"),
        "distillation": ("a distillation token and head (DeiT distilled)", "no distillation token"),
        "no_embed_class": ("no position slot for the class token (no_embed_class)",
                           "a position slot for the class token"),
        "pre_norm": ("a LayerNorm before the blocks (pre_norm, CLIP)", "no LayerNorm before the blocks"),
        "fc_norm": ("a LayerNorm after pooling (fc_norm) instead of encoder_norm",
                    "a final encoder_norm (no fc_norm)"),
        "use_qkv_bias": ("query/key/value biases", "no query/key/value biases"),
        "patch_bias": ("a bias on the patch projection", "no bias on the patch projection (CLIP)"),
    }[option]
    return words[0] if value else words[1]


def _argument(option, value):
    if option == "layer_scale_init" and value is not None:
        return f"layer_scale_init={INFERRED_LAYER_SCALE}"
    return f"{option}={value!r}"


def token_counts(keys_or_shapes):
    """`{kind: count}` of the prefix tokens in converted weights (a dict of
    arrays or of shapes keyed by keras_vit paths)."""
    counts = {}
    for kind, key in TOKEN_KEYS.items():
        if key in keys_or_shapes:
            value = keys_or_shapes[key]
            shape = value if isinstance(value, tuple) else tuple(value.shape)
            counts[kind] = shape[1]
    return counts


def choose_position_slots(length, candidates, counts, model_grid=None, preferred=None,
                          description="The checkpoint"):
    """Which prefix tokens have slots in a position table of `length` slots.

    Args:
        length: int. Slots in the file's table.
        candidates: list of tuples of token kinds (see `TOKEN_KINDS`) the
            file's layout allows, e.g. `[(), ("class",), ("class",
            "registers")]` for timm (whose files do not record it).
        counts: dict kind -> number of such tokens in the file.
        model_grid: `(h, w)` or None: the grid of the model being loaded.
        preferred: tuple of kinds or None: the model's own slotted tokens,
            tried first.

    Returns:
        `(kinds, grid)`: the slotted kinds and the file's patch grid.

    Raises:
        ValueError: when no candidate leaves a grid, or several leave a
            square grid and none matches the model's grid.
    """
    ordered = []
    for kinds in ([tuple(preferred)] if preferred is not None else []) + list(candidates):
        kinds = tuple(k for k in kinds if counts.get(k))
        if kinds not in ordered and all(k in counts for k in kinds):
            ordered.append(kinds)
    cells = None if model_grid is None else model_grid[0] * model_grid[1]
    # The model's own grid decides first: a table that splits into exactly
    # the model's grid is not resampled.
    for kinds in ordered:
        if length - sum(counts[k] for k in kinds) == cells:
            return kinds, tuple(model_grid)
    square = []
    for kinds in ordered:
        rest = length - sum(counts[k] for k in kinds)
        side = int(round(max(rest, 0) ** 0.5))
        if rest > 0 and side * side == rest:
            square.append((kinds, (side, side)))
    if len(square) == 1 or (square and preferred is not None and square[0][0] == tuple(
            k for k in preferred if counts.get(k))):
        return square[0]
    if not square:
        raise ValueError(
            f"{description}: cannot split its position table of {length} slots into prefix slots "
            f"and a patch grid (tokens: {counts or 'none'}; the model's grid: {model_grid}).")
    options = "; ".join(f"{' + '.join(k) or 'no'} slot(s) and grid {g}" for k, g in square)
    raise ValueError(
        f"{description}: its position table of {length} slots splits more than one way ({options}) "
        f"and none matches the model's grid {model_grid}. Build the model at the file's resolution, "
        "or pass no_embed_class explicitly.")


def model_slot_kinds(options):
    """The prefix tokens with a position slot in a model with architecture
    `options`: the class and distillation tokens it has, none with
    `no_embed_class` (register tokens never have one)."""
    if options.get("no_embed_class"):
        return ()
    return tuple(k for k in ("class", "distillation")
                 if options.get({"class": "class_token", "distillation": "distillation"}[k]))


def infer_options(checkpoint, given, defaults, grid, sizes):
    """The architecture options for a model built with `weights=checkpoint`.

    Args:
        checkpoint: a `loading.Checkpoint`.
        given: dict option -> value passed to the builder.
        defaults: dict option -> the builder's default.
        grid: `(h, w)` of the model, or None (unknown: the file's grid).
        sizes: dict with the model's `patch_size` (pair), `hidden_dim`,
            `num_layers`, `mlp_dim`, `num_heads`, checked against the file.

    Returns:
        `(options, defaults_from_file, notes)`: the options; the defaults
        the file's layout implies for what the file cannot record
        (`mlp_activation`: the tanh GELU of the Google layouts;
        `layer_norm_epsilon`: 1e-12 for transformers files), to use where
        the caller left them unset; and printable lines saying what was
        taken from the file.

    Raises:
        ValueError: when an option set explicitly contradicts the file, or
            the file's sizes differ from the model's, naming both.
    """
    from keras_vit.checkpoints.registry import get_layout

    layout = get_layout(checkpoint.format)
    summary = layout.architecture(checkpoint.arrays)
    _check_sizes(checkpoint, summary, sizes)
    file_options = {k: summary[k] for k in INFERRED_OPTIONS if k in summary}
    if "position_length" in summary:
        counts = {k: v for k, v in summary.get("token_counts", {}).items() if v}
        merged = {**given, **{k: v for k, v in file_options.items() if given.get(k) == defaults.get(k)}}
        kinds, _ = choose_position_slots(
            summary["position_length"], summary["position_candidates"], counts, grid,
            preferred=model_slot_kinds(merged), description=checkpoint.path)
        slotted = tuple(k for k in ("class", "distillation") if counts.get(k))
        if slotted:
            file_options["no_embed_class"] = not kinds
    options, notes = dict(given), []
    for option, value in file_options.items():
        current = given.get(option, defaults.get(option))
        same = ((current is None) == (value is None)) if option == "layer_scale_init" else current == value
        if same:
            continue
        if option == "pooling" and (value is None or current is None):
            continue  # a headless, unpooled model drops the file's pooling like its head
        if current != defaults.get(option):
            raise ValueError(
                f"`{option}`={current!r} contradicts {checkpoint.path}, which has "
                f"{_describe(option, value)}: pass {_argument(option, value)} or leave `{option}` "
                "at its default to take it from the file.")
        options[option] = INFERRED_LAYER_SCALE if option == "layer_scale_init" else value
        notes.append(f"{_describe(option, value)} in the file: {_argument(option, options[option])}")
    if notes:
        notes = [f"from {checkpoint.path}: " + "; ".join(notes) + "."]
    implied = {}
    if layout.approximate_gelu:
        implied["mlp_activation"] = "gelu_tanh"
    if summary.get("layer_norm_epsilon") is not None:
        implied["layer_norm_epsilon"] = summary["layer_norm_epsilon"]
    return options, implied, notes


_SIZE_NAMES = {"hidden_dim": "hidden_dim", "num_layers": "num_layers", "mlp_dim": "mlp_dim",
               "patch_size": "patch_size"}


def _check_sizes(checkpoint, summary, sizes):
    differ = []
    for key in _SIZE_NAMES:
        if key in summary and summary[key] is not None:
            ours = sizes[key]
            theirs = summary[key]
            if key == "patch_size":
                theirs = tuple(theirs) if isinstance(theirs, (tuple, list)) else (theirs, theirs)
                ours = tuple(ours)
            if ours != theirs:
                differ.append(f"{key} {theirs if key != 'patch_size' else theirs[0]} (the model: "
                              f"{ours if key != 'patch_size' else ours[0]})")
    if differ:
        hint = ""
        preset = getattr(checkpoint, "preset", None)
        if preset is not None and getattr(preset, "architecture", None):
            hint = f" Use keras_vit.from_preset({preset.name!r}) or keras_vit.vit({preset.architecture!r})."
        raise ValueError(
            f"{checkpoint.path} is a different size of ViT: it has {', '.join(differ)}. Build the "
            f"model with the file's sizes.{hint}")


def option_hint(path, model_has):
    """The architecture option behind a converted variable path the model
    lacks (`model_has=False`) or that the file lacks (`model_has=True`), as a
    phrase naming the argument to change."""
    index = names.block_index(path)
    if "/layer_scale_" in path:
        return ("the file has no LayerScale: build with layer_scale_init=None" if model_has else
                "the file has LayerScale (blocks.N.ls1.gamma / layer_scale): build with "
                f"layer_scale_init={INFERRED_LAYER_SCALE}")
    if path == f"{names.PATCH_EMBEDDING}/projection/bias":
        return ("the file has no patch-projection bias (CLIP): build with patch_bias=False" if model_has
                else "the file has a patch-projection bias: build with patch_bias=True")
    if "/attention/" in path and path.endswith("/bias") and "attention_output" not in path:
        return ("the file has no query/key/value biases: build with use_qkv_bias=False" if model_has
                else "the file has query/key/value biases: build with use_qkv_bias=True")
    if index is not None and not model_has:
        return f"the file has more transformer blocks (block {index}): build with its num_layers"
    if index is not None and model_has:
        return "the file has fewer transformer blocks: build with its num_layers"
    top = path.split("/")[0]
    table = {
        names.CLASS_TOKEN: "class_token",
        names.DISTILLATION_TOKEN: "distillation",
        names.HEAD_DIST: "distillation",
        names.REGISTER_TOKENS: "num_register_tokens",
        names.PRE_NORM: "pre_norm",
        names.FC_NORM: "fc_norm",
        names.ATTENTION_POOL: "pooling",
    }
    if top == names.ENCODER_NORM:
        return ("the file has a LayerNorm after pooling instead (fc_norm): build with fc_norm=True"
                if model_has else "the file has a final encoder_norm: build with fc_norm=False")
    option = table.get(top)
    if option is None:
        return "the architectures differ"
    value = {"class_token": True, "distillation": True, "num_register_tokens": "R",
             "pre_norm": True, "fc_norm": True, "pooling": "map"}[option]
    if model_has:
        value = {"class_token": False, "distillation": False, "num_register_tokens": 0,
                 "pre_norm": False, "fc_norm": False, "pooling": "'token' or 'gap'"}[option]
        return f"the file has no {top.replace('_', ' ')}: build with {option}={value}"
    described = {"class_token": "a class token", "distillation": "a distillation token/head (DeiT distilled)",
                 "num_register_tokens": "register tokens", "pre_norm": "a LayerNorm before the blocks (CLIP)",
                 "fc_norm": "a LayerNorm after pooling (fc_norm)",
                 "pooling": "an attention-pooling (MAP) head"}[option]
    shown = repr(value) if isinstance(value, str) and option == "pooling" else value
    return f"the file has {described}: build with {option}={shown}"
