import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.training import GradientNormMonitor


def two_layer_model():
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(2, use_bias=False, name="first"),
            keras.layers.Dense(1, use_bias=False, name="head"),
        ]
    )
    model.get_layer("first").set_weights([np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]], "float32")])
    model.get_layer("head").set_weights([np.array([[2.0], [-1.0]], "float32")])
    return model


def test_norms_equal_the_analytic_gradient():
    # loss = mean over the batch of x @ W1 @ w2, so dL/dW1 = mean(x)^T w2^T and
    # dL/dw2 = (mean(x) @ W1)^T: a reference that does not use autodiff.
    x = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 2.0]], "float32")
    model = two_layer_model()
    monitor = GradientNormMonitor((x, np.zeros((2, 1), "float32")), loss=lambda y, p: keras.ops.sum(p) / 2)
    monitor.set_model(model)
    norms = monitor.gradient_norms()
    w1, w2 = model.get_layer("first").get_weights()[0], model.get_layer("head").get_weights()[0]
    mean_x = x.mean(0)
    grad_w1 = np.outer(mean_x, w2[:, 0])
    grad_w2 = mean_x @ w1
    assert norms["grad_norm/first"] == pytest.approx(np.linalg.norm(grad_w1), rel=1e-5)
    assert norms["grad_norm/head"] == pytest.approx(np.linalg.norm(grad_w2), rel=1e-5)
    assert norms["grad_norm"] == pytest.approx(np.sqrt(np.sum(grad_w1**2) + np.sum(grad_w2**2)), rel=1e-5)


def test_logs_every_block_of_a_vit_into_the_history():
    model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=3, num_heads=2, mlp_dim=32,
                              input_shape=(8, 8, 3), classes=3, classifier_activation=None)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.default_rng(0).standard_normal((16, 8, 8, 3)).astype("float32")
    y = np.arange(16) % 3
    monitor = GradientNormMonitor((x[:8], y[:8]), every_n_batches=2)
    history = model.fit(x, y, batch_size=4, epochs=2, callbacks=[monitor], verbose=0)
    expected = {"grad_norm", "grad_norm/patch_embedding", "grad_norm/class_token", "grad_norm/position_embedding",
                "grad_norm/encoder_norm", "grad_norm/head"} | {f"grad_norm/transformer_block_{i}" for i in range(3)}
    assert expected == {key for key in history.history if key.startswith("grad_norm")}
    for key in expected:
        assert len(history.history[key]) == 2 and all(v > 0 for v in history.history[key]), key
    assert monitor.batch_history["step"] == [2, 4, 6, 8]
    assert len(monitor.batch_history["grad_norm/head"]) == 4
    # The last reading of epoch 2 (after batch 4) is the epoch-end reading.
    assert monitor.batch_history["grad_norm"][-1] == pytest.approx(history.history["grad_norm"][-1], rel=1e-4)


def test_warns_on_a_non_finite_gradient():
    model = two_layer_model()
    model.get_layer("head").set_weights([np.array([[np.inf], [1.0]], "float32")])
    monitor = GradientNormMonitor((np.ones((2, 3), "float32"), np.zeros((2, 1))), loss=lambda y, p: keras.ops.sum(p))
    monitor.set_model(model)
    with pytest.warns(UserWarning, match="Non-finite gradient norm"):
        monitor.gradient_norms()


def test_bad_arguments():
    with pytest.raises(ValueError, match="probe_data"):
        GradientNormMonitor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="every_n_batches"):
        GradientNormMonitor((np.ones((2, 3)), np.ones(2)), every_n_batches=0)


@pytest.mark.backend_independent  # TensorBoard writes through tf.summary on every backend
def test_norms_reach_tensorboard(tmp_path):
    tf = pytest.importorskip("tensorflow")
    model = two_layer_model()
    model.compile("sgd", lambda y, p: keras.ops.mean(p))
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
    callbacks = [GradientNormMonitor((x, y)), keras.callbacks.TensorBoard(str(tmp_path))]
    model.fit(x, y, epochs=2, callbacks=callbacks, verbose=0)
    tags = {}
    for path in (tmp_path / "train").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if not value.tag.startswith("epoch_"):
                    continue  # the model's config, written as text
                tags.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    assert len(tags["epoch_grad_norm"]) == 2 and all(v > 0 for v in tags["epoch_grad_norm"])
    assert "epoch_grad_norm/first" in tags and "epoch_grad_norm/head" in tags
