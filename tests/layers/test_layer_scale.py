import numpy as np
import pytest

from keras_vit.layers import LayerScale
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_layer_contract(tmp_path):
    run_layer_test(LayerScale, {"init_value": 0.1}, (2, 5, 8), (2, 5, 8), tmp_path,
                   expected_num_trainable_weights=1)


def test_scales_every_channel_by_init_value():
    x = random_inputs((2, 3, 4))
    layer = LayerScale(1e-5)
    np.testing.assert_allclose(to_numpy(layer(x)), x * np.float32(1e-5), rtol=1e-6)
    assert layer.layer_scale.name == "layer_scale"


@pytest.mark.parametrize("value", [0.0, -1.0, None, float("inf"), float("nan"), "0.1", True])
def test_rejects_non_positive_init(value):
    # None, strings and bools are not numbers (TypeError); the rest ValueError.
    with pytest.raises((TypeError, ValueError), match=f"init_value={value!r}"):
        LayerScale(value)
