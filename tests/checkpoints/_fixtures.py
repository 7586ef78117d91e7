"""Access to the timm-written fixtures in tests/fixtures/checkpoints/
(made by tests/fixtures/make_checkpoints.py)."""

import json
import pathlib

import keras
import numpy as np

from keras_vit import VisionTransformer

DIRECTORY = pathlib.Path(__file__).parents[1] / "fixtures" / "checkpoints"
# keras_vit's logits vs timm's float64 logits, every backend (measured: 3e-7 to 7e-7).
TOLERANCE = 1e-5


def path(name):
    return DIRECTORY / name


def reference(case):
    """`(config, images, logits)` of a fixture case."""
    with np.load(DIRECTORY / "reference.npz", allow_pickle=False) as data:
        config = json.loads(str(data[f"{case}/config"]))
        return config, data[f"{case}/images"], data[f"{case}/logits"]


def model_for(case, **overrides):
    config, _, _ = reference(case)
    config["input_shape"] = tuple(config["input_shape"])
    config.update(overrides)
    return VisionTransformer(**config)


def logits(model, images):
    return np.asarray(keras.ops.convert_to_numpy(model(images, training=False)), dtype="float64")


def max_difference(model, case):
    _, images, expected = reference(case)
    return float(np.abs(logits(model, images) - expected).max())
