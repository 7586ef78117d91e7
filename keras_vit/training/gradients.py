"""Gradients of a loss with respect to a model's weights, on any backend.

Keras has no backend-agnostic `gradient` op, so this is the one place in
keras_vit that reaches for the active backend's autodiff (imported lazily):
`tf.GradientTape` in a `tf.function`, `jax.grad` over `stateless_call` under
`jax.jit`, or torch's `backward`.
"""

import keras
import numpy as np

from keras_vit._validation import check_bool
from keras_vit.training import _state


def _to_numpy(variables, grads):
    # Zeros for a variable the loss does not reach (the backends return None).
    return [
        np.zeros(v.shape, "float32") if g is None else np.asarray(keras.ops.convert_to_numpy(g), "float32")
        for v, g in zip(variables, grads)
    ]


def gradient_function(model, loss, training=False, inputs_gradient=False):
    """Returns a compiled function computing the gradients of a loss.

    The returned `f(inputs, targets)` gives what `compute_gradients` gives;
    it is traced and compiled once (`jax.jit`, `tf.function`) and then reused
    with the model's current weights, which is what a callback that measures
    gradients every epoch needs.

    Args:
        model: a built `keras.Model`.
        loss: callable `loss(y_true, y_pred)` returning a scalar.
        training: bool. Run the model in training mode.
        inputs_gradient: bool. Also return the gradient with respect to the
            inputs.

    Returns:
        A callable `f(inputs, targets)`.

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    >>> f = gradient_function(model, lambda y, p: keras.ops.sum(p))
    >>> f(np.ones((3, 2), "float32"), np.zeros((3, 1), "float32"))[0].ravel().tolist()
    [3.0, 3.0]
    """
    training = check_bool("training", training)
    inputs_gradient = check_bool("inputs_gradient", inputs_gradient)
    backend = keras.backend.backend()
    variables = model.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function(reduce_retracing=True)
        def grads_of(x, y):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = loss(y, model(x, training=training))
            return tape.gradient(value, [v.value for v in variables] + [x])

        def run(inputs, targets):
            grads = grads_of(tf.convert_to_tensor(inputs), tf.convert_to_tensor(targets))
            return list(grads[:-1]), grads[-1]

    elif backend == "jax":
        import jax

        def loss_of(trainable_values, non_trainable_values, x, y):
            outputs, _ = model.stateless_call(trainable_values, non_trainable_values, x, training=training)
            return loss(y, outputs)

        grads_of = jax.jit(jax.grad(loss_of, argnums=(0, 2)))

        def run(inputs, targets):
            _state.sync_before_assign(model)  # the weights of the batch just trained, mid-epoch too
            trainable = [v.value for v in variables]
            non_trainable = [v.value for v in model.non_trainable_variables]
            grads, input_grad = grads_of(trainable, non_trainable, inputs, targets)
            return list(grads), input_grad

    elif backend == "torch":
        import torch

        def run(inputs, targets):
            x = torch.tensor(inputs, requires_grad=inputs_gradient)
            previous = [v.value.grad for v in variables]
            for v in variables:
                v.value.grad = None
            try:
                loss(torch.as_tensor(targets), model(x, training=training)).backward()
                grads = [None if v.value.grad is None else v.value.grad.detach().cpu() for v in variables]
            finally:
                # Leave the training loop's own gradient buffers as they were.
                for v, grad in zip(variables, previous):
                    v.value.grad = grad
            return grads, (x.grad.detach().cpu() if inputs_gradient else None)

    else:
        raise NotImplementedError(f"Gradients are not implemented for the {backend!r} backend.")

    def gradients(inputs, targets):
        grads, input_grad = run(np.asarray(inputs), np.asarray(targets))
        arrays = _to_numpy(variables, grads)
        if inputs_gradient:
            return arrays, np.asarray(keras.ops.convert_to_numpy(input_grad))
        return arrays

    return gradients


def compute_gradients(model, inputs, targets, loss, training=False, inputs_gradient=False):
    """Gradients of `loss(targets, model(inputs))` as NumPy arrays.

    Args:
        model: a built `keras.Model`.
        inputs: array of model inputs (one batch).
        targets: array of targets for `loss`.
        loss: callable `loss(y_true, y_pred)` returning a scalar, e.g. a
            `keras.losses.Loss`.
        training: bool. Run the model in training mode (dropout and drop
            path active). Defaults to False, which gives deterministic values.
        inputs_gradient: bool. Also return the gradient with respect to
            `inputs`.

    Returns:
        A list of NumPy arrays, one per `model.trainable_variables` (zeros
        for a variable the loss does not reach); with `inputs_gradient=True`,
        a tuple of that list and the inputs' gradient.

    Example:
    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
    >>> grads = compute_gradients(model, np.ones((4, 3), "float32"), np.zeros((4, 1), "float32"),
    ...                           lambda y, p: keras.ops.sum(p))
    >>> grads[0].ravel().tolist()
    [4.0, 4.0, 4.0]
    """
    return gradient_function(model, loss, training=training, inputs_gradient=inputs_gradient)(inputs, targets)
