"""Exporting a trained model for serving, and loading the export back.

| format | writes | exports from backends | runs with | extra packages to export / to load |
|---|---|---|---|---|
| `"keras"` | `.keras` zip | tensorflow, jax, torch | Keras + keras_vit | - / - |
| `"saved_model"` | SavedModel directory | tensorflow, jax | TensorFlow, TF Serving | `tensorflow` / `tensorflow` |
| `"onnx"` | `.onnx` file | tensorflow, jax, torch | ONNX Runtime | `tf2onnx`+`onnx` (tensorflow), `jax2onnx` (jax), `onnxscript`+`onnx` (torch) / `onnxruntime` |
| `"litert"` | `.tflite` file | tensorflow | LiteRT (TFLite) | - / `ai-edge-litert`, else TensorFlow's `tf.lite.Interpreter` |

`"tf_saved_model"` and `"tflite"` are accepted as other names for
`"saved_model"` and `"litert"`.

Every export except `"keras"` holds only the inference graph (no optimizer,
no Python code needed to run it). The batch dimension stays dynamic unless
`batch_size` fixes it.

Unlike the model code, this module is serving glue: it imports TensorFlow,
ONNX Runtime and the converters lazily, inside the functions that need them.
"""

import os
import shutil
import tempfile

import numpy as np

from keras_vit import _files
from keras_vit._validation import check_bool, is_integer

__all__ = ["SERVING_FORMATS", "export_formats", "export_model", "load_exported"]

# The formats export_model writes (see the table above).
SERVING_FORMATS = ("keras", "saved_model", "onnx", "litert")
_ALIASES = {"tf_saved_model": "saved_model", "tflite": "litert"}
_BACKENDS = ("tensorflow", "jax", "torch")

# Which backends can write each format, as tested with Keras 3.15.
_EXPORT_BACKENDS = {
    "keras": ("tensorflow", "jax", "torch"),
    "saved_model": ("tensorflow", "jax"),
    "onnx": ("tensorflow", "jax", "torch"),
    "litert": ("tensorflow",),
}
# Why a backend cannot, for the error message.
_WHY_NOT = {
    # Keras lowers torch programs to StableHLO with torch-xla, which has no
    # release for current torch, and its dynamic-batch path fails in
    # torch.export (the `dynamic_shapes` it builds do not match `forward(*args)`).
    ("saved_model", "torch"): "Keras converts torch models through torch-xla, which keras_vit does not support",
    ("litert", "jax"): "Keras has no JAX route to LiteRT",
    # Keras's torch route needs litert-torch, whose releases need torch<2.13
    # or immutabledict<4.2.2, both older than keras_vit's pins.
    ("litert", "torch"): "Keras converts torch models through litert-torch, which keras_vit does not support",
}
# (module, pip package) pairs that must be importable to export.
_EXPORT_PACKAGES = {
    ("saved_model", "jax"): (("tensorflow", "tensorflow-cpu"),),
    ("onnx", "tensorflow"): (("tf2onnx", "tf2onnx"), ("onnx", "onnx")),
    ("onnx", "jax"): (("jax2onnx", "jax2onnx"), ("onnx", "onnx")),
    ("onnx", "torch"): (("onnxscript", "onnxscript"), ("onnx", "onnx")),
}
_SUFFIXES = {"keras": ".keras", "litert": ".tflite"}


def export_formats(backend=None):
    """The serving formats `export_model` can write with a Keras backend.

    Args:
        backend: str or None. `"tensorflow"`, `"jax"` or `"torch"`; None
            (the default) means the backend Keras is running on.

    Returns:
        A tuple of format names, in the order of `SERVING_FORMATS`.

    Example:
    >>> export_formats("tensorflow")
    ('keras', 'saved_model', 'onnx', 'litert')
    >>> export_formats("torch")
    ('keras', 'onnx')
    """
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend not in _BACKENDS:
        raise ValueError(f"`backend` must be one of {_BACKENDS} or None. Received: backend={backend!r}")
    return tuple(name for name in SERVING_FORMATS if backend in _EXPORT_BACKENDS[name])


