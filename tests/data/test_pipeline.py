import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.augmentation import image_augmentation, label_mixing
from keras_vit.data import make_dataset

tf = pytest.importorskip("tensorflow")


def arrays(n=10, size=8, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, size, size, channels)).astype("float32"), np.arange(n) % 3


def test_evaluation_batches_keep_every_example_in_order():
    images, labels = arrays()
    batches = list(make_dataset((images, labels), batch_size=4, classes=3))
    assert [int(x.shape[0]) for x, _ in batches] == [4, 4, 2]
    x = np.concatenate([b[0].numpy() for b in batches])
    y = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_allclose(x, images / 127.5 - 1.0, atol=1e-5)  # "vit" scaling to [-1, 1]
    np.testing.assert_array_equal(y, np.eye(3)[labels])


def test_training_shuffles_drops_the_remainder_and_augments():
    images, labels = arrays(n=10)
    dataset = make_dataset((images, labels), batch_size=4, classes=3, training=True, seed=0,
                           augmentation=image_augmentation(seed=0), mixing=label_mixing(seed=0))
    batches = list(dataset)
    assert [int(x.shape[0]) for x, _ in batches] == [4, 4]  # static shapes
    assert dataset.element_spec[0].shape.as_list() == [4, 8, 8, 3]
    for x, y in batches:
        assert x.numpy().min() >= -1.0 - 1e-5 and x.numpy().max() <= 1.0 + 1e-5
        np.testing.assert_allclose(y.numpy().sum(-1), 1.0, atol=1e-5)
    seen = np.concatenate([x.numpy() for x, _ in batches])
    assert not any(np.allclose(seen[0], image / 127.5 - 1.0) for image in images)


def test_resize_grayscale_and_preprocessing_modes():
    images, labels = arrays(n=4, size=8, channels=1)
    (x, _), = list(make_dataset((images, labels), batch_size=4, classes=3, image_size=16, preprocessing=None))
    assert tuple(x.shape) == (4, 16, 16, 3)
    np.testing.assert_allclose(x.numpy()[..., 0], x.numpy()[..., 2])
    (x, _), = list(make_dataset((images, labels), batch_size=4, classes=3, preprocessing="unit", channels=None))
    np.testing.assert_allclose(x.numpy(), images / 255.0, atol=1e-6)


def test_feeds_fit_on_the_active_backend():
    images, labels = arrays(n=16, size=8)
    model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=1, num_heads=2, mlp_dim=32,
                              input_shape=(8, 8, 3), classes=3, classifier_activation=None)
    model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
    train = make_dataset((images, labels), batch_size=4, classes=3, training=True,
                         augmentation=image_augmentation(flip=False, seed=0), mixing=label_mixing(seed=0))
    history = model.fit(train, epochs=2, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(classes=0), ValueError, "classes"),
        (dict(preprocessing="torch"), ValueError, "mode"),
        (dict(channels=2), ValueError, "channels"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    images, labels = arrays()
    arguments = {**dict(batch_size=4, classes=3), **kwargs}
    with pytest.raises(error, match=match):
        make_dataset((images, labels), **arguments)
    with pytest.raises(ValueError, match="as many images as labels"):
        make_dataset((images, labels[:3]), batch_size=4, classes=3)
    with pytest.raises(TypeError, match="data"):
        make_dataset(images, batch_size=4, classes=3)
