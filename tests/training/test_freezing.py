import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.training import (
    UnfreezeCallback,
    freeze,
    freeze_backbone,
    frozen_layers,
    unfreeze,
)
from tests.test_case import to_numpy

TINY = dict(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32, input_shape=(8, 8, 3), classes=3)
EMBEDDINGS = ["patch_embedding", "class_token", "position_embedding"]


def tiny(**kwargs):
    return VisionTransformer(**{**TINY, "classifier_activation": None, **kwargs})


def trainable_flags(model):
    return {layer.name: layer.trainable for layer in model.layers if layer.weights}


def snapshot(model):
    return {variable.path: to_numpy(variable).copy() for variable in model.weights}


def layer_changed(before, after, layer):
    paths = [path for path in before if path.split("/")[0] == layer]
    assert paths, layer
    return any(not np.array_equal(before[path], after[path]) for path in paths)


def test_freeze_sets_exactly_the_requested_layers():
    model = tiny(num_register_tokens=1)
    embeddings = EMBEDDINGS + ["register_tokens"]
    assert freeze(model, num_blocks=1) == embeddings + ["transformer_block_0"]
    assert trainable_flags(model) == {
        **{name: False for name in embeddings},
        "transformer_block_0": False,
        "transformer_block_1": True,
        "encoder_norm": True,
        "head": True,
    }
    # Declarative: a second call replaces the first.
    assert freeze(model, num_blocks=0, embeddings=False, head=True) == ["head"]
    assert freeze(model, num_blocks=2, embeddings=False) == ["transformer_block_0", "transformer_block_1", "encoder_norm"]
    assert freeze_backbone(model) == embeddings + ["transformer_block_0", "transformer_block_1", "encoder_norm"]
    assert [v.path for v in model.trainable_weights] == ["head/kernel", "head/bias"]
    # On TensorFlow `model.trainable = True` alone would leave these frozen.
    assert unfreeze(model) == [] and frozen_layers(model) == []
    assert len(model.trainable_weights) == len(model.weights)
    backbone = tiny(include_top=False)
    assert freeze_backbone(backbone)[-1] == "encoder_norm" and backbone.trainable_weights == []


def test_slots_carry_over_when_the_trainable_set_changes():
    model = tiny()
    freeze(model, num_blocks=1)
    optimizer = keras.optimizers.AdamW(1e-3)
    model.compile(optimizer=optimizer, loss="mse")
    optimizer.build(model.trainable_variables)
    slots = optimizer.variables[2:]  # after the iteration count and the learning rate
    assert [v.name for v in optimizer.variables[:2]] == ["iteration", "learning_rate"]
    assert len(slots) == 2 * len(model.trainable_variables)
    for index, slot in enumerate(slots):
        slot.assign(np.full(slot.shape, index + 1.0, "float32"))
    optimizer.iterations.assign(7)
    before = {slot.path: to_numpy(slot).copy() for slot in slots}

    unfreeze(model)
    assert len(optimizer.variables) == 2 + 2 * len(model.weights)
    assert int(optimizer.iterations) == 7 and float(optimizer.learning_rate) == pytest.approx(1e-3)
    carried = 0
    for slot in optimizer.variables[2:]:
        if slot.path in before:
            np.testing.assert_array_equal(to_numpy(slot), before[slot.path], err_msg=slot.path)
            carried += 1
        else:  # a newly trainable variable: fresh moments
            assert slot.path.split("/")[1].startswith(("transformer_block_0", "patch_embedding", "class_token", "position_embedding")), slot.path
            assert not to_numpy(slot).any(), slot.path
    assert carried == len(before)


def test_fit_keeps_frozen_layers_and_the_callback_unfreezes_them():
    images = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    labels = np.array([0, 1, 2, 0])
    model = tiny()
    frozen = freeze(model, num_blocks=1)
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=1, decay_rate=0.5)
    # SGD with momentum has slots to rebuild and compiles faster than Adam.
    model.compile(
        optimizer=keras.optimizers.SGD(schedule, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    snapshots = [snapshot(model)]
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(snapshot(model)))
    callback = UnfreezeCallback(epoch=1, verbose=False)
    # One step per epoch: epoch 0 with block 0 and the embeddings frozen, epoch 1 unfrozen.
    model.fit(images, labels, batch_size=4, epochs=2, shuffle=False, callbacks=[callback, record], verbose=0)
    start, epoch_0, epoch_1 = snapshots
    for layer in frozen:
        assert not layer_changed(start, epoch_0, layer), f"frozen {layer} changed"
        assert layer_changed(epoch_0, epoch_1, layer), f"unfrozen {layer} did not change"
    for layer in ("transformer_block_1", "encoder_norm", "head"):
        assert layer_changed(start, epoch_0, layer) and layer_changed(epoch_0, epoch_1, layer), layer
    assert callback.unfrozen_at == 1 and frozen_layers(model) == []
    assert int(model.optimizer.iterations) == 2  # the schedule's step was kept


def test_callback_switches_the_learning_rate():
    model = tiny()
    freeze_backbone(model)
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=1, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    model.optimizer.build(model.trainable_variables)
    callback = UnfreezeCallback(epoch=1, frozen_blocks=1, learning_rate=1e-4, verbose=False)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    assert callback.unfrozen_at is None and len(model.trainable_weights) == 2
    callback.on_epoch_begin(1)
    assert frozen_layers(model) == EMBEDDINGS + ["transformer_block_0"]
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)
    assert len(model.optimizer.variables) == 2 + 2 * len(model.trainable_weights)


def test_bad_arguments_raise_before_changing_anything():
    model = tiny()
    for kwargs, error, match in [
        (dict(num_blocks=3), ValueError, "num_blocks"),
        (dict(num_blocks=-1), ValueError, "num_blocks"),
        (dict(num_blocks="all"), TypeError, "num_blocks"),
        (dict(embeddings="yes"), TypeError, "embeddings"),
        (dict(head=1), TypeError, "head"),
    ]:
        with pytest.raises(error, match=match):
            freeze(model, **kwargs)
    assert frozen_layers(model) == []
    with pytest.raises(ValueError, match="include_top"):
        freeze(tiny(include_top=False), head=True)
    with pytest.raises(TypeError, match="VisionTransformer"):
        freeze(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    with pytest.raises(ValueError, match="epoch"):
        UnfreezeCallback(epoch=-1)
    with pytest.raises(TypeError, match="learning_rate"):
        UnfreezeCallback(epoch=1, learning_rate="low")
    callback = UnfreezeCallback(epoch=1, frozen_blocks=3)
    callback.set_model(model)
    with pytest.raises(ValueError, match="frozen_blocks"):
        callback.on_train_begin()
