"""Vision Transformer models: the generic builder and the named variants."""

from keras_vit.models.backbone import ViTBackbone, vit_backbone
from keras_vit.models.distillation import distillation_outputs
from keras_vit.models.preprocessing import preprocess_input, preprocessing_layer
from keras_vit.models.pretrained import from_preset
from keras_vit.models.resize import resize_model
from keras_vit.models.segmentation import build_segmenter, unet_head
from keras_vit.models.timm_architectures import architecture_config, list_architectures
from keras_vit.models.variants import VARIANTS, get_variant_config
from keras_vit.models.vision_transformer import MAX_PARAMETERS, VisionTransformer, count_parameters
from keras_vit.models.builders import ViTBase, ViTHuge, ViTLarge, ViTSmall, ViTTiny, vit

__all__ = [
    "MAX_PARAMETERS",
    "VARIANTS",
    "ViTBase",
    "ViTHuge",
    "ViTLarge",
    "ViTSmall",
    "ViTTiny",
    "ViTBackbone",
    "VisionTransformer",
    "architecture_config",
    "build_segmenter",
    "count_parameters",
    "distillation_outputs",
    "from_preset",
    "get_variant_config",
    "list_architectures",
    "preprocess_input",
    "preprocessing_layer",
    "resize_model",
    "unet_head",
    "vit",
    "vit_backbone",
]