def _check_format(format):
    name = _ALIASES.get(format, format) if isinstance(format, str) else format
    if name not in SERVING_FORMATS:
        raise ValueError(
            f"`format` must be one of {SERVING_FORMATS} (or the aliases "
            f"{tuple(_ALIASES)}). Received: format={format!r}"
        )
    return name


def _missing(packages):
    import importlib.util

    return [pip_name for module, pip_name in packages if importlib.util.find_spec(module) is None]


def export_model(model, path, format="keras", overwrite=False, batch_size=None, verbose=False):
    """Writes a trained model in a format for serving.

    Wraps `model.save` (`"keras"`) and Keras 3's `model.export`
    (`"saved_model"`, `"onnx"`, `"litert"`); see the module docstring for
    which backend can write which format and what each needs installed. All
    arguments, the backend and the needed packages are checked before any
    work. The export is written into a hidden scratch folder next to `path`
    (`.keras_vit-export-<pid>-<name>.<random>`), flushed to disk and moved
    into place only once complete, so a failed or killed export leaves
    `path` as it was. Scratch folders left by a killed process (whose pid
    no longer exists) are removed by the next call writing to the same
    directory; should the kill have fallen between moving an old
    SavedModel aside and moving the new one in, the old one is put back.

    Deviation from `model.export`: with the torch backend, `"onnx"` calls
    `torch.onnx.export(dynamo=True)` directly, because Keras 3.15 sends a
    dynamic batch through the TorchScript exporter, which fails on
    `LayerNormalization`.

    Args:
        model: a built single-input `keras.Model`, such as a
            `keras_vit.VisionTransformer`.
        path: str or path-like. Where to write: a file ending in `.keras`
            for `"keras"` and in `.tflite` for `"litert"`; any file name for
            `"onnx"`; a directory for `"saved_model"`.
        format: str. One of `SERVING_FORMATS`. Defaults to `"keras"`.
        overwrite: bool. Replace an existing export at `path`; otherwise an
            existing `path` is an error and nothing is written. Only a file
            is replaced by a file and only a SavedModel directory by a
            SavedModel. Defaults to False.
        batch_size: int or None. Fix the batch dimension of the exported
            graph (some runtimes and accelerators need static shapes); None
            keeps it dynamic. Must be None for `"keras"`. Defaults to None.
        verbose: bool. Let Keras and the converters print progress.
            Defaults to False.

    Returns:
        `path` as a str.

    Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=1,
    ...     num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> path = export_model(model, os.path.join(tempfile.mkdtemp(), "tiny.keras"))
    >>> predict = load_exported(path, "keras")
    >>> images = np.zeros((2, 8, 8, 3), "float32")
    >>> bool(np.allclose(predict(images), model.predict(images, verbose=0)))
    True
    """
    import keras

    format = _check_format(format)
    backend = keras.backend.backend()
    if backend not in _EXPORT_BACKENDS[format]:
        raise ValueError(
            f"format={format!r} cannot be exported with the {backend} backend "
            f"({_WHY_NOT[format, backend]}). Backends that can: "
            f"{', '.join(_EXPORT_BACKENDS[format])}; formats this backend can write: "
            f"{export_formats(backend)}."
        )
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model. Received: model of type {type(model).__name__}")
    inputs = getattr(model, "inputs", None)
    if not model.built or not inputs or len(inputs) != 1:
        raise ValueError(
            "`model` must be a built model with exactly one input (a functional "
            "model such as keras_vit.VisionTransformer). Received: model "
            f"{model.name!r} with inputs {inputs!r}"
        )
    overwrite = check_bool("overwrite", overwrite)
    verbose = check_bool("verbose", verbose)
    if batch_size is not None:
        if not is_integer(batch_size) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive int or None. Received: batch_size={batch_size!r}")
        batch_size = int(batch_size)
        if format == "keras":
            raise ValueError(
                "`batch_size` must be None for format='keras' (a .keras file has "
                f"no fixed batch). Received: batch_size={batch_size!r}"
            )
    path = os.fspath(path)
    suffix = _SUFFIXES.get(format)
    if suffix and not path.endswith(suffix):
        raise ValueError(f"`path` must end with {suffix!r} for format={format!r}. Received: path={path!r}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise FileNotFoundError(f"The directory of `path` does not exist: {parent}")
    if os.path.lexists(path):
        if not overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
        _check_replaceable(path, format)
    missing = _missing(_EXPORT_PACKAGES.get((format, backend), ()))
    if missing:
        raise ImportError(
            f"Exporting format={format!r} with the {backend} backend needs "
            f"{' and '.join(missing)}: pip install {' '.join(missing)}"
        )

    spec = inputs[0]
    shape = (batch_size,) + tuple(spec.shape[1:])
    signature = [keras.InputSpec(shape=shape, dtype=spec.dtype, name=spec.name)]
    _remove_stale_scratch(parent)
    destination = os.path.join(parent, os.path.basename(os.path.normpath(path)))
    scratch = tempfile.mkdtemp(prefix=_files.temp_sibling_prefix(destination, _SCRATCH_KIND), dir=parent)
    try:
        # In a folder of its own, so that no destination name can collide
        # with `_REPLACED`.
        os.mkdir(os.path.join(scratch, _STAGED))
        staged = os.path.join(scratch, _STAGED, os.path.basename(os.path.normpath(path)))
        if format == "keras":
            model.save(staged)
        elif format == "saved_model":
            model.export(staged, format="tf_saved_model", verbose=verbose, input_signature=signature)
        elif format == "onnx" and backend == "torch":
            _export_onnx_torch(model, staged, shape, spec, verbose)
        elif format == "onnx":
            if backend == "tensorflow":
                _register_tf2onnx_erfc()
            model.export(staged, format="onnx", verbose=verbose, input_signature=signature)
        else:
            model.export(staged, format="litert", verbose=verbose, input_signature=signature)
        _files.fsync_tree(staged)
        if os.path.isdir(path):
            # Move the old SavedModel aside first, so the rename cannot fail
            # on a non-empty directory; it is deleted with `scratch` (or put
            # back by `_remove_stale_scratch` after a kill right here).
            replaced = os.path.join(scratch, _REPLACED)
            os.replace(path, replaced)
            try:
                os.replace(staged, path)
            except BaseException:
                os.replace(replaced, path)
                raise
        else:
            os.replace(staged, path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path


# Scratch folders are `.keras_vit-export-<pid>-<destination name>.<random>`
# (keras_vit._files naming), holding the export being written under
# `_STAGED/<destination name>` and, while it replaces an old SavedModel, the
# old one as `_REPLACED`.
_SCRATCH_KIND = "export"
_STAGED = "staged"
_REPLACED = "replaced"


def _remove_stale_scratch(parent):
    # Scratch folders of dead processes only (a live one may be exporting
    # right now), and only keras_vit's names.
    head = f".keras_vit-{_SCRATCH_KIND}-"
    for name in _files.stale_names(parent, _SCRATCH_KIND):
        scratch = os.path.join(parent, name)
        replaced = os.path.join(scratch, _REPLACED)
        if os.path.isdir(scratch) and not os.path.islink(scratch) and os.path.lexists(replaced):
            # The user's previous export waits in here. If the kill fell
            # between the two renames nothing is at its name: put it back;
            # if its name cannot be told or the move fails, keep it.
            original = name[len(head):].partition("-")[2].rpartition(".")[0]
            target = os.path.join(parent, original)
            if not original:
                continue
            if not os.path.lexists(target):
                try:
                    os.replace(replaced, target)
                except OSError:
                    continue
        _files.remove_path(scratch)


def _check_replaceable(path, format):
    # `overwrite=True` must never delete a user's directory or turn a file
    # into a directory: only like replaces like.
    if format == "saved_model":
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise ValueError(
                f"{path} exists and is not a SavedModel directory; refusing to replace it "
                "even with overwrite=True. Choose another `path`."
            )
    elif not os.path.isfile(path):
        raise ValueError(
            f"{path} exists and is not a file; refusing to replace it with a "
            f"{format!r} file even with overwrite=True. Choose another `path`."
        )


def _export_onnx_torch(model, path, shape, spec, verbose):
    import keras
    import torch

    # torch.export specialises dimensions of size 1, so a dynamic batch is
    # traced with 2 samples.
    sample = keras.ops.zeros((shape[0] or 2,) + shape[1:], dtype=spec.dtype)
    # A Keras model's `forward(*args)` takes the inputs as one tuple, hence
    # the extra nesting.
    dynamic_shapes = None if shape[0] else (({0: torch.export.Dim("batch")},),)
    was_training = model.training
    model.eval()
    try:
        program = torch.onnx.export(
            model,
            (sample,),
            dynamo=True,
            input_names=[spec.name],
            dynamic_shapes=dynamic_shapes,
            verbose=verbose,
        )
    finally:
        model.train(was_training)
    program.optimize()
    program.save(path)


_TF2ONNX_ERFC_REGISTERED = False


def _register_tf2onnx_erfc():
    # TensorFlow writes the exact GELU as 0.5 * x * erfc(-x / sqrt(2)), but
    # tf2onnx 1.17 has no handler for Erfc and copies the node into the ONNX
    # graph, where ONNX Runtime rejects it ("No Op registered for Erfc").
    # ONNX has Erf (opset 9+), so write erfc(x) as 1 - erf(x), the form JAX
    # and torch use for the GELU too: its error (about 6e-8 absolute) is
    # scaled by 0.5 * |x| in the GELU output.
    global _TF2ONNX_ERFC_REGISTERED
    if _TF2ONNX_ERFC_REGISTERED:
        return
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class _Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            (x,) = node.input
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(x))
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype))
            erf = ctx.make_node("Erf", [x], op_name_scope=node.name)
            node.type = "Sub"
            ctx.replace_inputs(node, [one.output[0], erf.output[0]])

    _TF2ONNX_ERFC_REGISTERED = True


