"""Backend-agnostic building blocks of a Vision Transformer."""

from keras_vit.layers.attention import MultiHeadSelfAttention
from keras_vit.layers.attention_pool import AttentionPool
from keras_vit.layers.class_token import ClassToken, DistillationToken
from keras_vit.layers.drop_path import DropPath
from keras_vit.layers.feature_map import ResampleFeatureMap, TokensToFeatureMap
from keras_vit.layers.initializers import TruncatedNormal
from keras_vit.layers.layer_scale import LayerScale
from keras_vit.layers.mlp import MLPBlock
from keras_vit.layers.patch_embedding import PatchEmbedding
from keras_vit.layers.position_embedding import PositionEmbedding, resample_position_embedding
from keras_vit.layers.register_tokens import RegisterTokens
from keras_vit.layers.transformer_block import TransformerBlock

__all__ = [
    "AttentionPool",
    "ClassToken",
    "DistillationToken",
    "DropPath",
    "LayerScale",
    "MLPBlock",
    "MultiHeadSelfAttention",
    "PatchEmbedding",
    "PositionEmbedding",
    "RegisterTokens",
    "TransformerBlock",
    "TruncatedNormal",
    "resample_position_embedding",
    "ResampleFeatureMap",
    "TokensToFeatureMap",
]
