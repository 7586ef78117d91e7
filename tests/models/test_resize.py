import numpy as np
import pytest

from keras_vit import VisionTransformer, resize_model
from keras_vit.layers import resample_position_embedding
from tests.test_case import random_inputs, to_numpy

TINY = dict(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32, classes=5,
            num_register_tokens=1)


def test_same_size_is_identity():
    model = VisionTransformer(**TINY, input_shape=(16, 16, 3))
    same = resize_model(model, (16, 16, 3))
    x = random_inputs((2, 16, 16, 3))
    np.testing.assert_array_equal(to_numpy(same(x)), to_numpy(model(x)))


def test_model_built_at_224_runs_at_384():
    model = VisionTransformer(patch_size=16, hidden_dim=32, num_layers=2, num_heads=2, mlp_dim=64,
                              input_shape=(224, 224, 3), classes=10)
    before = to_numpy(model.get_layer("position_embedding").position_embedding)
    bigger = resize_model(model, (384, 384, 3))
    table = to_numpy(bigger.get_layer("position_embedding").position_embedding)
    assert table.shape == (1, 1 + 24 * 24, 32)
    np.testing.assert_array_equal(table[:, 0], before[:, 0])  # class slot untouched
    np.testing.assert_allclose(table, resample_position_embedding(before, 14, 24), atol=1e-7)
    out = to_numpy(bigger(random_inputs((2, 384, 384, 3))))
    assert out.shape == (2, 10) and np.all(np.isfinite(out))
    # The original is left as it was.
    assert model.input_shape == (None, 224, 224, 3)
    np.testing.assert_array_equal(to_numpy(model.get_layer("position_embedding").position_embedding), before)
    # Every other weight is copied unchanged.
    for weight in model.weights:
        if "position_embedding" not in weight.path:
            other = next(w for w in bigger.weights if w.path == weight.path)
            np.testing.assert_array_equal(to_numpy(other), to_numpy(weight))


def test_non_square_target():
    model = VisionTransformer(**TINY, input_shape=(16, 16, 3))
    wide = resize_model(model, (12, 28, 3))
    assert wide.get_layer("position_embedding").grid_size == (3, 7)
    assert to_numpy(wide(random_inputs((1, 12, 28, 3)))).shape == (1, 5)


def test_bad_resize_arguments():
    model = VisionTransformer(**TINY, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="channel"):
        resize_model(model, (16, 16, 1))
    with pytest.raises(ValueError, match="divisible"):
        resize_model(model, (18, 16, 3))
    with pytest.raises(TypeError, match="model"):
        resize_model("not a model", (16, 16, 3))