def _litert_interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            # Deprecated since TensorFlow 2.20 in favour of ai-edge-litert,
            # still present in 2.21 as the lazily loaded `tf.lite.Interpreter`
            # (`from tensorflow.lite import Interpreter` does not find it).
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
        except (ImportError, AttributeError) as error:
            raise ImportError(
                "Running a format='litert' export needs the LiteRT interpreter: "
                "pip install ai-edge-litert"
            ) from error
    return Interpreter


def load_exported(path, format):
    """Loads an `export_model` artifact as a NumPy-in, NumPy-out function.

    Each format runs on its own runtime, so it works under any Keras
    backend (and `"saved_model"`, `"onnx"` and `"litert"` without keras_vit's
    model code): `"keras"` with `keras.saving.load_model`, `"saved_model"`
    with `tf.saved_model.load` and its `serving_default` signature (what
    TF Serving calls), `"onnx"` with an `onnxruntime.InferenceSession`, and
    `"litert"` with the LiteRT interpreter (`ai-edge-litert`, or TensorFlow's
    deprecated `tf.lite.Interpreter` when that is not installed).

    Args:
        path: str or path-like. The file or SavedModel directory written by
            `export_model` (or by Keras's `model.save`/`model.export`, for a
            single-input, single-output model).
        format: str. The format it was written in, one of `SERVING_FORMATS`.

    Returns:
        A function `predict(images)`: `images` is an array of shape
        `(batch, height, width, channels)`, converted to float32; it returns
        the model's outputs (logits or probabilities, as the model was
        built) as a float32 NumPy array of shape `(batch, ...)`. The
        `"litert"` one is not thread-safe. A batch size fixed at export must
        be matched.

    Example:
    >>> import os, tempfile
    >>> import numpy as np
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=1,
    ...     num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> path = export_model(model, os.path.join(tempfile.mkdtemp(), "tiny.keras"))
    >>> load_exported(path, "keras")(np.zeros((4, 8, 8, 3))).shape
    (4, 3)
    """
    format = _check_format(format)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No export at `path`={path!r}")
    if format == "keras":
        return _load_keras(path)
    if format == "saved_model":
        return _load_saved_model(path)
    if format == "onnx":
        return _load_onnx(path)
    return _load_litert(path)


