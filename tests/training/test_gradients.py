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


class OneBranchUnused(keras.Model):
    """Owns a built Dense layer that `call` never reaches."""

    def __init__(self):
        super().__init__()
        self.used = keras.layers.Dense(1, name="used")
        self.dangling = keras.layers.Dense(1, name="dangling")
        self.dangling.build((None, 3))

    def call(self, inputs, training=None):
        return self.used(inputs, training=training)


def test_unreached_variables_get_zeros():
    # A subclassed model: its attribute layers are tracked on every Keras 3
    # release (a layer set as an attribute of a functional model after
    # construction is not a trainable variable of it on Keras 3.10).
    model = OneBranchUnused()
    model(np.ones((1, 3), "float32"))
    variables = model.trainable_variables
    assert any(v is model.dangling.kernel for v in variables)
    grads = compute_gradients(model, np.ones((2, 3), "float32"), np.zeros((2, 1)), lambda y, p: keras.ops.sum(p))
    assert len(grads) == len(variables)
    by_id = {id(v): g for v, g in zip(variables, grads)}
    np.testing.assert_allclose(by_id[id(model.used.kernel)], np.full((3, 1), 2.0))
    assert by_id[id(model.dangling.kernel)].shape == (3, 1)
    assert not by_id[id(model.dangling.kernel)].any()
    assert not by_id[id(model.dangling.bias)].any()
