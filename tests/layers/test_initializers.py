import math

import keras
import numpy as np
import pytest

from keras_vit.layers import TruncatedNormal
from tests.test_case import to_numpy


def truncated_cdf(x):
    """CDF of a standard normal truncated to [-2, 2], in closed form."""
    phi = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))  # noqa: E731
    return (phi(x) - phi(-2)) / (phi(2) - phi(-2))


def test_values_follow_the_truncated_normal_on_this_backend():
    values = to_numpy(TruncatedNormal(stddev=0.02, seed=1)((400, 500))).ravel()
    assert np.abs(values).max() <= 0.04 + 1e-7  # never beyond two standard deviations
    # Standard deviation of N(0, 1) truncated at +-2 is 0.8796.
    assert values.std() / 0.02 == pytest.approx(0.8796, rel=0.01)
    assert abs(values.mean()) < 1e-4
    for x in (-1.5, -0.5, 0.0, 1.0, 1.9):
        assert np.mean(values / 0.02 <= x) == pytest.approx(truncated_cdf(x), abs=0.005), x


def test_seeded_and_serializable():
    a = to_numpy(TruncatedNormal(0.02, seed=3)((64,)))
    b = to_numpy(TruncatedNormal(0.02, seed=3)((64,)))
    np.testing.assert_array_equal(a, b)
    initializer = TruncatedNormal(stddev=0.5, mean=1.0, seed=7)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(initializer))
    assert isinstance(restored, TruncatedNormal) and restored.get_config() == initializer.get_config()
    values = to_numpy(restored((1000,), dtype="float32"))
    assert values.min() >= 0.0 - 1e-6 and values.max() <= 2.0 + 1e-6
