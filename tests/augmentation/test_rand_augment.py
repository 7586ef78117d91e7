import keras
import numpy as np
import pytest

from keras_vit.augmentation import RandAugment
from keras_vit.augmentation.rand_augment import _Equalization
from tests.test_case import to_numpy

tf = pytest.importorskip("tensorflow")


def images(n=4, size=8):
    return np.random.default_rng(0).uniform(0, 255, (n, size, size, 3)).astype("float32")


def test_equalization_equals_keras_in_tf_data_and_eagerly():
    x = images()
    ours, theirs = _Equalization(value_range=(0, 255)), keras.layers.Equalization(value_range=(0, 255))
    np.testing.assert_allclose(to_numpy(ours(x)), to_numpy(theirs(x)), atol=1e-4)
    (mapped_ours,) = list(tf.data.Dataset.from_tensors(x).map(ours))
    (mapped_theirs,) = list(tf.data.Dataset.from_tensors(x).map(theirs))
    np.testing.assert_allclose(mapped_ours.numpy(), mapped_theirs.numpy(), atol=1e-4)


def test_still_works_eagerly_after_a_tf_data_pipeline():
    layer = RandAugment(num_ops=2, factor=0.3, seed=0)
    out = [x.numpy() for x in tf.data.Dataset.from_tensor_slices(images()).map(layer)]
    assert len(out) == 4 and out[0].shape == (8, 8, 3)
    eager = to_numpy(layer(images()))  # Keras's RandAugment fails here on JAX
    assert eager.shape == (4, 8, 8, 3) and np.isfinite(eager).all()
    np.testing.assert_array_equal(to_numpy(layer(images(), training=False)), images())


def test_config_round_trip():
    layer = RandAugment(num_ops=3, factor=0.2, seed=4)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, RandAugment) and isinstance(restored.equalization, _Equalization)
    assert restored.get_config() == layer.get_config()
