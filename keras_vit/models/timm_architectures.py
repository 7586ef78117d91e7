"""timm's Vision Transformer architectures, by timm's names.

`ARCHITECTURES` maps every architecture name of the families keras_vit
builds to its configuration: the four sizes (width, depth, heads, MLP
width), patch size, default resolution and head size of timm's
`create_model(name)`, the family's options (`FAMILIES`) and the row's own.
Each row reproduces timm 1.0's architecture of that name exactly: the same
parameter count at any resolution and class count, the same function
(`tests/models/test_timm_architectures.py` checks every row against the
records `tests/fixtures/make_families.py` takes from timm itself).

Names of timm architectures keras_vit does not build are refused with the
reason (`REFUSED`): EVA-02 and the RoPE ViTs (rotary position embedding),
res-post-norm ViTs, DINOv2 giant (SwiGLU MLP), differential attention, and
the so150m ViTs, whose register tokens have position slots, and parallel
blocks (pwee).

Example:
>>> architecture_config("vit_small_patch14_reg4_dinov2")["num_register_tokens"]
4
>>> sorted(list_architectures("dinov2"))[:2]
['vit_base_patch14_dinov2', 'vit_base_patch14_reg4_dinov2']
"""

# The options each family adds to a plain pre-LN ViT (`VisionTransformer`
# arguments). Rows add what varies inside a family.
FAMILIES = {
    # ViT / AugReg (Dosovitskiy et al. 2021; Steiner et al. 2021).
    "vit": dict(),
    # DeiT (Touvron et al. 2021): the ViT architecture, trained from scratch.
    "deit": dict(),
    # DeiT with a distillation token and head.
    "deit_distilled": dict(distillation=True),
    # DeiT-III (Touvron et al. 2022): LayerScale, no class-token position slot.
    "deit3": dict(layer_scale_init=1e-6, no_embed_class=True),
    # DINOv2 (Oquab et al. 2023; registers: Darcet et al. 2024).
    "dinov2": dict(layer_scale_init=1e-5),
    # CLIP image towers (Radford et al. 2021; OpenCLIP): LayerNorm before the
    # blocks, no patch bias, LayerNorm epsilon 1e-5.
    "clip": dict(pre_norm=True, patch_bias=False, layer_norm_epsilon=1e-5),
    # SigLIP image towers (Zhai et al. 2023): no class token; MAP head or
    # mean pooling.
    "siglip": dict(class_token=False),
    # timm's class-token-free ViTs, mean pooling, with or without registers.
    "gap": dict(class_token=False),
}


def _row(family, hidden_dim, num_layers, num_heads, mlp_dim, patch_size, image_size, classes,
         **options):
    return dict(family=family, hidden_dim=hidden_dim, num_layers=num_layers, num_heads=num_heads,
                mlp_dim=mlp_dim, patch_size=patch_size, image_size=image_size, classes=classes,
                options={**FAMILIES[family], **options})


