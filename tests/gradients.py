"""Gradients of a classification loss, per backend.

Tests may use backend APIs (the library may not); this keeps that in one
place. Returns NumPy gradients for every trainable variable and the input.
"""

import keras
import numpy as np


def classification_gradients(model, images, labels):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(labels, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables + [x])
        return [np.asarray(g) for g in grads[:-1]], np.asarray(grads[-1])
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss_of(trainable_values, x):
            logits, _ = model.stateless_call(trainable_values, non_trainable, x, training=True)
            return loss_fn(labels, logits)

        var_grads, input_grad = jax.grad(loss_of, argnums=(0, 1))(trainable, images)
        return [np.asarray(g) for g in var_grads], np.asarray(input_grad)
    if backend == "torch":
        import torch

        x = torch.tensor(images, requires_grad=True)
        for variable in model.trainable_variables:
            variable.value.grad = None
        loss = loss_fn(torch.tensor(labels), model(x, training=True))
        loss.backward()
        grads = [v.value.grad.detach().cpu().numpy() for v in model.trainable_variables]
        return grads, x.grad.detach().cpu().numpy()
    raise NotImplementedError(backend)
