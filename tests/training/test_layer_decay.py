import keras
import numpy as np
import pytest

from keras_vit.training import LayerDecayAdamW, create_layer_decay_adamw, layer_decay_multipliers
from tests.test_case import to_numpy
from tests.training.test_freezing import tiny


def test_layer_decay_multipliers():
    model = tiny(num_layers=3, num_register_tokens=1)
    multipliers = layer_decay_multipliers(model, 0.5)
    assert set(multipliers) == {variable.path for variable in model.weights}
    assert multipliers["register_tokens/register_tokens"] == multipliers["patch_embedding/projection/kernel"] == 0.5**4
    assert multipliers["transformer_block_0/attention/query/kernel"] == 0.5**3
    assert multipliers["transformer_block_2/layer_norm_1/gamma"] == 0.5
    assert multipliers["encoder_norm/beta"] == multipliers["head/bias"] == 1.0


def test_one_step_moves_each_variable_by_its_scaled_learning_rate():
    model = tiny(num_layers=3)
    lr, decay, wd = 1e-2, 0.5, 0.1
    optimizer = create_layer_decay_adamw(model, lr, layer_decay=decay, weight_decay=wd, epsilon=1e-12)
    if keras.backend.backend() == "torch":  # not Keras's fused multi-tensor AdamW
        assert not any("Parallel" in cls.__name__ for cls in type(optimizer).__mro__)
    paths = {
        "position_embedding/position_embedding": decay**4,
        "transformer_block_1/mlp/dense_1/kernel": decay**2,
        "transformer_block_1/mlp/dense_1/bias": decay**2,
        "head/kernel": 1.0,
    }
    variables = [v for v in model.trainable_variables if v.path in paths]
    before = [to_numpy(v).copy() for v in variables]
    # Adam's first step is lr * g / (|g| + eps): exactly lr for g = 1000.
    optimizer.apply([keras.ops.full(v.shape, 1000.0) for v in variables], variables)
    for variable, old in zip(variables, before):
        scaled = lr * paths[variable.path]
        decays = variable.name == "kernel"  # biases and the position embedding are excluded
        expected_step = scaled + (scaled * wd * old if decays else 0.0)
        # Keras's float32 `1 - beta_2 ** t` is only good to ~1e-5.
        np.testing.assert_allclose(old - to_numpy(variable), expected_step, rtol=1e-4, err_msg=variable.path)


def test_config_round_trip_and_saving(tmp_path):
    model = tiny()
    optimizer = create_layer_decay_adamw(model, 2e-3, layer_decay=0.6, weight_decay=0.02, global_clipnorm=1.0)
    config = optimizer.get_config()
    restored = LayerDecayAdamW.from_config(config)
    assert restored.get_config() == config
    assert restored.learning_rate_multipliers == layer_decay_multipliers(model, 0.6)
    assert restored.no_weight_decay_names == optimizer.no_weight_decay_names and restored.global_clipnorm == 1.0

    model.compile(optimizer=optimizer, loss="mse")
    optimizer.build(model.trainable_variables)
    optimizer.variables[-1].assign(np.full(optimizer.variables[-1].shape, 3.0, "float32"))
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.optimizer, LayerDecayAdamW)
    assert loaded.optimizer.learning_rate_multipliers == optimizer.learning_rate_multipliers
    np.testing.assert_array_equal(to_numpy(loaded.optimizer.variables[-1]), 3.0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="decay"):
        layer_decay_multipliers(tiny(), 0.0)
    with pytest.raises(TypeError, match="learning_rate_multipliers"):
        LayerDecayAdamW(learning_rate_multipliers=[0.5])
    with pytest.raises(ValueError, match="learning_rate_multipliers"):
        LayerDecayAdamW(learning_rate_multipliers={"head": -1.0})
    with pytest.raises(TypeError, match="no_weight_decay_names"):
        LayerDecayAdamW(no_weight_decay_names="bias")
