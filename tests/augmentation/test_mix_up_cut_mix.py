import keras
import numpy as np
import pytest

from keras_vit.augmentation import MixUpCutMix
from tests.augmentation.test_cut_mix import labelled_batch
from tests.test_case import to_numpy


def check_labels_match_pixels(images, labels):
    """Image i is filled with i + 1, so a mixed image's mean value is the
    label-weighted mean of its sources, for MixUp and CutMix alike."""
    np.testing.assert_allclose(labels.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(images.mean(axis=(1, 2, 3)), labels @ np.arange(1, labels.shape[1] + 1), rtol=1e-5)


def test_mixup_only_blends_and_cutmix_only_pastes():
    mixup = MixUpCutMix(mixup_alpha=0.8, cutmix_alpha=1.0, switch_probability=0.0, seed=1)(labelled_batch())
    images, labels = to_numpy(mixup["images"]), to_numpy(mixup["labels"])
    check_labels_match_pixels(images, labels)
    assert np.all(images.std(axis=(1, 2, 3)) < 1e-5)  # each image one blended colour
    cutmix = MixUpCutMix(mixup_alpha=0.8, cutmix_alpha=1.0, switch_probability=1.0, seed=1)(labelled_batch())
    images, labels = to_numpy(cutmix["images"]), to_numpy(cutmix["labels"])
    check_labels_match_pixels(images, labels)
    np.testing.assert_allclose(images, np.rint(images))  # pasted, never blended


def test_one_of_the_two_per_batch():
    layer = MixUpCutMix(seed=3)
    kinds = set()
    for _ in range(12):
        out = layer(labelled_batch())
        images, labels = to_numpy(out["images"]), to_numpy(out["labels"])
        check_labels_match_pixels(images, labels)
        kinds.add("cutmix" if np.allclose(images, np.rint(images)) else "mixup")
    assert kinds == {"cutmix", "mixup"}


def test_inference_is_the_identity_and_seeds_reproduce():
    batch = labelled_batch()
    out = MixUpCutMix(seed=0)(dict(batch), training=False)
    np.testing.assert_array_equal(to_numpy(out["images"]), batch["images"])
    np.testing.assert_array_equal(to_numpy(out["labels"]), batch["labels"])
    a, b = MixUpCutMix(seed=9)(labelled_batch()), MixUpCutMix(seed=9)(labelled_batch())
    np.testing.assert_array_equal(to_numpy(a["labels"]), to_numpy(b["labels"]))
    np.testing.assert_array_equal(to_numpy(a["images"]), to_numpy(b["images"]))


def test_inside_tf_data_on_any_backend():
    tf = pytest.importorskip("tensorflow")
    batch = labelled_batch()
    layer = MixUpCutMix(seed=2)
    dataset = tf.data.Dataset.from_tensor_slices((batch["images"], batch["labels"])).batch(8)
    dataset = dataset.map(lambda images, labels: layer({"images": images, "labels": labels}))
    for out in dataset.repeat(3):
        check_labels_match_pixels(out["images"].numpy(), out["labels"].numpy())


def test_config_round_trip():
    layer = MixUpCutMix(mixup_alpha=0.2, cutmix_alpha=0.0, switch_probability=0.3, seed=4)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, MixUpCutMix) and restored.get_config() == layer.get_config()
    assert restored.cut_mix is None


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(mixup_alpha=0.0, cutmix_alpha=0.0), "mixup_alpha"), (dict(mixup_alpha=-1.0), "mixup_alpha"),
     (dict(cutmix_alpha=2.0), "cutmix_alpha"), (dict(switch_probability=1.5), "switch_probability")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MixUpCutMix(**kwargs)