def _as_images(images, batch_size=None):
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(
            "`images` must have shape (batch, height, width, channels). "
            f"Received: images of shape {images.shape}"
        )
    if batch_size is not None and images.shape[0] != batch_size:
        raise ValueError(
            f"This export has a fixed batch of {batch_size} (export_model's `batch_size`). "
            f"Received: images of shape {images.shape}"
        )
    return images


def _load_keras(path):
    import keras

    model = keras.saving.load_model(path)

    def predict(images):
        return np.asarray(model.predict(_as_images(images), verbose=0), dtype=np.float32)

    return predict


def _load_saved_model(path):
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError("Loading format='saved_model' needs TensorFlow: pip install tensorflow-cpu") from error
    loaded = tf.saved_model.load(path)
    serve = loaded.signatures["serving_default"]
    specs = serve.structured_input_signature[1]
    if len(specs) != 1:
        raise ValueError(f"{path} serves {len(specs)} inputs {list(specs)}; load_exported handles one.")
    ((name, spec),) = specs.items()
    batch_size = spec.shape[0] if spec.shape.rank else None

    def predict(images):
        # `loaded` must stay referenced: the signature's variables belong to it.
        outputs = loaded.signatures["serving_default"](**{name: tf.constant(_as_images(images, batch_size))})
        if len(outputs) != 1:
            raise ValueError(f"{path} returns {len(outputs)} outputs; load_exported handles one.")
        (logits,) = outputs.values()
        return logits.numpy()

    return predict


