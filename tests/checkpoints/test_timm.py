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


@pytest.mark.parametrize(
    "extra, match",
    [({"fc_norm.weight": np.ones(16, "float32")}, "after pooling"),
     ({"blocks.0.attn.q_norm.weight": np.ones(8, "float32")}, "qk_norm"),
     ({"dist_token": np.ones((1, 1, 16), "float32")}, "distillation")],
)
@pytest.mark.backend_independent
def test_timm_features_keras_vit_lacks_raise(extra, match):
    tensors, _ = read_safetensors(_fixtures.path("plain.safetensors"))
    with pytest.raises(ValueError, match=match):
        timm.to_keras({**tensors, **extra}, num_heads=2)


@pytest.mark.backend_independent
def test_heads_that_do_not_divide_the_width_raise():
    tensors, _ = read_safetensors(_fixtures.path("plain.safetensors"))
    with pytest.raises(ValueError, match="num_heads"):
        timm.to_keras(tensors, num_heads=3)
