import math

import keras
import numpy as np
import pytest

from keras_vit.training import WarmupCosine


def numpy_warmup_cosine(step, peak, total, warmup, initial, final):
    """The closed form, written independently of the implementation."""
    if step < warmup:
        return initial + (peak - initial) * step / warmup
    progress = min(step - warmup, total - warmup) / (total - warmup)
    return final + 0.5 * (peak - final) * (1.0 + math.cos(math.pi * progress))


@pytest.mark.parametrize(
    "peak, total, warmup, initial, final",
    [(1e-3, 1000, 100, 1e-6, 1e-5), (5e-4, 37, 0, 0.0, 0.0), (0.1, 10, 9, 0.05, 0.01)],
)
def test_equals_the_closed_form_at_the_landmarks(peak, total, warmup, initial, final):
    schedule = WarmupCosine(peak, total, warmup, initial, final)
    midpoint = warmup + (total - warmup) // 2
    for step in (0, warmup, midpoint, total - 1, total, total + 50):
        expected = numpy_warmup_cosine(step, peak, total, warmup, initial, final)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-9), step
        assert schedule.learning_rate_at(step) == pytest.approx(expected, rel=1e-12, abs=1e-15), step
    # The landmarks themselves, stated plainly.
    assert float(schedule(0)) == pytest.approx(initial if warmup else peak, abs=1e-9)
    assert float(schedule(warmup)) == pytest.approx(peak, rel=1e-6)
    assert float(schedule(total)) == pytest.approx(final, abs=1e-9)


def test_every_step_matches_and_the_warmup_is_linear():
    schedule = WarmupCosine(2e-3, 200, 20, 1e-6, 1e-5)
    values = np.array([float(schedule(s)) for s in range(0, 221, 7)])
    expected = np.array([numpy_warmup_cosine(s, 2e-3, 200, 20, 1e-6, 1e-5) for s in range(0, 221, 7)])
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-9)
    python_values = [schedule.learning_rate_at(s) for s in range(0, 221, 7)]
    np.testing.assert_allclose(python_values, expected, rtol=1e-12)
    warm = np.array([float(schedule(s)) for s in range(21)])
    np.testing.assert_allclose(np.diff(warm[:21]), (2e-3 - 1e-6) / 20, rtol=1e-4)


def test_convention_differs_from_keras_cosine_decay_by_the_warmup():
    # total_steps includes the warmup: Keras's decay_steps is total - warmup.
    ours = WarmupCosine(1e-3, total_steps=100, warmup_steps=10, final_learning_rate=1e-4)
    keras_schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=90, warmup_target=1e-3, warmup_steps=10, alpha=0.1
    )
    for step in (0, 5, 10, 40, 99, 100):
        assert float(ours(step)) == pytest.approx(float(keras_schedule(step)), rel=1e-6, abs=1e-10)


def test_serializes_with_its_constructor_arguments():
    schedule = WarmupCosine(3e-4, 500, 50, 1e-6, 1e-5)
    config = keras.optimizers.schedules.serialize(schedule)
    restored = keras.optimizers.schedules.deserialize(config)
    assert isinstance(restored, WarmupCosine)
    assert restored.get_config() == schedule.get_config()
    optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    rebuilt = keras.optimizers.AdamW.from_config(optimizer.get_config())
    assert float(rebuilt.learning_rate) == pytest.approx(float(schedule(0)))


def test_scaled_multiplies_every_rate():
    scaled = WarmupCosine(1e-3, 100, 10, 1e-6, 1e-5).scaled(2.0)
    assert (scaled.peak_learning_rate, scaled.initial_learning_rate, scaled.final_learning_rate) == (2e-3, 2e-6, 2e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(peak_learning_rate=0.0, total_steps=10), "peak_learning_rate"),
        (dict(peak_learning_rate=1e-3, total_steps=0), "total_steps"),
        (dict(peak_learning_rate=1e-3, total_steps=10, warmup_steps=10), "warmup_steps"),
        (dict(peak_learning_rate=1e-3, total_steps=10, final_learning_rate=1e-2), "final_learning_rate"),
        (dict(peak_learning_rate=1e-3, total_steps=10, initial_learning_rate=-1.0), "initial_learning_rate"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        WarmupCosine(**kwargs)
    with pytest.raises(TypeError, match="total_steps"):
        WarmupCosine(1e-3, total_steps=10.5)
