import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.augmentation import MixUpCutMix, image_augmentation, label_mixing
from tests.test_case import to_numpy


def images(n=4, size=16, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def test_stages_follow_the_arguments():
    names = lambda pipeline: [layer.name for layer in pipeline.layers]  # noqa: E731
    assert names(image_augmentation()) == ["random_resized_crop", "random_flip", "rand_augment", "random_erasing"]
    assert names(image_augmentation(crop_scale=None, flip=False, rand_augment_ops=0, erasing_probability=0)) == []
    ra = image_augmentation(rand_augment_ops=3, rand_augment_magnitude=0.2).layers[2]
    assert ra.num_ops == 3 and ra.factor == (0.0, 0.2)
    erasing = image_augmentation(erasing_probability=0.25).layers[-1]
    assert erasing.factor == (0.25, 0.25)  # an exact probability, not a range
    assert isinstance(label_mixing(0.8, 1.0), MixUpCutMix) and label_mixing(0.0, 0.0) is None


def test_training_augments_inference_is_the_identity_and_seeds_reproduce():
    x = images()
    a = image_augmentation(seed=3)
    np.testing.assert_array_equal(to_numpy(a(x, training=False)), x)
    out = to_numpy(a(x))
    assert out.shape == x.shape and not np.allclose(out, x)
    assert out.min() >= 0 and out.max() <= 255
    np.testing.assert_array_equal(to_numpy(image_augmentation(seed=3)(x)), out)


def test_as_an_in_model_layer():
    inputs = keras.Input((16, 16, 3))
    # RandAugment off: it is Keras's layer, and compiling its eleven
    # operations into the train step costs half a minute on JAX's CPU backend.
    x = image_augmentation(crop_scale=(0.5, 1.0), rand_augment_ops=0, seed=0)(inputs)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(x)
    vit = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=1, num_heads=2, mlp_dim=32,
                            input_shape=(16, 16, 3), classes=3, classifier_activation=None)
    model = keras.Model(inputs, vit(x))
    plain = keras.Model(inputs, vit(keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images(8), np.arange(8) % 3, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # predict runs with training=False: the augmentation is the identity.
    np.testing.assert_allclose(model.predict(images(2), verbose=0), plain.predict(images(2), verbose=0), atol=1e-5)


def test_in_tf_data_with_label_mixing():
    tf = pytest.importorskip("tensorflow")
    augment, mixing = image_augmentation(seed=0), label_mixing(seed=1)
    dataset = tf.data.Dataset.from_tensor_slices((images(8), tf.one_hot(np.arange(8) % 4, 4)))
    dataset = dataset.map(lambda x, y: (augment(x), y)).batch(4)
    dataset = dataset.map(lambda x, y: mixing({"images": x, "labels": y}))
    batches = list(dataset)
    assert len(batches) == 2
    for batch in batches:
        assert tuple(batch["images"].shape) == (4, 16, 16, 3)
        np.testing.assert_allclose(batch["labels"].numpy().sum(-1), 1.0, atol=1e-5)


def test_a_keras_cv_layer_drops_into_the_pipeline():
    keras_cv = pytest.importorskip("keras_cv", reason="keras-cv is an optional extra (keras-vit-zoo[cv])")
    tf = pytest.importorskip("tensorflow")
    pipeline = keras.layers.Pipeline(
        image_augmentation(seed=0).layers + [keras_cv.layers.RandomChannelShift(value_range=(0, 255), factor=0.5)]
    )
    out = [x.numpy() for x in tf.data.Dataset.from_tensor_slices(images(4)).map(pipeline)]
    assert len(out) == 4 and out[0].shape == (16, 16, 3)
    assert not np.allclose(np.stack(out), images(4))


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(rand_augment_ops=-1), "rand_augment_ops"), (dict(rand_augment_magnitude=1.5), "rand_augment_magnitude"),
     (dict(erasing_probability=2.0), "erasing_probability"), (dict(value_range=(1, 0)), "value_range")],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_augmentation(**kwargs)
