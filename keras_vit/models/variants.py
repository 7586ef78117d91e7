"""The one table of Vision Transformer variants.

Sizes from Dosovitskiy et al. 2021 (Table 1: Base, Large, Huge) and Touvron
et al. 2021 (DeiT: Tiny, Small). Parameter counts with a 1000-class head at
224 px, as published and as timm / keras-hub give them, are kept beside each
row; `tests/models/test_variants.py` builds every variant and checks them.
"""

from keras_vit._validation import check_optional, check_positive_int

VARIANTS = {
    "tiny": dict(hidden_dim=192, num_layers=12, num_heads=3, mlp_dim=768),
    "small": dict(hidden_dim=384, num_layers=12, num_heads=6, mlp_dim=1536),
    "base": dict(hidden_dim=768, num_layers=12, num_heads=12, mlp_dim=3072),
    "large": dict(hidden_dim=1024, num_layers=24, num_heads=16, mlp_dim=4096),
    "huge": dict(hidden_dim=1280, num_layers=32, num_heads=16, mlp_dim=5120),
}

# Patch sizes with published configurations, the first being the default
# (14: DINOv2, CLIP-L/H; 8: DINO, AugReg B/8).
PATCH_SIZES = {
    "tiny": (16, 32, 8),
    "small": (16, 32, 8, 14),
    "base": (16, 8, 32, 14),
    "large": (16, 32, 14, 8),
    "huge": (14, 16),
}

# big_vision's short names ("B/16") and the model names ("vit_base_patch16").
SHORT_NAMES = {"Ti": "tiny", "S": "small", "B": "base", "L": "large", "H": "huge"}

# Published parameter counts (224 px, 1000 classes, class token, no
# representation layer), keyed by (variant, patch_size).
PUBLISHED_PARAMETER_COUNTS = {
    ("tiny", 16): 5_717_416,
    ("small", 16): 22_050_664,
    ("small", 32): 22_878_952,
    ("base", 8): 86_576_872,
    ("base", 16): 86_567_656,
    ("base", 32): 88_224_232,
    ("large", 16): 304_326_632,
    ("large", 32): 306_535_400,
    ("huge", 14): 632_045_800,
}


def _parse(variant):
    if not isinstance(variant, str):
        raise TypeError(f"`variant` must be a string. Received: variant={variant!r}")
    name, _, patch = variant.partition("/")
    name = SHORT_NAMES.get(name, name.lower())
    if name.startswith("vit_") and "_patch" in name:
        name, _, patch = name[len("vit_"):].partition("_patch")
    if name not in VARIANTS:
        raise ValueError(
            f"Unknown `variant`: {variant!r}. Accepted: one of {sorted(VARIANTS)}, "
            "a short name such as 'Ti/16', 'S/32', 'B/16', 'L/16', 'H/14', or a "
            "model name such as 'vit_base_patch16'."
        )
    if patch and not patch.isdigit():
        raise ValueError(f"Unknown `variant`: {variant!r}; the patch size must be an integer.")
    return name, int(patch) if patch else None


def get_variant_config(variant, patch_size=None):
    """Returns the architecture hyperparameters of a named ViT variant.

    Args:
        variant: str. `"tiny"`, `"small"`, `"base"`, `"large"` or `"huge"`;
            big_vision's short form with a patch size, e.g. `"B/16"` or
            `"Ti/16"`; or a model name such as `"vit_large_patch32"`.
        patch_size: int or None. Patch size, if `variant` does not name one;
            None picks the variant's default (16, or 14 for huge).

    Returns:
        dict with `patch_size`, `hidden_dim`, `num_layers`, `num_heads` and
        `mlp_dim`, ready to spread into `VisionTransformer(...)`.

    Example:
    >>> get_variant_config("B/32")["hidden_dim"]
    768
    """
    name, named_patch = _parse(variant)
    patch_size = check_optional(check_positive_int, "patch_size", patch_size)
    if named_patch is not None and patch_size is not None and named_patch != patch_size:
        raise ValueError(
            f"`variant`={variant!r} names patch size {named_patch}, but "
            f"patch_size={patch_size!r} was passed as well."
        )
    patch = named_patch if named_patch is not None else patch_size
    if patch is None:
        patch = PATCH_SIZES[name][0]
    if patch not in PATCH_SIZES[name]:
        raise ValueError(
            f"`patch_size` must be one of {sorted(PATCH_SIZES[name])} for the "
            f"{name} variant. Received: patch_size={patch!r}"
        )
    return dict(patch_size=patch, **VARIANTS[name])