ARCHITECTURES = {
    "deit3_base_patch16_224": _row("deit3", 768, 12, 12, 3072, 16, 224, 1000),
    "deit3_base_patch16_384": _row("deit3", 768, 12, 12, 3072, 16, 384, 1000),
    "deit3_huge_patch14_224": _row("deit3", 1280, 32, 16, 5120, 14, 224, 1000),
    "deit3_large_patch16_224": _row("deit3", 1024, 24, 16, 4096, 16, 224, 1000),
    "deit3_large_patch16_384": _row("deit3", 1024, 24, 16, 4096, 16, 384, 1000),
    "deit3_medium_patch16_224": _row("deit3", 512, 12, 8, 2048, 16, 224, 1000),
    "deit3_small_patch16_224": _row("deit3", 384, 12, 6, 1536, 16, 224, 1000),
    "deit3_small_patch16_384": _row("deit3", 384, 12, 6, 1536, 16, 384, 1000),
    "deit_base_distilled_patch16_224": _row("deit_distilled", 768, 12, 12, 3072, 16, 224, 1000),
    "deit_base_distilled_patch16_384": _row("deit_distilled", 768, 12, 12, 3072, 16, 384, 1000),
    "deit_base_patch16_224": _row("deit", 768, 12, 12, 3072, 16, 224, 1000),
    "deit_base_patch16_384": _row("deit", 768, 12, 12, 3072, 16, 384, 1000),
    "deit_small_distilled_patch16_224": _row("deit_distilled", 384, 12, 6, 1536, 16, 224, 1000),
    "deit_small_patch16_224": _row("deit", 384, 12, 6, 1536, 16, 224, 1000),
    "deit_tiny_distilled_patch16_224": _row("deit_distilled", 192, 12, 3, 768, 16, 224, 1000),
    "deit_tiny_patch16_224": _row("deit", 192, 12, 3, 768, 16, 224, 1000),
    "vit_base_patch14_dinov2": _row("dinov2", 768, 12, 12, 3072, 14, 518, 0),
    "vit_base_patch14_reg4_dinov2": _row("dinov2", 768, 12, 12, 3072, 14, 518, 0, num_register_tokens=4, no_embed_class=True),
    "vit_base_patch16_224": _row("vit", 768, 12, 12, 3072, 16, 224, 1000),
    "vit_base_patch16_384": _row("vit", 768, 12, 12, 3072, 16, 384, 1000),
    "vit_base_patch16_clip_224": _row("clip", 768, 12, 12, 3072, 16, 224, 1000),
    "vit_base_patch16_clip_384": _row("clip", 768, 12, 12, 3072, 16, 384, 1000),
    "vit_base_patch16_clip_quickgelu_224": _row("clip", 768, 12, 12, 3072, 16, 224, 512, mlp_activation='quick_gelu'),
    "vit_base_patch16_gap_224": _row("gap", 768, 12, 16, 3072, 16, 224, 1000, pooling='gap'),
    "vit_base_patch16_plus_clip_240": _row("clip", 896, 12, 14, 3584, 16, 240, 640),
    "vit_base_patch16_reg4_gap_256": _row("gap", 768, 12, 12, 3072, 16, 256, 1000, pooling='gap', num_register_tokens=4, no_embed_class=True, fc_norm=True),
    "vit_base_patch16_siglip_224": _row("siglip", 768, 12, 12, 3072, 16, 224, 0, pooling='map'),
    "vit_base_patch16_siglip_256": _row("siglip", 768, 12, 12, 3072, 16, 256, 0, pooling='map'),
    "vit_base_patch16_siglip_384": _row("siglip", 768, 12, 12, 3072, 16, 384, 0, pooling='map'),
    "vit_base_patch16_siglip_512": _row("siglip", 768, 12, 12, 3072, 16, 512, 0, pooling='map'),
    "vit_base_patch16_siglip_gap_224": _row("siglip", 768, 12, 12, 3072, 16, 224, 0, pooling='gap'),
    "vit_base_patch16_siglip_gap_256": _row("siglip", 768, 12, 12, 3072, 16, 256, 0, pooling='gap'),
    "vit_base_patch16_siglip_gap_384": _row("siglip", 768, 12, 12, 3072, 16, 384, 0, pooling='gap'),
    "vit_base_patch16_siglip_gap_512": _row("siglip", 768, 12, 12, 3072, 16, 512, 0, pooling='gap'),
    "vit_base_patch32_224": _row("vit", 768, 12, 12, 3072, 32, 224, 1000),
    "vit_base_patch32_384": _row("vit", 768, 12, 12, 3072, 32, 384, 1000),
    "vit_base_patch32_clip_224": _row("clip", 768, 12, 12, 3072, 32, 224, 1000),
    "vit_base_patch32_clip_256": _row("clip", 768, 12, 12, 3072, 32, 256, 512),
    "vit_base_patch32_clip_384": _row("clip", 768, 12, 12, 3072, 32, 384, 1000),
    "vit_base_patch32_clip_448": _row("clip", 768, 12, 12, 3072, 32, 448, 1000),
    "vit_base_patch32_clip_quickgelu_224": _row("clip", 768, 12, 12, 3072, 32, 224, 512, mlp_activation='quick_gelu'),
    "vit_base_patch32_siglip_256": _row("siglip", 768, 12, 12, 3072, 32, 256, 0, mlp_activation='gelu_tanh', pooling='map'),
    "vit_base_patch32_siglip_gap_256": _row("siglip", 768, 12, 12, 3072, 32, 256, 0, mlp_activation='gelu_tanh', pooling='gap'),
    "vit_base_patch8_224": _row("vit", 768, 12, 12, 3072, 8, 224, 1000),
    "vit_betwixt_patch16_gap_256": _row("gap", 640, 12, 10, 2560, 16, 256, 1000, pooling='gap', layer_scale_init=1e-06, use_qkv_bias=False),
    "vit_betwixt_patch16_reg1_gap_256": _row("gap", 640, 12, 10, 2560, 16, 256, 1000, pooling='gap', num_register_tokens=1, layer_scale_init=1e-05, no_embed_class=True, fc_norm=True),
    "vit_betwixt_patch16_reg4_gap_256": _row("gap", 640, 12, 10, 2560, 16, 256, 1000, pooling='gap', num_register_tokens=4, layer_scale_init=1e-05, no_embed_class=True, fc_norm=True),
    "vit_betwixt_patch16_reg4_gap_384": _row("gap", 640, 12, 10, 2560, 16, 384, 1000, pooling='gap', num_register_tokens=4, layer_scale_init=1e-05, no_embed_class=True, fc_norm=True),
    "vit_betwixt_patch32_clip_224": _row("clip", 640, 12, 10, 2560, 32, 224, 512),
    "vit_giant_patch14_clip_224": _row("clip", 1408, 40, 16, 6144, 14, 224, 1024),
    "vit_giant_patch16_gap_224": _row("gap", 1408, 40, 16, 6144, 16, 224, 0, pooling='gap'),
    "vit_giantopt_patch16_siglip_256": _row("siglip", 1536, 40, 16, 6144, 16, 256, 0, mlp_activation='gelu_tanh', pooling='map'),
    "vit_giantopt_patch16_siglip_384": _row("siglip", 1536, 40, 16, 6144, 16, 384, 0, mlp_activation='gelu_tanh', pooling='map'),
    "vit_giantopt_patch16_siglip_gap_256": _row("siglip", 1536, 40, 16, 6144, 16, 256, 0, mlp_activation='gelu_tanh', pooling='gap'),
    "vit_giantopt_patch16_siglip_gap_384": _row("siglip", 1536, 40, 16, 6144, 16, 384, 0, mlp_activation='gelu_tanh', pooling='gap'),
    "vit_gigantic_patch14_clip_224": _row("clip", 1664, 48, 16, 8192, 14, 224, 1280),
    "vit_gigantic_patch14_clip_378": _row("clip", 1664, 48, 16, 8192, 14, 378, 1280),
    "vit_gigantic_patch14_clip_quickgelu_224": _row("clip", 1664, 48, 16, 8192, 14, 224, 1280, mlp_activation='quick_gelu'),
    "vit_huge_patch14_224": _row("vit", 1280, 32, 16, 5120, 14, 224, 0),
    "vit_huge_patch14_clip_224": _row("clip", 1280, 32, 16, 5120, 14, 224, 1000),
    "vit_huge_patch14_clip_336": _row("clip", 1280, 32, 16, 5120, 14, 336, 1000),
    "vit_huge_patch14_clip_378": _row("clip", 1280, 32, 16, 5120, 14, 378, 1024),
    "vit_huge_patch14_clip_quickgelu_224": _row("clip", 1280, 32, 16, 5120, 14, 224, 1024, mlp_activation='quick_gelu'),
    "vit_huge_patch14_clip_quickgelu_378": _row("clip", 1280, 32, 16, 5120, 14, 378, 1024, mlp_activation='quick_gelu'),
    "vit_huge_patch14_gap_224": _row("gap", 1280, 32, 16, 5120, 14, 224, 0, pooling='gap'),
    "vit_huge_patch16_gap_448": _row("gap", 1280, 32, 16, 5120, 16, 448, 0, pooling='gap'),
    "vit_large_patch14_224": _row("vit", 1024, 24, 16, 4096, 14, 224, 1000),
    "vit_large_patch14_clip_224": _row("clip", 1024, 24, 16, 4096, 14, 224, 1000),
    "vit_large_patch14_clip_336": _row("clip", 1024, 24, 16, 4096, 14, 336, 1000),
    "vit_large_patch14_clip_quickgelu_224": _row("clip", 1024, 24, 16, 4096, 14, 224, 768, mlp_activation='quick_gelu'),
    "vit_large_patch14_clip_quickgelu_336": _row("clip", 1024, 24, 16, 4096, 14, 336, 768, mlp_activation='quick_gelu'),
    "vit_large_patch14_dinov2": _row("dinov2", 1024, 24, 16, 4096, 14, 518, 0),
    "vit_large_patch14_reg4_dinov2": _row("dinov2", 1024, 24, 16, 4096, 14, 518, 0, num_register_tokens=4, no_embed_class=True),
    "vit_large_patch16_224": _row("vit", 1024, 24, 16, 4096, 16, 224, 1000),
    "vit_large_patch16_384": _row("vit", 1024, 24, 16, 4096, 16, 384, 1000),
    "vit_large_patch16_siglip_256": _row("siglip", 1024, 24, 16, 4096, 16, 256, 0, pooling='map'),
    "vit_large_patch16_siglip_384": _row("siglip", 1024, 24, 16, 4096, 16, 384, 0, pooling='map'),
    "vit_large_patch16_siglip_512": _row("siglip", 1024, 24, 16, 4096, 16, 512, 0, mlp_activation='gelu_tanh', pooling='map'),
    "vit_large_patch16_siglip_gap_256": _row("siglip", 1024, 24, 16, 4096, 16, 256, 0, pooling='gap'),
    "vit_large_patch16_siglip_gap_384": _row("siglip", 1024, 24, 16, 4096, 16, 384, 0, pooling='gap'),
    "vit_large_patch16_siglip_gap_512": _row("siglip", 1024, 24, 16, 4096, 16, 512, 0, mlp_activation='gelu_tanh', pooling='gap'),
    "vit_large_patch32_224": _row("vit", 1024, 24, 16, 4096, 32, 224, 0),
    "vit_large_patch32_384": _row("vit", 1024, 24, 16, 4096, 32, 384, 1000),
    "vit_little_patch16_reg1_gap_256": _row("gap", 320, 14, 5, 1792, 16, 256, 1000, pooling='gap', num_register_tokens=1, layer_scale_init=1e-05, no_embed_class=True, fc_norm=True),
    "vit_little_patch16_reg4_gap_256": _row("gap", 320, 14, 5, 1792, 16, 256, 1000, pooling='gap', num_register_tokens=4, layer_scale_init=1e-05, no_embed_class=True, fc_norm=True),
    "vit_medium_patch16_clip_224": _row("clip", 512, 12, 8, 2048, 16, 224, 512),
    "vit_medium_patch16_gap_240": _row("gap", 512, 12, 8, 2048, 16, 240, 11821, pooling='gap', layer_scale_init=1e-06, use_qkv_bias=False),
    "vit_medium_patch16_gap_256": _row("gap", 512, 12, 8, 2048, 16, 256, 1000, pooling='gap', layer_scale_init=1e-06, use_qkv_bias=False),
    "vit_medium_patch16_gap_384": _row("gap", 512, 12, 8, 2048, 16, 384, 1000, pooling='gap', layer_scale_init=1e-06, use_qkv_bias=False),
    "vit_medium_patch16_reg1_gap_256": _row("gap", 512, 12, 8, 2048, 16, 256, 1000, pooling='gap', num_register_tokens=1, layer_scale_init=1e-05, no_embed_class=True, fc_norm=True),
    "vit_medium_patch16_reg4_gap_256": _row("gap", 512, 12, 8, 2048, 16, 256, 1000, pooling='gap', num_register_tokens=4, layer_scale_init=1e-05, no_embed_class=True, fc_norm=True),
    "vit_medium_patch32_clip_224": _row("clip", 512, 12, 8, 2048, 32, 224, 512),
    "vit_mediumd_patch16_reg4_gap_256": _row("gap", 512, 20, 8, 2048, 16, 256, 1000, pooling='gap', num_register_tokens=4, layer_scale_init=1e-05, no_embed_class=True, fc_norm=True),
    "vit_mediumd_patch16_reg4_gap_384": _row("gap", 512, 20, 8, 2048, 16, 384, 1000, pooling='gap', num_register_tokens=4, layer_scale_init=1e-05, no_embed_class=True, fc_norm=True),
    "vit_small_patch14_dinov2": _row("dinov2", 384, 12, 6, 1536, 14, 518, 0),
    "vit_small_patch14_reg4_dinov2": _row("dinov2", 384, 12, 6, 1536, 14, 518, 0, num_register_tokens=4, no_embed_class=True),
    "vit_small_patch16_224": _row("vit", 384, 12, 6, 1536, 16, 224, 1000),
    "vit_small_patch16_384": _row("vit", 384, 12, 6, 1536, 16, 384, 1000),
    "vit_small_patch32_224": _row("vit", 384, 12, 6, 1536, 32, 224, 1000),
    "vit_small_patch32_384": _row("vit", 384, 12, 6, 1536, 32, 384, 1000),
    "vit_small_patch8_224": _row("vit", 384, 12, 6, 1536, 8, 224, 0),
    "vit_so400m_patch14_siglip_224": _row("siglip", 1152, 27, 16, 4304, 14, 224, 0, pooling='map'),
    "vit_so400m_patch14_siglip_378": _row("siglip", 1152, 27, 16, 4304, 14, 378, 0, pooling='map'),
    "vit_so400m_patch14_siglip_384": _row("siglip", 1152, 27, 16, 4304, 14, 384, 0, pooling='map'),
    "vit_so400m_patch14_siglip_gap_224": _row("siglip", 1152, 27, 16, 4304, 14, 224, 0, pooling='gap'),
    "vit_so400m_patch14_siglip_gap_378": _row("siglip", 1152, 27, 16, 4304, 14, 378, 0, pooling='gap'),
    "vit_so400m_patch14_siglip_gap_384": _row("siglip", 1152, 27, 16, 4304, 14, 384, 0, pooling='gap'),
    "vit_so400m_patch14_siglip_gap_448": _row("siglip", 1152, 27, 16, 4304, 14, 448, 0, pooling='gap'),
    "vit_so400m_patch14_siglip_gap_896": _row("siglip", 1152, 27, 16, 4304, 14, 896, 0, pooling='gap'),
    "vit_so400m_patch16_siglip_256": _row("siglip", 1152, 27, 16, 4304, 16, 256, 0, mlp_activation='gelu_tanh', pooling='map'),
    "vit_so400m_patch16_siglip_384": _row("siglip", 1152, 27, 16, 4304, 16, 384, 0, mlp_activation='gelu_tanh', pooling='map'),
    "vit_so400m_patch16_siglip_512": _row("siglip", 1152, 27, 16, 4304, 16, 512, 0, mlp_activation='gelu_tanh', pooling='map'),
    "vit_so400m_patch16_siglip_gap_256": _row("siglip", 1152, 27, 16, 4304, 16, 256, 0, mlp_activation='gelu_tanh', pooling='gap'),
    "vit_so400m_patch16_siglip_gap_384": _row("siglip", 1152, 27, 16, 4304, 16, 384, 0, mlp_activation='gelu_tanh', pooling='gap'),
    "vit_so400m_patch16_siglip_gap_512": _row("siglip", 1152, 27, 16, 4304, 16, 512, 0, mlp_activation='gelu_tanh', pooling='gap'),
    "vit_tiny_patch16_224": _row("vit", 192, 12, 3, 768, 16, 224, 1000),
    "vit_tiny_patch16_384": _row("vit", 192, 12, 3, 768, 16, 384, 1000),
    "vit_wee_patch16_reg1_gap_256": _row("gap", 256, 14, 4, 1280, 16, 256, 1000, pooling='gap', num_register_tokens=1, layer_scale_init=1e-05, no_embed_class=True, fc_norm=True),
    "vit_xsmall_patch16_clip_224": _row("clip", 256, 10, 4, 1024, 16, 224, 512),
}

