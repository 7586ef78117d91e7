import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.training import NO_WEIGHT_DECAY_NAMES, WarmupCosine, create_adamw, scale_learning_rate
from tests.test_case import random_inputs, to_numpy

TINY = dict(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32, input_shape=(16, 16, 3), classes=5)


def timm_excludes(variable):
    """timm's rule, stated independently: every 1-D parameter, plus the
    position embedding and the class/register tokens. The query/key/value
    biases are 1-D in timm (`qkv.bias`) and stored (heads, head_dim) here."""
    one_dimensional_in_timm = len(variable.shape) <= 1 or variable.path.endswith(("query/bias", "key/bias", "value/bias"))
    return one_dimensional_in_timm or variable.name in ("position_embedding", "class_token", "register_tokens")


def test_zero_gradient_step_only_decays_kernels():
    model = VisionTransformer(**TINY, num_register_tokens=2, layer_scale_init=0.1)
    lr, wd = 0.01, 0.05
    optimizer = create_adamw(learning_rate=lr, weight_decay=wd)
    variables = model.trainable_variables
    before = [to_numpy(v).copy() for v in variables]
    optimizer.apply([keras.ops.zeros(v.shape) for v in variables], variables)
    decayed = 0
    for variable, old in zip(variables, before):
        new = to_numpy(variable)
        if timm_excludes(variable):
            np.testing.assert_array_equal(new, old, err_msg=f"{variable.path} was decayed")
        else:
            # Decoupled decay: w <- w - lr * wd * w; Adam's update of a zero
            # gradient is zero.
            np.testing.assert_allclose(new, old * (1 - lr * wd), rtol=1e-6, atol=1e-9, err_msg=variable.path)
            assert variable.name == "kernel", variable.path
            decayed += 1
    # patch projection, 4 attention + 2 MLP kernels per block, head
    assert decayed == 1 + 2 * 6 + 1


def test_exclusion_names_cover_exactly_timms_rule():
    model = VisionTransformer(**TINY, num_register_tokens=1, layer_scale_init=0.1)
    named = {v.path for v in model.trainable_variables if v.name in NO_WEIGHT_DECAY_NAMES}
    by_rule = {v.path for v in model.trainable_variables if timm_excludes(v)}
    assert named == by_rule


def test_accumulated_micro_batches_equal_one_large_batch():
    k, micro = 4, 8
    images = random_inputs((k * micro, 16, 16, 3), seed=3)
    labels = np.random.default_rng(3).integers(0, 5, k * micro)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    reference = VisionTransformer(**TINY, classifier_activation=None)
    initial = reference.get_weights()

    def train(batch_size, accumulation, epochs):
        model = VisionTransformer(**TINY, classifier_activation=None)
        model.set_weights(initial)
        model.compile(create_adamw(1e-3, weight_decay=0.05, gradient_accumulation_steps=accumulation), loss)
        model.fit(images, labels, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0)
        return model

    # Two updates each: 2 x (k micro-batches) against 2 x (one batch of k * micro).
    accumulated = train(micro, k, epochs=2)
    large = train(k * micro, None, epochs=2)
    assert int(accumulated.optimizer.iterations) == 2
    for a, b, variable in zip(accumulated.get_weights(), large.get_weights(), large.weights):
        np.testing.assert_allclose(a, b, atol=1e-5, err_msg=variable.path)
    moved = max(np.abs(a - b).max() for a, b in zip(large.get_weights(), initial))
    assert moved > 1e-4  # the comparison is between trained weights, not two copies of the start


def test_options_reach_the_optimizer():
    optimizer = create_adamw(5e-4, weight_decay=0.1, global_clipnorm=1.0, gradient_accumulation_steps=4,
                             global_batch_size=1024)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)
    assert optimizer.weight_decay == 0.1 and optimizer.global_clipnorm == 1.0
    assert optimizer.gradient_accumulation_steps == 4
    assert create_adamw(gradient_accumulation_steps=1).gradient_accumulation_steps is None


def test_deit_learning_rate_rule():
    assert scale_learning_rate(5e-4, 1024) == pytest.approx(1e-3)
    assert scale_learning_rate(5e-4, 256) == pytest.approx(2.5e-4)
    scaled = scale_learning_rate(WarmupCosine(5e-4, 100, 10, 1e-6, 1e-5), 2048)
    assert scaled.peak_learning_rate == pytest.approx(2e-3) and scaled.final_learning_rate == pytest.approx(4e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weight_decay=-0.1), "weight_decay"),
        (dict(global_clipnorm=0.0), "global_clipnorm"),
        (dict(gradient_accumulation_steps=0), "gradient_accumulation_steps"),
        (dict(global_batch_size=0), "global_batch_size"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        create_adamw(**kwargs)
    with pytest.raises(TypeError, match="exclude_from_weight_decay"):
        create_adamw(exclude_from_weight_decay="bias")
