import numpy as np
import pytest

from keras_vit.checkpoints import export_weights, load_weights, read_safetensors, timm
from tests.checkpoints import _fixtures


@pytest.mark.parametrize("case", ["plain", "registers", "no_class_slot"])
def test_timm_safetensors_match_timm_logits(case):
    model = _fixtures.model_for(case)
    report = load_weights(model, _fixtures.path(f"{case}.safetensors"), verbose=False)
    assert report.format == "timm" and report.unused == [] and report.skipped == []
    assert len(report.assigned) == len(model.weights)
    assert _fixtures.max_difference(model, case) < _fixtures.TOLERANCE


def test_registers_position_slots_are_folded_into_the_tokens():
    tensors, _ = read_safetensors(_fixtures.path("registers.safetensors"))
    model = _fixtures.model_for("registers")
    load_weights(model, _fixtures.path("registers.safetensors"), verbose=False)
    registers = np.asarray(model.get_layer("register_tokens").register_tokens)
    expected = tensors["reg_token"] + tensors["pos_embed"][:, 1:3]
    np.testing.assert_allclose(registers, expected, rtol=0, atol=1e-7)


def test_resolution_change_matches_timm_resampling():
    # The 16 px checkpoint at 24 px: timm resamples with antialiased bicubic
    # (PyTorch's kernel, a = -0.5); keras_vit with its own NumPy bicubic.
    model = _fixtures.model_for("plain_resized")
    report = load_weights(model, _fixtures.path("plain.safetensors"), verbose=False)
    assert report.resampled == ((4, 4), (6, 6))
    assert _fixtures.max_difference(model, "plain_resized") < _fixtures.TOLERANCE


def test_export_reproduces_timm_state_dict_exactly(tmp_path):
    for case in ("plain", "registers"):
        model = _fixtures.model_for(case)
        load_weights(model, _fixtures.path(f"{case}.safetensors"), verbose=False)
        export_weights(model, tmp_path / f"{case}.safetensors", format="timm")
        original, _ = read_safetensors(_fixtures.path(f"{case}.safetensors"))
        exported, metadata = read_safetensors(tmp_path / f"{case}.safetensors")
        assert metadata == {"format": "pt"}
        assert sorted(exported) == sorted(original)
        for key in original:
            if case == "registers" and key in ("pos_embed", "reg_token"):
                continue  # register slots are folded into the tokens (below)
            np.testing.assert_array_equal(exported[key], original[key], err_msg=f"{case}: {key}")
    # Folded form: same sums token + slot, so timm computes the same thing.
    np.testing.assert_allclose(
        exported["reg_token"] + exported["pos_embed"][:, 1:3],
        original["reg_token"] + original["pos_embed"][:, 1:3], atol=1e-7,
    )


@pytest.mark.backend_independent
def test_timm_features_keras_vit_lacks_raise():
    tensors, _ = read_safetensors(_fixtures.path("plain.safetensors"))
    with pytest.raises(ValueError, match="qk_norm"):
        timm.to_keras({**tensors, "blocks.0.attn.q_norm.weight": np.ones(8, "float32")}, num_heads=2)


@pytest.mark.parametrize(
    "extra, match",
    [({"fc_norm.weight": np.ones(16, "float32"), "fc_norm.bias": np.zeros(16, "float32")},
      r"LayerNorm after pooling \(fc_norm\): build with fc_norm=True"),
     ({"dist_token": np.ones((1, 1, 16), "float32")}, r"distillation token.*distillation=True"),
     ({"norm_pre.weight": np.ones(16, "float32"), "norm_pre.bias": np.zeros(16, "float32")},
      r"before the blocks \(CLIP\): build with pre_norm=True")],
)
@pytest.mark.backend_independent
def test_a_model_without_the_files_option_is_refused_naming_it(extra, match, tmp_path):
    from keras_vit.checkpoints import write_safetensors

    tensors, _ = read_safetensors(_fixtures.path("plain.safetensors"))
    if "dist_token" in extra:  # the position table has the token's slot
        tensors["pos_embed"] = np.concatenate([tensors["pos_embed"][:, :1], tensors["pos_embed"]], 1)
    path = tmp_path / "extra.safetensors"
    write_safetensors(path, {**tensors, **extra})
    with pytest.raises(ValueError, match=match):
        load_weights(_fixtures.model_for("plain"), path, verbose=False)


@pytest.mark.backend_independent
def test_heads_that_do_not_divide_the_width_raise():
    tensors, _ = read_safetensors(_fixtures.path("plain.safetensors"))
    with pytest.raises(ValueError, match="num_heads"):
        timm.to_keras(tensors, num_heads=3)


# ---------------------------------------------------------------------------
# ViT families (fixtures from tests/fixtures/make_families.py)
# ---------------------------------------------------------------------------

from keras_vit import VisionTransformer  # noqa: E402
from keras_vit.checkpoints import read_checkpoint  # noqa: E402
from tests.checkpoints import _families  # noqa: E402


@pytest.mark.parametrize("case", sorted(_families.TIMM_CASES))
def test_every_family_built_by_its_timm_name_reproduces_timm(case):
    # The model is built by timm's architecture name (the name decides
    # LayerScale, registers, pre_norm, quick_gelu, MAP head, ...), at the
    # fixture's tiny sizes, and loads the timm file: timm's logits to 1e-5.
    model = _families.by_name(case, weights=_families.path(case))
    assert model.load_report.unused == [] and model.load_report.skipped == []
    assert _families.max_difference(model, case) < _families.TOLERANCE


