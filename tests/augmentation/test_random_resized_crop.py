import keras
import numpy as np
import pytest

from keras_vit.augmentation import RandomResizedCrop
from tests.test_case import to_numpy


def ramp(batch=64, size=16):
    """Images whose channel 0 is the x coordinate and channel 1 the y coordinate."""
    ys, xs = np.meshgrid(np.arange(size, dtype="float32"), np.arange(size, dtype="float32"), indexing="ij")
    image = np.stack([xs, ys, np.zeros_like(xs)], axis=-1)
    return np.repeat(image[None], batch, axis=0)


def test_crops_lie_inside_the_image_and_follow_scale_and_ratio():
    layer = RandomResizedCrop(scale=(0.25, 0.5), ratio=(0.5, 2.0), seed=1)
    images = ramp()
    y0, x0, height, width = to_numpy(layer.get_random_transformation(images)["boxes"]).T
    assert np.all(x0 >= 0) and np.all(y0 >= 0)
    assert np.all(x0 + width <= 16 + 1e-4) and np.all(y0 + height <= 16 + 1e-4)
    area = width * height / 256
    assert np.all(area >= 0.25 - 1e-5) and np.all(area <= 0.5 + 1e-5)  # no clipping needed at this scale
    assert np.all(width / height >= 0.5 - 1e-5) and np.all(width / height <= 2.0 + 1e-5)


def test_output_is_the_crop_resampled_to_the_full_size():
    # On a linear ramp bilinear resampling is exact, so each output pixel
    # must hold the input coordinate its centre maps to inside the crop
    # (clamped to the outermost pixel centres, as every resampler does).
    layer = RandomResizedCrop(scale=(0.3, 0.6), ratio=(0.75, 1.33), seed=2)
    images = ramp(batch=8)
    transformation = layer.get_random_transformation(images)
    out = to_numpy(layer.transform_images(keras.ops.convert_to_tensor(images), transformation))
    y0, x0, height, width = to_numpy(transformation["boxes"]).T
    centres = np.arange(16) + 0.5
    for i in range(8):
        expected_x = np.clip(x0[i] + centres * width[i] / 16 - 0.5, 0, 15)
        expected_y = np.clip(y0[i] + centres * height[i] / 16 - 0.5, 0, 15)
        np.testing.assert_allclose(out[i, 3, :, 0], expected_x, atol=1e-3)
        np.testing.assert_allclose(out[i, :, 3, 1], expected_y, atol=1e-3)


def test_full_crop_is_the_identity_and_inference_is_the_identity():
    images = np.random.default_rng(0).uniform(0, 255, (3, 12, 12, 3)).astype("float32")
    whole = RandomResizedCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=0)
    np.testing.assert_allclose(to_numpy(whole(images)), images, atol=1e-3)
    layer = RandomResizedCrop(seed=0)
    np.testing.assert_array_equal(to_numpy(layer(images, training=False)), images)
    assert not np.allclose(to_numpy(layer(images)), images)


def test_seeded_layers_reproduce_and_unbatched_images_work():
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    a = to_numpy(RandomResizedCrop(seed=5)(images))
    b = to_numpy(RandomResizedCrop(seed=5)(images))
    np.testing.assert_array_equal(a, b)
    assert to_numpy(RandomResizedCrop(seed=5)(images[0])).shape == (16, 16, 3)


def test_config_round_trip_and_tf_data():
    layer = RandomResizedCrop(scale=(0.35, 1.0), ratio=(0.8, 1.25), interpolation="nearest", seed=3)
    rebuilt = RandomResizedCrop.from_config(layer.get_config())
    assert rebuilt.get_config() == layer.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, RandomResizedCrop) and restored.scale == (0.35, 1.0)
    tf = pytest.importorskip("tensorflow")
    images = np.random.default_rng(0).uniform(0, 255, (6, 16, 16, 3)).astype("float32")
    out = [x.numpy() for x in tf.data.Dataset.from_tensor_slices(images).map(layer)]
    assert len(out) == 6 and out[0].shape == (16, 16, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(scale=(0.0, 1.0)), "scale"), (dict(scale=(0.5, 1.5)), "scale"), (dict(ratio=(2.0, 1.0)), "ratio"),
     (dict(interpolation="cubic"), "interpolation"), (dict(scale=0.5), "scale")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RandomResizedCrop(**kwargs)
