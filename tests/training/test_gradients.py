import keras
import numpy as np

from keras_vit.training import compute_gradients


def test_matches_the_analytic_gradient_and_gives_the_input_gradient():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    kernel = np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]], "float32")
    model.get_layer("dense").set_weights([kernel, np.zeros(2, "float32")])
    x = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]], "float32")
    # loss = sum(x @ K + b)**2 / 2 per output: dL/dK = x^T (x K), dL/db = sum(x K), dL/dx = (x K) K^T
    loss = lambda y, p: 0.5 * keras.ops.sum(p**2)  # noqa: E731
    (grad_kernel, grad_bias), grad_x = compute_gradients(model, x, np.zeros((2, 2)), loss, inputs_gradient=True)
    out = x @ kernel
    np.testing.assert_allclose(grad_kernel, x.T @ out, rtol=1e-6)
    np.testing.assert_allclose(grad_bias, out.sum(0), rtol=1e-6)
    np.testing.assert_allclose(grad_x, out @ kernel.T, rtol=1e-6)


def test_unreached_variables_get_zeros():
    inputs = keras.Input((3,))
    used = keras.layers.Dense(1, name="used")(inputs)
    keras.layers.Dense(1, name="unused")(inputs)
    model = keras.Model(inputs, used)
    extra = keras.layers.Dense(1, name="dangling")
    extra.build((None, 3))
    model.dangling = extra  # tracked, never called
    grads = compute_gradients(model, np.ones((2, 3), "float32"), np.zeros((2, 1)), lambda y, p: keras.ops.sum(p))
    by_path = dict(zip([v.path for v in model.trainable_variables], grads))
    assert np.abs(by_path["used/kernel"]).sum() > 0
    assert not by_path["dangling/kernel"].any()