_REASONS = {
    "eva": "an EVA-02 model (timm's Eva class: rotary position embedding, SwiGLU MLP)",
    "rope": "a RoPE ViT (timm's Eva class: rotary position embedding)",
    "rpn": "a res-post-norm ViT (normalisation after each branch, ResPostBlock)",
    "swiglu": "a SwiGLU-MLP ViT (DINOv2 giant)",
    "diff_attention": "a differential-attention ViT (DiffAttention)",
    "register_slots": "a ViT whose register tokens have position slots (timm so150m)",
    "parallel": "a ViT with parallel attention/MLP blocks (timm pwee)",
}
REFUSED = {
    "vit_dpwee_patch16_reg1_gap_256": "parallel",
    "vit_pwee_patch16_reg1_gap_256": "parallel",
    "eva02_base_patch14_224": "eva",
    "eva02_base_patch14_448": "eva",
    "eva02_base_patch16_clip_224": "eva",
    "eva02_enormous_patch14_clip_224": "eva",
    "eva02_large_patch14_224": "eva",
    "eva02_large_patch14_448": "eva",
    "eva02_large_patch14_clip_224": "eva",
    "eva02_large_patch14_clip_336": "eva",
    "eva02_small_patch14_224": "eva",
    "eva02_small_patch14_336": "eva",
    "eva02_tiny_patch14_224": "eva",
    "eva02_tiny_patch14_336": "eva",
    "vit_base_patch16_rope_224": "rope",
    "vit_base_patch16_rope_ape_224": "rope",
    "vit_base_patch16_rope_mixed_224": "rope",
    "vit_base_patch16_rope_mixed_ape_224": "rope",
    "vit_base_patch16_rope_reg1_gap_256": "rope",
    "vit_base_patch16_rpn_224": "rpn",
    "vit_betwixt_patch16_rope_reg4_gap_256": "rope",
    "vit_dlittle_patch16_reg1_gap_256": "diff_attention",
    "vit_dwee_patch16_reg1_gap_256": "diff_attention",
    "vit_giant_patch14_dinov2": "swiglu",
    "vit_giant_patch14_reg4_dinov2": "swiglu",
    "vit_large_patch16_rope_224": "rope",
    "vit_large_patch16_rope_ape_224": "rope",
    "vit_large_patch16_rope_mixed_224": "rope",
    "vit_large_patch16_rope_mixed_ape_224": "rope",
    "vit_medium_patch16_rope_reg1_gap_256": "rope",
    "vit_mediumd_patch16_rope_reg1_gap_256": "rope",
    "vit_relpos_base_patch16_rpn_224": "rpn",
    "vit_relpos_base_patch32_plus_rpn_256": "rpn",
    "vit_relpos_medium_patch16_rpn_224": "rpn",
    "vit_relpos_small_patch16_rpn_224": "rpn",
    "vit_small_patch16_rope_224": "rope",
    "vit_small_patch16_rope_ape_224": "rope",
    "vit_small_patch16_rope_mixed_224": "rope",
    "vit_small_patch16_rope_mixed_ape_224": "rope",
    "vit_so150m2_patch16_reg1_gap_256": "register_slots",
    "vit_so150m2_patch16_reg1_gap_384": "register_slots",
    "vit_so150m2_patch16_reg1_gap_448": "register_slots",
    "vit_so150m_patch16_reg4_gap_256": "register_slots",
    "vit_so150m_patch16_reg4_gap_384": "register_slots",
}
# Name parts of timm families keras_vit does not build, for names not listed.
_REFUSED_PARTS = (("eva02", "eva"), ("_rope", "rope"), ("_rpn", "rpn"), ("relpos", "rpn"),
                  ("giant_patch14_dinov2", "swiglu"), ("giant_patch14_reg4_dinov2", "swiglu"),
                  ("_so150m", "register_slots"))


