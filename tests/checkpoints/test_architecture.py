import pytest

from keras_vit import VisionTransformer
from keras_vit.checkpoints import architecture
from tests.checkpoints import _families

pytestmark = pytest.mark.backend_independent
TIMM = [(), ("class", "distillation"), ("class", "distillation", "registers")]


@pytest.mark.parametrize("registers, side", [(4, 3), (8, 5), (16, 9)])
def test_the_models_grid_decides_a_table_that_splits_two_ways(registers, side):
    # side**2 slots are also 1 + registers slots and a smaller square grid.
    counts = {"class": 1, "registers": registers}
    kinds, grid = architecture.choose_position_slots(side * side, TIMM, counts, (side, side))
    assert kinds == () and grid == (side, side)
    smaller = int((side * side - 1 - registers) ** 0.5)
    kinds, grid = architecture.choose_position_slots(side * side, TIMM, counts, (smaller, smaller))
    assert kinds == ("class", "registers") and grid == (smaller, smaller)


def test_an_ambiguous_table_at_another_resolution_is_refused():
    with pytest.raises(ValueError, match="splits more than one way"):
        architecture.choose_position_slots(9, TIMM, {"class": 1, "registers": 4}, (5, 5))


def test_an_unambiguous_table_at_another_resolution_is_resampled_from_its_grid():
    kinds, grid = architecture.choose_position_slots(197, TIMM, {"class": 1}, (24, 24))
    assert kinds == ("class",) and grid == (14, 14)
    with pytest.raises(ValueError, match="cannot split"):
        architecture.choose_position_slots(198, TIMM, {"class": 1}, (24, 24))


def test_an_explicit_option_the_file_contradicts_is_an_error_naming_both():
    sizes = _families.sizes("dinov2_reg4")
    with pytest.raises(ValueError, match=r"`num_register_tokens`=2 contradicts .*num_register_tokens=4"):
        VisionTransformer(**sizes, num_register_tokens=2, weights=_families.path("dinov2_reg4"))
    with pytest.raises(ValueError, match=r"`pooling`='gap' contradicts .*attention-pooling"):
        VisionTransformer(**_families.sizes("siglip_map"), pooling="gap",
                          weights=_families.path("siglip_map"))
    with pytest.raises(ValueError, match=r"`distillation`=True contradicts"):
        VisionTransformer(**_families.sizes("deit3"), distillation=True,
                          weights=_families.path("deit3"))


def test_a_file_of_another_size_is_refused_before_building():
    sizes = {**_families.sizes("deit3"), "hidden_dim": 32}
    with pytest.raises(ValueError, match=r"different size of ViT: it has hidden_dim 16 \(the model: 32\)"):
        VisionTransformer(**sizes, weights=_families.path("deit3"))
    deeper = {**_families.sizes("deit3"), "num_layers": 1}
    with pytest.raises(ValueError, match="num_layers 2"):
        VisionTransformer(**deeper, weights=_families.path("deit3"))


def test_option_hints_name_the_argument():
    assert "layer_scale_init=" in architecture.option_hint("transformer_block_0/layer_scale_1/layer_scale", False)
    assert "num_register_tokens" in architecture.option_hint("register_tokens/register_tokens", False)
    assert "distillation=True" in architecture.option_hint("head_dist/kernel", False)
    assert "pooling='map'" in architecture.option_hint("attention_pool/latent", False)
    assert "fc_norm=True" in architecture.option_hint("fc_norm/gamma", False)
    assert "num_layers" in architecture.option_hint("transformer_block_7/mlp/dense_1/kernel", False)
