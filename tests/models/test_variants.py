import gc

import keras
import pytest

from keras_vit.models.variants import PATCH_SIZES, PUBLISHED_PARAMETER_COUNTS, VARIANTS, get_variant_config


@pytest.mark.parametrize(
    "variant, patch_size, expected",
    [
        ("B/16", None, (16, 768, 12, 12, 3072)),
        ("Ti/16", None, (16, 192, 12, 3, 768)),
        ("S/32", None, (32, 384, 12, 6, 1536)),
        ("L/32", None, (32, 1024, 24, 16, 4096)),
        ("H/14", None, (14, 1280, 32, 16, 5120)),
        ("base", 8, (8, 768, 12, 12, 3072)),
        ("huge", None, (14, 1280, 32, 16, 5120)),
        ("vit_large_patch16", None, (16, 1024, 24, 16, 4096)),
    ],
)
def test_variant_lookup(variant, patch_size, expected):
    config = get_variant_config(variant, patch_size)
    assert tuple(config[k] for k in ("patch_size", "hidden_dim", "num_layers", "num_heads", "mlp_dim")) == expected


@pytest.mark.parametrize(
    "variant, patch_size, match",
    [
        ("giant", None, "Unknown `variant`: 'giant'"),
        ("B/x", None, "Unknown `variant`"),
        ("L/12", None, r"patch_size=12"),
        ("huge", 32, r"patch_size=32"),
        ("B/16", 32, "names patch size 16"),
    ],
)
def test_bad_variant_raises(variant, patch_size, match):
    with pytest.raises(ValueError, match=match):
        get_variant_config(variant, patch_size)


def test_non_string_variant_raises():
    with pytest.raises(TypeError, match="variant"):
        get_variant_config(16)


def test_table_covers_published_counts():
    assert set(VARIANTS) == set(PATCH_SIZES)
    for variant, patch in PUBLISHED_PARAMETER_COUNTS:
        assert patch in PATCH_SIZES[variant]


def _count_case(variant, patch_size):
    # The layers are the same on every backend; ViT-L and ViT-H take 10-45 s
    # to build, so they are built once, in the TensorFlow process.
    marks = [pytest.mark.backend_independent] if variant in ("large", "huge") else []
    return pytest.param(variant, patch_size, marks=marks)


@pytest.mark.slow
@pytest.mark.parametrize(
    "variant, patch_size", [_count_case(*key) for key in sorted(PUBLISHED_PARAMETER_COUNTS)]
)
def test_parameter_counts_equal_the_published_ones(variant, patch_size):
    from keras_vit import vit

    model = vit(variant, patch_size=patch_size)
    assert model.count_params() == PUBLISHED_PARAMETER_COUNTS[(variant, patch_size)]
    del model
    keras.backend.clear_session()
    gc.collect()


@pytest.mark.backend_independent
def test_small_base_large_take_the_patch_sizes_of_dinov2_clip_dino_and_augreg():
    # 14: DINOv2 and CLIP-L/14; 8: DINO and AugReg B/8; 16 and 32: ViT/DeiT/CLIP.
    for variant in ("small", "base", "large"):
        for patch in (14, 8, 16, 32):
            assert get_variant_config(variant, patch_size=patch)["patch_size"] == patch
