import keras
import numpy as np
import pytest

from keras_vit.training import WarmupCosine, WarmupCosineScheduler


def linear_probe():
    """y = w * 1 with loss mean(y): every SGD step moves w by exactly -lr."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=lambda y_true, y_pred: keras.ops.mean(y_pred))
    return model


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        if keras.backend.backend() == "jax":
            self.model.jax_state_sync()
        self.weights.append(float(keras.ops.convert_to_numpy(self.model.weights[0])[0, 0]))


def test_drives_the_learning_rate_of_every_step():
    schedule = WarmupCosine(0.1, total_steps=12, warmup_steps=3, initial_learning_rate=0.01, final_learning_rate=0.001)
    model, recorder = linear_probe(), Recorder()
    x = np.ones((8, 1), "float32")
    history = model.fit(x, x, batch_size=2, epochs=3, callbacks=[WarmupCosineScheduler(schedule), recorder], verbose=0)
    # The weight moved by -lr at each step: the steps' learning rates are the
    # schedule's, read back from what the optimizer actually did.
    applied = -np.diff([0.0] + recorder.weights)
    expected = [float(schedule(step)) for step in range(12)]
    np.testing.assert_allclose(applied, expected, rtol=1e-5)
    np.testing.assert_allclose(history.history["lr"], [expected[3], expected[7], expected[11]], rtol=1e-6)


def test_resumes_with_initial_epoch():
    schedule = WarmupCosine(0.1, total_steps=16, warmup_steps=4)
    x = np.ones((8, 1), "float32")
    full = linear_probe()
    full.fit(x, x, batch_size=2, epochs=4, callbacks=[WarmupCosineScheduler(schedule)], verbose=0)
    first = linear_probe()
    first.fit(x, x, batch_size=2, epochs=2, callbacks=[WarmupCosineScheduler(schedule)], verbose=0)
    resumed = linear_probe()
    resumed.set_weights(first.get_weights())
    history = resumed.fit(
        x, x, batch_size=2, epochs=4, initial_epoch=2, callbacks=[WarmupCosineScheduler(schedule)], verbose=0
    )
    np.testing.assert_allclose(resumed.get_weights()[0], full.get_weights()[0], rtol=1e-6)
    np.testing.assert_allclose(history.history["lr"], [float(schedule(11)), float(schedule(15))], rtol=1e-5)


def test_rejects_an_optimizer_with_its_own_schedule():
    model = linear_probe()
    model.compile(optimizer=keras.optimizers.SGD(WarmupCosine(0.1, 10)), loss="mse")
    x = np.ones((4, 1), "float32")
    with pytest.raises(ValueError, match="float learning rate"):
        model.fit(x, x, callbacks=[WarmupCosineScheduler(WarmupCosine(0.1, 10))], verbose=0)


def test_bad_arguments():
    with pytest.raises(TypeError, match="schedule"):
        WarmupCosineScheduler(0.1)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        WarmupCosineScheduler(WarmupCosine(0.1, 10), steps_per_epoch=0)
