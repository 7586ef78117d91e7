import json
import pathlib

import pytest

from keras_vit import vit
from keras_vit.models import count_parameters
from keras_vit.models.timm_architectures import (
    ARCHITECTURES,
    FAMILIES,
    REFUSED,
    architecture_config,
    list_architectures,
    refusal_reason,
)

pytestmark = pytest.mark.backend_independent

# What timm 1.0.31 itself says about each architecture (written by
# tests/fixtures/make_families.py from `timm.create_model(name)`).
RECORDS = json.loads(
    (pathlib.Path(__file__).parents[1] / "fixtures" / "families" / "timm_architectures.json").read_text()
)["architectures"]
BUILT_FAMILIES = {"plain", "deit", "deit3", "dinov2", "clip", "siglip", "gap", "reg_gap"}


def test_every_timm_name_of_the_families_is_built_or_refused():
    for name, record in RECORDS.items():
        if set(record["families"]) & BUILT_FAMILIES or name.startswith(("eva02", "vit_relpos")):
            assert name in ARCHITECTURES or refusal_reason(name) is not None, name


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_parameter_count_equals_timms_at_default_headless_and_other_resolution(name):
    record = RECORDS[name]
    config = architecture_config(name)
    assert count_parameters(**config) == record["params"]
    headless = {k: v for k, v in config.items() if k != "classes"}
    assert count_parameters(**{**headless, "include_top": False}) == record["params_num_classes_0"]
    size = record["other_size"]
    assert count_parameters(**{**config, "input_shape": (size, size, 3)}) == record["params_other_size"]


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_sizes_and_options_are_timms(name):
    record, config = RECORDS[name], architecture_config(name)
    assert (config["hidden_dim"], config["num_layers"], config["num_heads"], config["mlp_dim"]) == (
        record["embed_dim"], record["depth"], record["num_heads"], record["mlp_hidden"])
    assert config["patch_size"] == record["patch_size"][0]
    assert config.get("class_token", True) == record["class_token"]
    assert config.get("distillation", False) == record["dist_token"]
    assert config.get("num_register_tokens", 0) == record["num_reg_tokens"]
    assert (config.get("layer_scale_init") is not None) == record["layer_scale"]
    assert config.get("pre_norm", False) == record["norm_pre"]
    assert config.get("fc_norm", False) == record["fc_norm"]
    assert config.get("use_qkv_bias", True) == record["qkv_bias"]
    assert config.get("patch_bias", True) == record["patch_embed_bias"]
    assert config.get("layer_norm_epsilon", 1e-6) == record["norm_eps"]
    pooling = {"token": "token", "avg": "gap", "map": "map"}[record["global_pool"]]
    assert config.get("pooling", "token") == pooling
    activation = {"GELU(approximate=none)": "gelu", "QuickGELU": "quick_gelu", "GELUTanh": "gelu_tanh"}
    assert config.get("mlp_activation", "gelu") == activation[record["act_layer"]]
    if record["class_token"] and not record["dist_token"]:
        assert config.get("no_embed_class", False) == record["no_embed_class"]


@pytest.mark.parametrize("name", ["eva02_base_patch14_224", "vit_base_patch16_rope_224",
                                  "vit_base_patch16_rpn_224", "vit_giant_patch14_dinov2",
                                  "vit_relpos_base_patch16_rpn_224", "eva02_future_patch14_999"])
def test_families_not_built_are_refused_by_name(name):
    with pytest.raises(ValueError, match="does not build"):
        vit(name)


def test_unknown_names_suggest_close_ones():
    with pytest.raises(ValueError, match="vit_base_patch16_siglip_224"):
        vit("vit_base_patch16_siglip_225")


def test_tags_are_ignored_and_overrides_apply():
    model = vit("vit_small_patch14_reg4_dinov2.lvd142m", input_shape=(28, 28, 3), num_layers=1,
                classes=3)
    assert model.name == "vit_small_patch14_reg4_dinov2" and model.include_top
    assert model.num_register_tokens == 4 and model.num_layers == 1 and model.output_shape == (None, 3)


def test_list_architectures_filters_by_family():
    assert set(list_architectures()) == set(ARCHITECTURES)
    assert "vit_base_patch16_siglip_224" in list_architectures("siglip")
    assert all(ARCHITECTURES[n]["family"] == "dinov2" for n in list_architectures("dinov2"))
    assert set(FAMILIES) >= {row["family"] for row in ARCHITECTURES.values()}
    with pytest.raises(ValueError, match="family"):
        list_architectures("eva")
    assert not set(REFUSED) & set(ARCHITECTURES)