def _load_onnx(path):
    try:
        import onnxruntime
    except ImportError as error:
        raise ImportError("Loading format='onnx' needs ONNX Runtime: pip install onnxruntime") from error
    session = onnxruntime.InferenceSession(path, providers=onnxruntime.get_available_providers())
    if len(session.get_inputs()) != 1 or len(session.get_outputs()) != 1:
        raise ValueError(f"{path} has several inputs or outputs; load_exported handles one of each.")
    name = session.get_inputs()[0].name
    # A dynamic dimension is a name ("batch") or None; a fixed one an int.
    batch_size = session.get_inputs()[0].shape[0]
    batch_size = batch_size if isinstance(batch_size, int) else None

    def predict(images):
        (logits,) = session.run(None, {name: _as_images(images, batch_size)})
        return np.asarray(logits, dtype=np.float32)

    return predict


def _load_litert(path):
    interpreter = _litert_interpreter()(model_path=path)
    if len(interpreter.get_input_details()) != 1 or len(interpreter.get_output_details()) != 1:
        raise ValueError(f"{path} has several inputs or outputs; load_exported handles one of each.")
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    batch_size = int(interpreter.get_input_details()[0]["shape_signature"][0])
    batch_size = None if batch_size == -1 else batch_size
    interpreter.allocate_tensors()

    def predict(images):
        images = _as_images(images, batch_size)
        if tuple(interpreter.get_input_details()[0]["shape"]) != images.shape:
            # Exports keep the batch dynamic (shape_signature -1); the
            # interpreter still needs the concrete shape before each run.
            interpreter.resize_tensor_input(input_index, images.shape)
            interpreter.allocate_tensors()
        interpreter.set_tensor(input_index, images)
        interpreter.invoke()
        return interpreter.get_tensor(output_index).copy()

    return predict