def list_architectures(family=None):
    """timm architecture names `keras_vit.vit` builds.

    Args:
        family: str or None. One of `FAMILIES` (`"vit"`, `"deit"`,
            `"deit_distilled"`, `"deit3"`, `"dinov2"`, `"clip"`,
            `"siglip"`, `"gap"`); None lists every family.

    Returns:
        list of str, sorted.
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(f"`family` must be None or one of {sorted(FAMILIES)}. Received: family={family!r}")
    return sorted(n for n, row in ARCHITECTURES.items() if family in (None, row["family"]))


def is_timm_name(name):
    """Whether `name` is a timm architecture name keras_vit knows (built or
    refused)."""
    return name in ARCHITECTURES or refusal_reason(name) is not None


def refusal_reason(name):
    """Why keras_vit does not build the timm architecture `name`, or None."""
    if name in REFUSED:
        return _REASONS[REFUSED[name]]
    for part, reason in _REFUSED_PARTS:
        if part in name:
            return _REASONS[reason]
    return None


def architecture_config(name):
    """`VisionTransformer` arguments of timm's architecture `name`.

    Args:
        name: str. A timm architecture name (see `list_architectures`), with
            or without a pretrained tag (`"vit_base_patch16_clip_224.openai"`
            is `"vit_base_patch16_clip_224"`).

    Returns:
        dict: `patch_size`, `hidden_dim`, `num_layers`, `num_heads`,
        `mlp_dim`, `input_shape` (timm's default resolution, rounded down
        to whole patches as timm's patch embedding does), `classes` and
        `include_top` (timm's default head: `include_top=False` when it has
        none), and the architecture options.

    Raises:
        ValueError: for a name keras_vit does not build, saying why (EVA-02,
            RoPE, res-post-norm, SwiGLU) or listing close names.
    """
    if not isinstance(name, str):
        raise TypeError(f"The architecture name must be a string. Received: {name!r}")
    base = name.split(".")[0]
    if base not in ARCHITECTURES:
        reason = refusal_reason(base)
        if reason is not None:
            raise ValueError(
                f"timm's {base!r} is {reason}, which keras_vit does not build; loading its "
                "weights into a plain ViT would compute something else.")
        import difflib

        close = difflib.get_close_matches(base, list(ARCHITECTURES), n=4, cutoff=0.75)
        raise ValueError(
            f"Unknown architecture {name!r}. "
            + (f"Close timm names: {', '.join(close)}. " if close else "")
            + "See keras_vit.models.list_architectures(); keras_vit's short names such as "
            "'B/16' or 'vit_base_patch16' work too.")
    row = ARCHITECTURES[base]
    # timm's patch embedding ignores the pixels past the last whole patch
    # (384 px at patch 14 is a 27 x 27 grid, 378 px); keras_vit's model
    # takes exactly the pixels it uses.
    size = row["image_size"] // row["patch_size"] * row["patch_size"]
    config = dict(
        patch_size=row["patch_size"], hidden_dim=row["hidden_dim"], num_layers=row["num_layers"],
        num_heads=row["num_heads"], mlp_dim=row["mlp_dim"], input_shape=(size, size, 3),
        **row["options"],
    )
    if row["classes"]:
        config["classes"] = row["classes"]
    else:
        config["include_top"] = False
    return config
