"""keras-vit: Vision Transformers for Keras 3 on TensorFlow, JAX and PyTorch.

>>> from keras_vit import ViTBase
>>> ViTBase().count_params()
86567656

`import keras_vit` checks first that the selected Keras backend
(`KERAS_BACKEND`) is installed and raises a short `ImportError` naming it
and the install commands otherwise. The `keras-vit` command imports the
package lazily, so `keras-vit --help` runs without a backend.
"""

import importlib

from keras_vit import _backend

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "VARIANTS": "keras_vit.models",
    "ViTBase": "keras_vit.models",
    "ViTHuge": "keras_vit.models",
    "ViTLarge": "keras_vit.models",
    "ViTSmall": "keras_vit.models",
    "ViTTiny": "keras_vit.models",
    "ViTBackbone": "keras_vit.models",
    "VisionTransformer": "keras_vit.models",
    "build_segmenter": "keras_vit.models",
    "from_preset": "keras_vit.models",
    "get_variant_config": "keras_vit.models",
    "preprocess_input": "keras_vit.models",
    "preprocessing_layer": "keras_vit.models",
    "resize_model": "keras_vit.models",
    "vit": "keras_vit.models",
    "vit_backbone": "keras_vit.models",
    "export_model": "keras_vit.serving",
    "load_exported": "keras_vit.serving",
}
_SUBMODULES = (
    "augmentation",
    "checkpoints",
    "data",
    "distribute",
    "layers",
    "models",
    "serving",
    "training",
    "visualization",
)

__all__ = sorted(_EXPORTS, key=str.lower) + sorted(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"keras_vit.{name}")
    else:
        raise AttributeError(f"module 'keras_vit' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if not _backend.running_cli():
    _backend.require_backend()
    # Everything at once, as before: the layers register themselves for
    # `.keras` loading on import.
    for _name in __all__:
        if _name != "__version__":
            __getattr__(_name)
    del _name
