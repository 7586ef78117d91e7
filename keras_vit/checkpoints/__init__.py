"""Pretrained checkpoints: reading, converting, fetching and writing.

Layouts (told from a file's contents, never its name):

| layout | container | GELU the weights were trained with |
|---|---|---|
| `google` (ViT, AugReg; `opt/target/` prefix accepted) | `.npz` | tanh approximation |
| `big_vision` (`params/` prefix, class token without position slot) | `.npz` | tanh approximation |
| `timm` (and `timm/...` on the Hugging Face Hub): ViT, DeiT, DeiT distilled, DeiT-III, DINOv2, CLIP, SigLIP, gap/register ViTs | `.safetensors` | exact (erf), unless the architecture says otherwise |
| `transformers` (`ViTModel`, `ViTForImageClassification`) | `.safetensors` | exact (erf) |
| `keras` (keras_vit's own `.weights.h5` / `.keras`) | HDF5 / zip | whatever the model used |

Each layout is one module declaring a `layout.Layout` record;
`registry.LAYOUTS` lists them. Builders given a `weights=` file default
`approximate_gelu` to the form in this table (timm runs the Google files
with the exact form: a logit difference of order 1e-4), and take the
architecture options the file determines (`architecture.infer_options`).
Loading reproduces the file's function or raises. See `docs/families.md`.
"""

from keras_vit.checkpoints.export import EXPORT_FORMATS, export_weights
from keras_vit.checkpoints.formats import FORMATS, read_checkpoint, sniff_format
from keras_vit.checkpoints.loading import Checkpoint, LoadReport, load_weights, resolve_checkpoint
from keras_vit.checkpoints.presets import PRESETS, Preset, fetch_preset, get_preset, list_presets
from keras_vit.checkpoints.safetensors_io import read_safetensors, write_safetensors

__all__ = [
    "Checkpoint",
    "EXPORT_FORMATS",
    "FORMATS",
    "LoadReport",
    "PRESETS",
    "Preset",
    "export_weights",
    "fetch_preset",
    "get_preset",
    "list_presets",
    "load_weights",
    "read_checkpoint",
    "read_safetensors",
    "resolve_checkpoint",
    "sniff_format",
    "write_safetensors",
]
