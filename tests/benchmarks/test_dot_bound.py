"""benchmarks/dot_bound.py: the list of a training step's matmuls adds up to
the model's analytic FLOPs, and every layout multiplies correctly in each
installed library, at tiny sizes. Plain Python: runs once, under TensorFlow."""

import sys

import numpy as np
import pytest

from tests.benchmarks import import_benchmark

pytestmark = pytest.mark.backend_independent



@pytest.fixture
def dot_bound(monkeypatch):
    return import_benchmark(monkeypatch, "dot_bound")


@pytest.mark.parametrize("model, timm_name, width", [("Ti/16", "vit_tiny_patch16_224", 192),
                                                      ("S/16", "vit_small_patch16_224", 384),
                                                      ("B/16", "vit_base_patch16_224", 768)])
def test_the_step_matmuls_add_up_to_three_forward_passes(dot_bound, model, timm_name, width):
    speed = sys.modules["speed"]
    batch = 4
    listed = sum(count * 2 * b * rows * inner * cols
                 for _, count, b, rows, inner, cols, _ in dot_bound.step_matmuls(model, batch))
    # Training = 3x the forward FLOPs, less what a step does not compute:
    # the 1000-class head (not listed) and the patch projection's input gradient.
    head = 3 * 2 * width * speed.CLASSES * batch
    patch_input_grad = 2 * 196 * 16 * 16 * 3 * width * batch
    assert listed == 3 * speed.forward_flops(timm_name, 224) * batch - head - patch_input_grad


@pytest.mark.parametrize("library", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("layout", ["ab", "abT", "aTb"])
@pytest.mark.parametrize("batch", [1, 3])
def test_every_layout_multiplies_correctly(dot_bound, library, layout, batch):
    pytest.importorskip(library)
    a_shape, b_shape = dot_bound._shapes(batch, 5, 4, 3, layout)
    a, b = dot_bound._array(library, a_shape, 0), dot_bound._array(library, b_shape, 1)
    product = np.asarray(dot_bound._product(library, layout)(a, b))
    a_np, b_np = np.asarray(a), np.asarray(b)
    if layout == "aTb":
        a_np = np.swapaxes(a_np, -1, -2)
    if layout == "abT":
        b_np = np.swapaxes(b_np, -1, -2)
    assert product.shape == ((batch,) if batch > 1 else ()) + (5, 3)
    np.testing.assert_allclose(product, a_np @ b_np, rtol=1e-5, atol=1e-5)


def test_arguments_are_checked(dot_bound):
    with pytest.raises(SystemExit):
        dot_bound.parse_args(["--batch-size", "0"])
    with pytest.raises(SystemExit):
        dot_bound.parse_args(["--models", "Ti/14"])
    assert dot_bound.parse_args([]).models == ["Ti/16", "S/16"]
