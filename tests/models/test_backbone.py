import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.models.backbone import ViTBackbone, default_block_indices, vit_backbone
from tests.test_case import random_inputs, to_numpy

TINY = dict(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32,
            input_shape=(16, 16, 3))


def _outputs(model, x):
    return [to_numpy(out) for out in model(x, training=False)]


def test_default_block_indices():
    assert default_block_indices(12) == [2, 5, 8, 11]
    assert default_block_indices(24) == [5, 11, 17, 23]
    assert default_block_indices(32) == [7, 15, 23, 31]
    assert default_block_indices(3) == [0, 1, 2]
    assert default_block_indices(12, num_outputs=1) == [11]


def test_shapes_and_pyramid():
    vit = VisionTransformer(**TINY, include_top=False, pooling=None, num_register_tokens=1)
    tokens = vit_backbone(vit, output="tokens")
    assert tokens.block_indices == [0, 1]
    assert [tuple(s) for s in tokens.output_shape] == [(None, 2 + 16, 16)] * 2
    maps = vit_backbone(vit, block_indices=[-1, -1, -1, -1], scales=[4, 2, 1, 0.5])
    assert maps.block_indices == [1, 1, 1, 1]
    assert [tuple(s) for s in maps.output_shape] == [
        (None, 16, 16, 16), (None, 8, 8, 16), (None, 4, 4, 16), (None, 2, 2, 16)]
    x = random_inputs((2, 16, 16, 3))
    token_out, pyramid = _outputs(tokens, x), _outputs(maps, x)
    # The stride-16 level is the last block's patch tokens laid out on the grid,
    # registers and class token dropped.
    np.testing.assert_allclose(pyramid[2], token_out[1][:, 2:].reshape(2, 4, 4, 16), atol=1e-6)
    np.testing.assert_allclose(pyramid[3], pyramid[2].reshape(2, 2, 2, 2, 2, 16).mean(axis=(2, 4)),
                               atol=1e-5)


def test_shares_the_classifiers_weights():
    vit = VisionTransformer(**TINY, classes=5, classifier_activation=None)
    backbone = vit_backbone(vit, block_indices=[0, -1], output="tokens", apply_norm=True)
    for name in ("patch_embedding", "transformer_block_0", "encoder_norm"):
        assert backbone.get_layer(name) is vit.get_layer(name)
    x = random_inputs((2, 16, 16, 3))
    first, last = _outputs(backbone, x)
    # The class token of the normalised last block, through the head, is the
    # classifier's output.
    logits = to_numpy(vit.get_layer("head")(last[:, 0]))
    np.testing.assert_allclose(logits, to_numpy(vit(x, training=False)), atol=1e-5)
    probe = keras.Model(vit.input, vit.get_layer("encoder_norm")(vit.get_layer("transformer_block_0").output))
    np.testing.assert_allclose(first, to_numpy(probe(x, training=False)), atol=1e-6)
    # Changing the classifier's weights changes the backbone's outputs.
    kernel = vit.get_layer("patch_embedding").weights[0]
    kernel.assign(kernel * 2.0)
    assert not np.allclose(_outputs(backbone, x)[1], last)


def test_keras_round_trip(tmp_path):
    vit = VisionTransformer(**TINY, include_top=False, num_register_tokens=1)
    backbone = vit_backbone(vit, scales=[2, 0.5], apply_norm=True, name="features")
    path = tmp_path / "backbone.keras"
    backbone.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ViTBackbone) and loaded.name == "features"
    assert loaded.get_config() == backbone.get_config()
    x = random_inputs((2, 16, 16, 3))
    for new, old in zip(_outputs(loaded, x), _outputs(backbone, x)):
        np.testing.assert_array_equal(new, old)


def test_mixed_precision_outputs():
    vit = VisionTransformer(**TINY, include_top=False, dtype="mixed_bfloat16")
    # One tapped block: Keras returns the output itself, not a list of one.
    # (Checked symbolically: eager bfloat16 calls cost JAX compilations.)
    backbone = vit_backbone(vit, block_indices=1, scales=[2])
    assert keras.backend.standardize_dtype(backbone.outputs[0].dtype) == "bfloat16"
    assert tuple(backbone.output_shape) == (None, 8, 8, 16)
    assert backbone.get_layer("resample_0").dtype_policy.name == "mixed_bfloat16"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in backbone.weights)


def test_bad_arguments():
    vit = VisionTransformer(**TINY, include_top=False)
    with pytest.raises(TypeError, match="`model`"):
        vit_backbone(keras.Sequential([keras.layers.Dense(2)]))
    with pytest.raises(ValueError, match="block_indices"):
        vit_backbone(vit, block_indices=[0, 2])
    with pytest.raises(ValueError, match="block_indices"):
        vit_backbone(vit, block_indices=-3)
    for bad in ([], "1", [0.5], (True,)):
        with pytest.raises(TypeError, match="block_indices"):
            vit_backbone(vit, block_indices=bad)
    with pytest.raises(ValueError, match="`output`"):
        vit_backbone(vit, output="maps")
    with pytest.raises(ValueError, match="needs output='feature_maps'"):
        vit_backbone(vit, output="tokens", scales=[1, 1])
    with pytest.raises(ValueError, match="one factor per block"):
        vit_backbone(vit, scales=[2])
    with pytest.raises(ValueError, match="1/k"):
        vit_backbone(vit, scales=[2, 0.3])
    with pytest.raises(ValueError, match="whole output size"):
        vit_backbone(vit, scales=[2, 0.125])
    with pytest.raises(TypeError, match="apply_norm"):
        vit_backbone(vit, apply_norm="yes")
    with pytest.raises(ValueError, match="interpolation"):
        vit_backbone(vit, interpolation="area")
