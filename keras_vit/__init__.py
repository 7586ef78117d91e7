"""keras-vit: Vision Transformers for Keras 3 on TensorFlow, JAX and PyTorch.

>>> from keras_vit import ViTBase
>>> ViTBase().count_params()
86567656
"""

from keras_vit import augmentation, data, distribute, layers, models, training
from keras_vit.models import (
    VARIANTS,
    ViTBase,
    ViTHuge,
    ViTLarge,
    ViTSmall,
    ViTTiny,
    VisionTransformer,
    get_variant_config,
    preprocess_input,
    preprocessing_layer,
    resize_model,
    vit,
)

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "ViTBase",
    "ViTHuge",
    "ViTLarge",
    "ViTSmall",
    "ViTTiny",
    "VisionTransformer",
    "augmentation",
    "data",
    "distribute",
    "get_variant_config",
    "layers",
    "models",
    "preprocess_input",
    "preprocessing_layer",
    "resize_model",
    "training",
    "vit",
    "__version__",
]
