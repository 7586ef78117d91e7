import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.models.backbone import vit_backbone
from keras_vit.models.segmentation import build_segmenter, default_scales, unet_head
from tests.test_case import random_inputs, to_numpy

# Tiny shapes, shared by the tests (JAX compiles each initializer per shape).
TINY = dict(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32,
            input_shape=(16, 16, 3), include_top=False, pooling=None)
HEAD = dict(decoder_filters=8, num_convs=1)


def test_segmenter_fit_changes_weights_and_round_trips(tmp_path):
    keras.utils.set_random_seed(0)  # the weight-change check below is of one fixed run
    vit = VisionTransformer(**TINY)
    segmenter = build_segmenter(vit, classes=3, stem_filters=4, **HEAD)
    assert tuple(segmenter.output_shape) == (None, 16, 16, 3)
    # Default pyramid: blocks [0, 1] at scales [4, 2] of the 4x4 grid; the
    # decoder runs at 8x8, then at 16x16 on [upsampled, block 0's map, stem].
    backbone = segmenter.get_layer("vision_transformer_backbone")
    assert backbone.block_indices == [0, 1] and backbone.scales == default_scales(2)
    assert backbone.get_layer("transformer_block_1") is vit.get_layer("transformer_block_1")
    assert tuple(segmenter.get_layer("decoder_concat_1").output.shape) == (None, 16, 16, 8 + 16 + 4)

    x = random_inputs((4, 16, 16, 3))
    y = np.random.default_rng(0).integers(0, 3, (4, 16, 16))
    segmenter.compile(optimizer=keras.optimizers.SGD(0.1),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [to_numpy(w) for w in segmenter.trainable_weights]
    history = segmenter.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for old, new in zip(before, segmenter.trainable_weights):
        assert not np.array_equal(old, to_numpy(new)), f"{new.path} did not change in training"
    # The ViT was fine-tuned in place.
    np.testing.assert_array_equal(to_numpy(vit.get_layer("transformer_block_1").weights[0]),
                                  to_numpy(backbone.get_layer("transformer_block_1").weights[0]))

    path = tmp_path / "segmenter.keras"
    segmenter.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded(x, training=False)),
                                  to_numpy(segmenter(x, training=False)))


def test_from_backbone_and_bad_arguments():
    vit = VisionTransformer(**TINY)
    # One map at the grid (4x4): the decoder upsamples it 4x with no skip.
    backbone = vit_backbone(vit, block_indices=[1], scales=[1])
    segmenter = build_segmenter(backbone, classes=3, **HEAD)
    assert tuple(segmenter.output_shape) == (None, 16, 16, 3)
    assert segmenter.get_layer("decoder_upsample_1").scale == 4.0
    with pytest.raises(ValueError, match="must be None"):
        build_segmenter(backbone, classes=2, scales=[2])
    with pytest.raises(ValueError, match="feature maps"):
        build_segmenter(vit_backbone(vit, output="tokens"), classes=2)
    with pytest.raises(TypeError, match="`model`"):
        build_segmenter(keras.Sequential([keras.layers.Dense(2)]), classes=2)
    with pytest.raises(ValueError, match="classes"):
        build_segmenter(vit, classes=0)
    with pytest.raises(TypeError, match="stem_filters"):
        build_segmenter(vit, classes=2, stem_filters=1.5)
    with pytest.raises(ValueError, match="decoder_filters"):
        build_segmenter(vit, classes=2, decoder_filters=[8])


def test_head_bad_arguments():
    maps = [keras.Input((2, 2, 8)), keras.Input((4, 4, 8)), keras.Input((4, 4, 4))]
    # Stages at 2x2, 4x4 (both 4x4 maps together) and 12x12: 3 widths.
    with pytest.raises(ValueError, match="list of 3"):
        unet_head(maps, 5, (12, 12), decoder_filters=[8, 8])
    with pytest.raises(ValueError, match="larger than `output_size`"):
        unet_head(maps, 5, (3, 3))
    with pytest.raises(ValueError, match="images"):
        unet_head(maps, 5, (12, 12), stem_filters=4)
    with pytest.raises(ValueError, match="static sizes"):
        unet_head([keras.Input((None, 4, 8))], 5, (12, 12))
