"""keras-vit: Vision Transformers for Keras 3 on TensorFlow, JAX and PyTorch.

>>> from keras_vit import ViTBase
>>> ViTBase().count_params()
86567656
"""

from keras_vit import (
    augmentation,
    checkpoints,
    data,
    distribute,
    layers,
    models,
    serving,
    training,
    visualization,
)
from keras_vit.models import (
    VARIANTS,
    ViTBase,
    ViTHuge,
    ViTLarge,
    ViTSmall,
    ViTTiny,
    ViTBackbone,
    VisionTransformer,
    build_segmenter,
    from_preset,
    get_variant_config,
    preprocess_input,
    preprocessing_layer,
    resize_model,
    vit,
    vit_backbone,
)
from keras_vit.serving import export_model, load_exported

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "ViTBase",
    "ViTHuge",
    "ViTLarge",
    "ViTSmall",
    "ViTTiny",
    "ViTBackbone",
    "VisionTransformer",
    "augmentation",
    "build_segmenter",
    "checkpoints",
    "data",
    "distribute",
    "export_model",
    "from_preset",
    "get_variant_config",
    "layers",
    "load_exported",
    "models",
    "preprocess_input",
    "preprocessing_layer",
    "resize_model",
    "serving",
    "training",
    "visualization",
    "vit",
    "vit_backbone",
    "__version__",
]
