"""What a Vision Transformer looks at: attention maps, attention rollout and
heatmap overlays.

>>> import numpy as np
>>> from keras_vit import VisionTransformer
>>> vit = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2,
...     num_heads=2, mlp_dim=32, input_shape=(16, 16, 3), classes=3)
>>> maps = attention_maps(vit, np.zeros((1, 16, 16, 3), "float32"))
>>> rollout = attention_rollout(maps, num_prefix_tokens=vit.num_prefix_tokens,
...     grid_size=vit.grid_size)
>>> rollout.shape
(1, 4, 4)
"""

from keras_vit.visualization.attention import (
    attention_maps,
    attention_model,
    attention_rollout,
    overlay_attention,
)

__all__ = ["attention_maps", "attention_model", "attention_rollout", "overlay_attention"]