@pytest.mark.parametrize("case", ["deit3", "dinov2_reg4", "deit_distilled", "siglip_map",
                                  "betwixt_reg4_gap", "medium_gap", "clip_laion"])
def test_a_builder_given_only_sizes_takes_the_options_from_the_file(case, capsys):
    overrides = {"layer_norm_epsilon": 1e-5} if case.startswith("clip") else {}
    model = VisionTransformer(**_families.sizes(case), classifier_activation=None,
                              weights=_families.path(case), **overrides)
    assert "in the file" in capsys.readouterr().out  # it says what it took
    assert _families.max_difference(model, case) < _families.TOLERANCE


def test_a_deit3_file_given_to_a_plain_builder_gets_its_layer_scale():
    # Silent wrong load 1 (main: LayerScale listed as unused, logits off by ~1).
    model = VisionTransformer(**_families.sizes("deit3"), classifier_activation=None,
                              weights=_families.path("deit3"))
    assert model.layer_scale_init is not None and model.no_embed_class
    assert _families.max_difference(model, "deit3") < _families.TOLERANCE


@pytest.mark.backend_independent
def test_load_weights_refuses_layer_scale_the_model_lacks_naming_the_option():
    model = VisionTransformer(**_families.sizes("deit3"), no_embed_class=True)
    before = [np.asarray(w).copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"LayerScale.*layer_scale_init="):
        load_weights(model, _families.path("deit3"), verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_registers_are_never_dropped():
    # Silent wrong load 2 (main: registers dropped, logits off by 0.08).
    plain = VisionTransformer(**_families.sizes("dinov2_reg4"), layer_scale_init=1e-5,
                              no_embed_class=True)
    with pytest.raises(ValueError, match="num_register_tokens"):
        load_weights(plain, _families.path("dinov2_reg4"), verbose=False)
    inferred = VisionTransformer(**_families.sizes("dinov2_reg4"), classifier_activation=None,
                                 weights=_families.path("dinov2_reg4"))
    assert inferred.num_register_tokens == 4
    assert _families.max_difference(inferred, "dinov2_reg4") < _families.TOLERANCE


@pytest.mark.parametrize("case", ["dinov2_reg4", "dinov2_reg8", "dinov2_reg16"])
def test_register_position_tables_are_split_with_the_models_own_grid(case):
    # Silent wrong load 3: R=4 on 3x3 (9 slots: also 5 + a 2x2 grid), R=8 on
    # 5x5 (25 = 9 + 4x4), R=16 on 9x9 (81 = 17 + 8x8). Main split off the
    # prefix first and "resampled" the wrong grid (logits off by 1.4).
    registers = _families.config(case)["kwargs"]["reg_tokens"]
    for no_embed_class in (False, True):  # a zero class slot is the same function
        model = VisionTransformer(**_families.sizes(case), classifier_activation=None,
                                  num_register_tokens=registers, layer_scale_init=1e-5,
                                  no_embed_class=no_embed_class)
        report = load_weights(model, _families.path(case), verbose=False)
        assert report.resampled is None
        assert _families.max_difference(model, case) < _families.TOLERANCE


@pytest.mark.backend_independent
@pytest.mark.parametrize("case", ["eva_rope", "eva_rope_axial"])
def test_eva_and_rope_files_are_refused_by_name(case):
    # Silent wrong load 4 (main: gammas unused and RoPE ignored, off by 1.3;
    # or a misleading "missing layer_scale weights" crash).
    with pytest.raises(ValueError, match=r"Eva|RoPE|rotary") as caught:
        read_checkpoint(_families.path(case))
    assert "missing" not in str(caught.value) and "layer_scale" not in str(caught.value)
    for options in ({}, {"layer_scale_init": 1e-5}):
        model = VisionTransformer(**_families.sizes(case), **options)
        with pytest.raises(ValueError, match=r"Eva|RoPE|rotary"):
            load_weights(model, _families.path(case), verbose=False)
        with pytest.raises(ValueError, match=r"Eva|RoPE|rotary"):
            VisionTransformer(**_families.sizes(case), weights=_families.path(case), **options)


@pytest.mark.backend_independent
def test_a_swiglu_file_is_refused_by_name():
    with pytest.raises(ValueError, match="SwiGLU"):
        read_checkpoint(_families.path("dinov2_swiglu"))


@pytest.mark.parametrize("case", sorted(_families.TIMM_CASES))
def test_every_family_exports_back_to_timms_state_dict(case, tmp_path):
    # The exported file holds timm's keys with timm's shapes and the same
    # values, so timm's model of that architecture reloads it with identical
    # logits.
    model = _families.by_name(case, weights=_families.path(case))
    export_weights(model, tmp_path / "out.safetensors", format="timm")
    original, _ = read_safetensors(_families.path(case))
    exported, _ = read_safetensors(tmp_path / "out.safetensors")
    assert sorted(exported) == sorted(original)
    for key in original:
        assert exported[key].shape == original[key].shape, key
        np.testing.assert_allclose(exported[key], original[key], rtol=0, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("case", ["deit_distilled", "siglip_map", "betwixt_reg4_gap", "clip_openai"])
def test_headless_families_give_timms_pooled_features(case):
    # include_top=False: the file's head is left unused and the output is
    # timm's `forward_head(..., pre_logits=True)` (MAP head, fc_norm, the
    # mean of a distilled model's two tokens).
    model = _families.by_name(case, include_top=False)
    report = load_weights(model, _families.path(case), verbose=False)
    assert report.skipped == [] and any("head" in key for key in report.unused)
    assert _families.max_difference(model, case, "features") < _families.TOLERANCE
