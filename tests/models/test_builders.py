import inspect

import numpy as np
import pytest

import keras_vit
from keras_vit import ViTBase, ViTHuge, ViTLarge, ViTSmall, ViTTiny, VisionTransformer, vit
from tests.test_case import random_inputs, to_numpy

BUILDERS = [ViTTiny, ViTSmall, ViTBase, ViTLarge, ViTHuge]


@pytest.mark.parametrize("builder", BUILDERS)
def test_builders_share_one_documented_signature(builder):
    assert list(inspect.signature(builder).parameters) == list(inspect.signature(ViTTiny).parameters)
    doc = builder.__doc__
    for section in ("Args:", "Returns:", "Example:", "patch_size", builder.__name__):
        assert section in doc


def test_vit_base_parameter_count_from_the_package_root():
    assert keras_vit.ViTBase().count_params() == 86_567_656


def test_builder_forwards_arguments_and_names_the_model():
    model = ViTTiny(patch_size=32, input_shape=(64, 96, 3), classes=4, pooling="gap",
                    classifier_activation=None, num_register_tokens=1, approximate_gelu=True)
    assert isinstance(model, VisionTransformer)
    assert model.name == "vit_tiny_patch32"
    config = model.get_config()
    assert (config["hidden_dim"], config["num_layers"], config["num_heads"], config["mlp_dim"]) == (192, 12, 3, 768)
    assert config["approximate_gelu"] and config["pooling"] == "gap" and config["num_register_tokens"] == 1
    assert to_numpy(model(random_inputs((1, 64, 96, 3)))).shape == (1, 4)


def test_builder_feature_option_returns_a_backbone():
    # Same shapes as the test above (ViT-Ti/32 at 64x96), so nothing new compiles.
    backbone = ViTTiny(patch_size=32, input_shape=(64, 96, 3), feature_blocks=[5, 11],
                       feature_scales=[2, 1])
    assert isinstance(backbone, keras_vit.ViTBackbone) and backbone.name == "vit_tiny_patch32_backbone"
    assert [tuple(o.shape) for o in backbone.outputs] == [(None, 4, 6, 192), (None, 2, 3, 192)]
    tokens = vit("Ti/32", input_shape=(64, 96, 3), feature_blocks=-1, feature_output="tokens")
    assert tokens.output_shape == (None, 1 + 2 * 3, 192)
    with pytest.raises(ValueError, match="feature_scales"):
        ViTTiny(patch_size=32, input_shape=(64, 96, 3), feature_scales=[2])


def test_builder_without_top_gives_features():
    model = ViTSmall(include_top=False, input_shape=(32, 32, 3), name="backbone")
    assert model.name == "backbone" and model.output_shape == (None, 384)


@pytest.mark.parametrize("builder, patch", [(ViTLarge, 12), (ViTHuge, 32), (ViTTiny, 14), (ViTBase, 10)])
def test_unpublished_patch_size_raises(builder, patch):
    with pytest.raises(ValueError, match=f"patch_size={patch}"):
        builder(patch_size=patch)


def test_vit_by_name_matches_builder():
    a = vit("S/32", input_shape=(64, 64, 3), classes=3)
    b = ViTSmall(patch_size=32, input_shape=(64, 64, 3), classes=3)
    assert a.count_params() == b.count_params()
    b.set_weights(a.get_weights())
    x = random_inputs((2, 64, 64, 3))
    np.testing.assert_allclose(to_numpy(a(x)), to_numpy(b(x)), atol=1e-6)


def test_small_builds_at_patch_14_as_dinov2_does():
    model = ViTSmall(patch_size=14, input_shape=(28, 28, 3), num_layers=1, classes=2)
    assert model.patch_size == (14, 14) and model.grid_size == (2, 2)
