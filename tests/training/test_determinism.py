"""A seeded run repeats: the same batches, the same training curves."""

import csv

import keras
import numpy as np
import pytest

from keras_vit.augmentation import image_augmentation, label_mixing
from keras_vit.data import load_digits, make_dataset
from keras_vit.training import determinism, make_deterministic
from tests.cli._train import AUGMENTED
from tests.cli._train import train as run

tf = pytest.importorskip("tensorflow")

@pytest.fixture
def deterministic_ops():
    """Switches make_deterministic's process-wide switches back after the test."""
    previous = determinism._switches()
    yield
    determinism._restore(previous)


def read_history(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_two_seeded_runs_with_the_whole_recipe_have_the_same_history(tmp_path, deterministic_ops):
    # `keras-vit train --seed 0` twice, with crop, RandAugment, MixUp/CutMix,
    # erasing and drop path, all random: the same history.csv (wall-clock
    # figures live in metrics.json) and the same test metrics.
    histories, metrics = [], []
    for name in ("first", "second"):
        metrics.append(run(tmp_path / name, "--epochs", "2", "--seed", "0", *AUGMENTED))
        histories.append(read_history(tmp_path / name / "history.csv"))
    first, second = histories
    assert len(first) == 2 and {"loss", "accuracy", "val_loss", "val_accuracy", "lr"} <= set(first[0])
    assert first == second
    assert metrics[0]["test_accuracy"] == metrics[1]["test_accuracy"]
    assert metrics[0]["test_loss"] == metrics[1]["test_loss"]


def augmented_batches(seed=0, epochs=2, rand_augment_ops=1):
    (x, y), _, _ = load_digits(image_size=16, seed=0)
    augmentation = image_augmentation(crop_scale=(0.7, 1.0), flip=False, rand_augment_ops=rand_augment_ops,
                                      rand_augment_magnitude=0.1, erasing_probability=0.5, seed=seed)
    mixing = label_mixing(0.2, 0.5, seed=seed + 10)
    dataset = make_dataset((x[:256], y[:256]), batch_size=32, classes=10, training=True,
                           augmentation=augmentation, mixing=mixing, seed=seed)
    return dataset, [[(images.numpy(), labels.numpy()) for images, labels in dataset] for _ in range(epochs)]


def assert_same(batches, others):
    assert len(batches) == len(others)
    for (x, y), (x2, y2) in zip(batches, others):
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)


@pytest.mark.backend_independent  # the pipeline is tf.data whatever the backend
def test_a_seeded_augmented_pipeline_repeats(deterministic_ops):
    make_deterministic(0)
    _, first = augmented_batches()
    make_deterministic(0)
    dataset, second = augmented_batches()
    for epoch, other in zip(first, second):
        assert_same(epoch, other)
    # Each epoch draws anew, and the draws are not all the same.
    assert not np.allclose(first[0][0][0], first[1][0][0])
    assert not np.allclose(first[0][0][1], first[0][1][1])
    # No stage reads a shared random state: TensorFlow would run the map
    # serially under op determinism, and out of order without it.
    graph = tf.compat.v1.GraphDef.FromString(tf.raw_ops.DatasetToGraphV2(input_dataset=dataset._variant_tensor).numpy())
    ops = {node.op for node in graph.node} | {node.op for f in graph.library.function for node in f.node_def}
    assert not {op for op in ops if "Variable" in op}, ops


@pytest.mark.backend_independent
def test_the_element_seeds_do_not_depend_on_the_thread_count():
    # The same pipeline read on 1 thread and on 8 gives the same batches.
    def batches(threads):
        keras.utils.set_random_seed(0)
        dataset, _ = augmented_batches(epochs=0, rand_augment_ops=0)  # RandAugment: slow to trace
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        return [(x.numpy(), y.numpy()) for x, y in dataset.with_options(options)]

    assert_same(batches(1), batches(8))


def test_make_deterministic_reports_and_checks_its_seed(deterministic_ops):
    report = make_deterministic(3)
    assert report["seed"] == 3 and "enable_op_determinism" in report["tensorflow"]
    backend = keras.backend.backend()
    assert set(report) == {"seed", "tensorflow"} | ({backend} if backend in ("jax", "torch") else set())
    for bad, error in ((-1, ValueError), (2**32, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="seed"):
            make_deterministic(bad)


def test_as_a_context_manager_the_switches_go_back(deterministic_ops):
    from tensorflow.python.framework import config

    determinism._restore({"tensorflow": False})
    before = determinism._switches()
    with make_deterministic(1) as report:
        assert report["seed"] == 1 and config.is_op_determinism_enabled()
        if keras.backend.backend() == "torch":
            import torch

            assert torch.are_deterministic_algorithms_enabled()
    assert determinism._switches() == before
    make_deterministic(1)  # called plainly, they stay on
    assert config.is_op_determinism_enabled()
