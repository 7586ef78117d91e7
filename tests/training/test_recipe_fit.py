"""The training recipe's optimizers through `model.fit` on a tiny ViT: AdamW
driven by the warmup + cosine scheduler callback, and layer-decay AdamW.
Small enough for the smoke subset that `make test-lowest` runs on the lowest
supported Keras."""

import keras
import numpy as np

from keras_vit.training import (
    WarmupCosine,
    WarmupCosineScheduler,
    create_adamw,
    create_layer_decay_adamw,
    layer_decay_multipliers,
)
from tests.test_case import to_numpy
from tests.training.test_freezing import tiny

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def data(count):
    rng = np.random.default_rng(0)
    return rng.normal(size=(count, 8, 8, 3)).astype("float32"), rng.integers(0, 3, count)


def test_adamw_follows_the_warmup_cosine_schedule_through_fit():
    keras.utils.set_random_seed(0)
    images, labels = data(8)
    model = tiny()
    model.compile(optimizer=create_adamw(learning_rate=0.0, weight_decay=0.05), loss=LOSS)
    schedule = WarmupCosine(1e-2, total_steps=8, warmup_steps=2)
    before = [to_numpy(v).copy() for v in model.trainable_variables]
    history = model.fit(
        images, labels, batch_size=4, epochs=4, shuffle=False, callbacks=[WarmupCosineScheduler(schedule)], verbose=0
    )
    # Two steps an epoch: `lr` is the rate of each epoch's last step.
    np.testing.assert_allclose(history.history["lr"], [float(schedule(step)) for step in (1, 3, 5, 7)], rtol=1e-5)
    assert int(model.optimizer.iterations) == 8
    assert np.isfinite(history.history["loss"]).all()
    unchanged = [v.path for v, old in zip(model.trainable_variables, before) if np.array_equal(to_numpy(v), old)]
    assert unchanged == []


def test_layer_decay_adamw_scales_the_first_step_of_fit_per_layer():
    images, labels = data(4)
    model = tiny()
    lr, decay = 1e-2, 0.5
    # No weight decay and a negligible epsilon: Adam's first step moves every
    # element by lr * multiplier * |g| / (|g| + eps), so a variable's largest
    # change is its scaled learning rate.
    model.compile(
        optimizer=create_layer_decay_adamw(model, lr, layer_decay=decay, weight_decay=0.0, epsilon=1e-12), loss=LOSS
    )
    multipliers = layer_decay_multipliers(model, decay)
    assert len(set(multipliers.values())) == 4  # embeddings, two blocks, norm and head
    before = {v.path: to_numpy(v).copy() for v in model.trainable_variables}
    model.fit(images, labels, batch_size=4, epochs=1, verbose=0)  # one step
    assert int(model.optimizer.iterations) == 1
    paths, largest, expected = [], [], []
    for variable in model.trainable_variables:
        # The key bias adds the same q . b to every logit of a query, which
        # the softmax cancels: its gradient is zero but for rounding.
        if not variable.path.endswith("key/bias"):
            paths.append(variable.path)
            largest.append(np.abs(before[variable.path] - to_numpy(variable)).max())
            expected.append(lr * multipliers[variable.path])
    # Keras's float32 `1 - beta_2 ** t` is only good to ~1e-5.
    np.testing.assert_allclose(largest, expected, rtol=1e-3, err_msg=str(paths))
