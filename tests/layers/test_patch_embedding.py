import numpy as np
import pytest

from keras_vit.layers import PatchEmbedding
from tests import numpy_reference as ref
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_layer_contract(tmp_path):
    run_layer_test(
        PatchEmbedding, {"patch_size": 4, "hidden_dim": 8}, (2, 16, 12, 3), (2, 12, 8),
        tmp_path, expected_num_trainable_weights=2,
    )


def test_matches_patchify_reference_and_kernel_is_hwio():
    layer = PatchEmbedding(patch_size=(2, 4), hidden_dim=5)
    images = random_inputs((3, 6, 8, 3))
    out = to_numpy(layer(images))
    kernel = to_numpy(layer.projection.kernel)
    assert kernel.shape == (2, 4, 3, 5)  # HWIO, as in the Google checkpoints
    expected = ref.patchify(images, (2, 4)) @ kernel.reshape(-1, 5) + to_numpy(layer.projection.bias)
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 15, 16, 3), (1, 16, 18, 3)])
def test_indivisible_image_raises(shape):
    with pytest.raises(ValueError, match="divisible by patch_size"):
        PatchEmbedding(patch_size=4, hidden_dim=8)(np.zeros(shape, "float32"))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"patch_size": 0, "hidden_dim": 8}, ValueError, "patch_size"),
        ({"patch_size": (4, 4, 4), "hidden_dim": 8}, TypeError, "patch_size"),
        ({"patch_size": 4, "hidden_dim": 0}, ValueError, "hidden_dim"),
        ({"patch_size": 4, "hidden_dim": 8.0}, TypeError, "hidden_dim"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        PatchEmbedding(**kwargs)
