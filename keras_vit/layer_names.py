"""The layer names of a `VisionTransformer`, in one place.

Layer names are part of every weight file (they make the variable paths,
e.g. `transformer_block_3/attention/query/kernel`), so they are frozen.
Every module that needs one (checkpoint converters, freezing, layer-wise
learning-rate decay, sharding rules, backbones, attention maps) takes it
from here instead of spelling it.

Example:
>>> block_name(3)
'transformer_block_3'
>>> block_index("transformer_block_3/attention/query/kernel")
3
"""

import re

PATCH_EMBEDDING = "patch_embedding"
CLASS_TOKEN = "class_token"
DISTILLATION_TOKEN = "distillation_token"
POSITION_EMBEDDING = "position_embedding"
REGISTER_TOKENS = "register_tokens"
EMBEDDING_DROPOUT = "embedding_dropout"
PRE_NORM = "pre_norm"
ENCODER_NORM = "encoder_norm"
FC_NORM = "fc_norm"
ATTENTION_POOL = "attention_pool"
HEAD = "head"
HEAD_DIST = "head_dist"
HEAD_ACTIVATION = "head_activation"

# Layers before the first block, in the order tokens pass through them.
EMBEDDING_LAYERS = (PATCH_EMBEDDING, CLASS_TOKEN, DISTILLATION_TOKEN, POSITION_EMBEDDING,
                    REGISTER_TOKENS, PRE_NORM)
# Layers after the last block that turn tokens into an image feature.
POOLING_LAYERS = (ENCODER_NORM, ATTENTION_POOL, FC_NORM)
HEAD_LAYERS = (HEAD, HEAD_DIST)

_BLOCK_PREFIX = "transformer_block_"
BLOCK_PATTERN = re.compile(r"^transformer_block_(\d+)(?:/|$)")
# A regular expression matching the path of any block's variable, for
# path-based rules such as sharding layouts.
BLOCK_PATH_REGEX = _BLOCK_PREFIX + r"\d+"


def block_name(index):
    """The name of transformer block `index` (0-based): `"transformer_block_{index}"`.

    Args:
        index: int >= 0.

    Returns:
        str.
    """
    return f"{_BLOCK_PREFIX}{int(index)}"


def block_index(path):
    """The block index of a layer name or variable path, or None if it is
    not inside a transformer block.

    Args:
        path: str, e.g. `"transformer_block_3"` or
            `"transformer_block_3/mlp/dense_1/kernel"`.

    Returns:
        int or None.
    """
    match = BLOCK_PATTERN.match(path)
    return int(match.group(1)) if match else None


def block_names(model):
    """Names of `model`'s transformer blocks, in order (`transformer_block_0`,
    `transformer_block_1`, ... while such a layer exists).

    Args:
        model: a `keras.Model` built with keras_vit's layer names.

    Returns:
        list of str.
    """
    names = {layer.name for layer in model.layers}
    count = 0
    while block_name(count) in names:
        count += 1
    return [block_name(index) for index in range(count)]
