import keras
import numpy as np
import pytest

from keras_vit.augmentation import CutMix
from tests.test_case import to_numpy


def labelled_batch(batch=8, size=12):
    """Image i is filled with the value i + 1 and labelled one-hot i, so each
    output pixel says which image it came from."""
    images = np.broadcast_to(np.arange(1, batch + 1, dtype="float32")[:, None, None, None], (batch, size, size, 3))
    return {"images": np.array(images), "labels": np.eye(batch, dtype="float32")}


def pixel_sources(images, batch):
    values = np.rint(images[..., 0]).astype(int) - 1
    return np.stack([(values == k).mean(axis=(1, 2)) for k in range(batch)], axis=1)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_label_weight_equals_the_pasted_area(seed):
    out = CutMix(alpha=1.0, seed=seed)(labelled_batch())
    images, labels = to_numpy(out["images"]), to_numpy(out["labels"])
    # The label of each image is exactly the fraction of its pixels that came
    # from each source image (pixel-exact, also for boxes with fractional corners).
    np.testing.assert_allclose(labels, pixel_sources(images, 8), atol=1e-6)
    np.testing.assert_allclose(labels.sum(-1), 1.0, atol=1e-6)
    assert not np.array_equal(labels, np.eye(8))


def test_inference_is_the_identity_and_seeds_reproduce():
    batch = labelled_batch()
    out = CutMix(seed=0)(dict(batch), training=False)
    np.testing.assert_array_equal(to_numpy(out["images"]), batch["images"])
    np.testing.assert_array_equal(to_numpy(out["labels"]), batch["labels"])
    a, b = CutMix(seed=4)(dict(batch)), CutMix(seed=4)(dict(batch))
    np.testing.assert_array_equal(to_numpy(a["images"]), to_numpy(b["images"]))
    np.testing.assert_array_equal(to_numpy(a["labels"]), to_numpy(b["labels"]))


def test_config_round_trip():
    layer = CutMix(alpha=0.5, seed=7)
    config = layer.get_config()
    assert config["alpha"] == 0.5 and "factor" not in config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, CutMix) and restored.get_config() == config


@pytest.mark.parametrize("alpha", [0.0, 1.5, -1.0])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        CutMix(alpha=alpha)
