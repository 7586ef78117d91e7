"""Writing a model's weights in the Google `.npz` or timm `.safetensors`
layout, for use in other libraries (timm, big_vision, JAX code) or here."""

import os

import numpy as np

from keras_vit import _files
from keras_vit._validation import check_bool
from keras_vit.checkpoints import registry
from keras_vit.checkpoints.safetensors_io import write_safetensors

# The layouts with a writer (`from_keras`), in registry order.
EXPORT_FORMATS = tuple(layout.name for layout in registry.LAYOUTS if layout.from_keras is not None)


def model_weights(model):
    """A model's weights as `{variable.path: float32 NumPy array}`."""
    from keras import ops

    return {v.path: np.asarray(ops.convert_to_numpy(v), dtype="float32") for v in model.weights}


def export_weights(model, path, format="timm", overwrite=False):
    """Writes a `VisionTransformer`'s weights as a checkpoint file.

    - `"timm"`: a `.safetensors` file with timm's `VisionTransformer` keys;
      load it in timm with `timm.models.vision_transformer.VisionTransformer(
      img_size, patch_size, embed_dim, depth, num_heads, mlp_ratio,
      num_classes, global_pool="token"|"avg", fc_norm=False, reg_tokens=R,
      init_values=layer_scale_init, act_layer="gelu_tanh" if the model uses
      approximate GELU)` and `model.load_state_dict(safetensors.torch.
      load_file(path))`.
    - `"google"`: an `.npz` in the google-research/vision_transformer layout
      (`timm`'s `model.load_pretrained(path)` and the original JAX code read
      it). It cannot hold register tokens or LayerScale.
    - `"transformers"`: a `.safetensors` file with the keys of Hugging Face
      `ViTForImageClassification` (`ViTModel` without a head); plain ViTs
      only.

    Every family (DeiT distilled, DeiT-III, DINOv2, CLIP, SigLIP, gap and
    register ViTs) exports to `"timm"` in the form of timm's architecture
    of the same name (`model.architecture_options()` decides, e.g. the
    position table without a class slot for `no_embed_class`).

    Both load back here with `keras_vit.checkpoints.load_weights`.

    The file is written to a temporary sibling (`.keras_vit-tmp-<pid>-...`),
    flushed to disk and renamed onto `path` only once complete, so a crash
    or kill mid-write leaves any existing file at `path` as it was. Such
    temporaries left by a killed process are removed by the next call
    writing to the same directory.

    Args:
        model: a `keras_vit.VisionTransformer`.
        path: str or path-like. Destination file.
        format: one of `EXPORT_FORMATS`: `"timm"`, `"google"` or
            `"transformers"`.
        overwrite: bool. Replace an existing file; otherwise an existing
            file is an error (nothing you saved is lost).

    Returns:
        None.

    Example:
    >>> import os, tempfile
    >>> from keras_vit import VisionTransformer
    >>> model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=1,
    ...     num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
    >>> path = os.path.join(tempfile.mkdtemp(), "tiny.npz")
    >>> export_weights(model, path, format="google")
    >>> from keras_vit.checkpoints import sniff_format
    >>> sniff_format(path)
    'google'
    """
    if not hasattr(model, "architecture_options"):  # duck-typed: no import of keras_vit.models
        raise TypeError(f"`model` must be a keras_vit VisionTransformer. Received: {type(model).__name__}")
    if format not in EXPORT_FORMATS:
        raise ValueError(f"`format` must be one of {EXPORT_FORMATS}. Received: format={format!r}")
    overwrite = check_bool("overwrite", overwrite)
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path} is a directory; `path` must name a file.")
    target = registry.get_layout(format)
    # Converted (and refused, for what the layout cannot hold) before
    # anything is written.
    arrays = target.from_keras(model_weights(model), model.architecture_options())
    _files.remove_stale(os.path.dirname(os.path.abspath(path)))
    if target.container == "safetensors":
        with _files.atomic_path(path, overwrite=overwrite) as staged:
            write_safetensors(staged, arrays, metadata={"format": "pt"})
        return
    # np.savez appends ".npz" to names without it; write through a handle so
    # the file lands exactly at `path`.
    with _files.atomic_path(path, overwrite=overwrite) as staged:
        with open(staged, "wb") as handle:
            np.savez(handle, **arrays)
