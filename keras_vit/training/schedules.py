"""The warmup + cosine learning-rate schedule of ViT training recipes."""

import math

import keras

from keras_vit._validation import check_float, check_non_negative_int, check_positive_int


@keras.saving.register_keras_serializable(package="keras_vit")
class WarmupCosine(keras.optimizers.schedules.CosineDecay):
    """Linear warmup to a peak learning rate, then cosine decay to a floor.

    With `s` the optimizer step (0-based), `W = warmup_steps` and
    `T = total_steps`:

    - `s < W`: `initial + (peak - initial) * s / W` (linear warmup);
    - `W <= s <= T`: `final + (peak - final) * (1 + cos(pi * (s - W) / (T - W))) / 2`;
    - `s > T`: `final`.

    **Convention: `total_steps` includes the warmup.** The whole run is
    `total_steps` long and the cosine spans the last `total_steps -
    warmup_steps` of it, as in big_vision (and timm with `warmup_prefix=True`).
    Keras's `CosineDecay(decay_steps=..., warmup_steps=...)` counts
    `decay_steps` *after* the warmup, and timm by default runs the cosine
    through the warmup; `WarmupCosine(peak, T, W, initial, final)` equals
    `CosineDecay(initial, decay_steps=T - W, warmup_target=peak,
    warmup_steps=W, alpha=final / peak)`, which is how it is computed.

    Steps are optimizer iterations, i.e. batches seen by `fit`; with
    `gradient_accumulation_steps=k`, Keras counts every micro-batch, so give
    `total_steps` in micro-batches.

    Args:
        peak_learning_rate: float > 0. Learning rate at the end of warmup.
        total_steps: int. Length of the whole schedule, warmup included;
            must exceed `warmup_steps`.
        warmup_steps: int >= 0. Steps of linear warmup. Defaults to 0.
        initial_learning_rate: float >= 0. Learning rate at step 0. Defaults
            to 0.
        final_learning_rate: float in `[0, peak_learning_rate]`. Learning
            rate reached at `total_steps` and kept after. Defaults to 0.
        name: str. Name of the schedule.

    Returns:
        A `keras.optimizers.schedules.LearningRateSchedule`: call it with a
        step to get the learning rate, or pass it to an optimizer.

    Example:
    >>> schedule = WarmupCosine(1e-3, total_steps=100, warmup_steps=10)
    >>> [round(float(schedule(s)), 6) for s in (0, 5, 10, 55, 100)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """

    def __init__(
        self,
        peak_learning_rate,
        total_steps,
        warmup_steps=0,
        initial_learning_rate=0.0,
        final_learning_rate=0.0,
        name="WarmupCosine",
    ):
        peak = check_float("peak_learning_rate", peak_learning_rate, low=0.0, low_open=True)
        total_steps = check_positive_int("total_steps", total_steps)
        warmup_steps = check_non_negative_int("warmup_steps", warmup_steps)
        if warmup_steps >= total_steps:
            raise ValueError(
                "`warmup_steps` must be smaller than `total_steps` (which includes "
                f"the warmup). Received: warmup_steps={warmup_steps}, "
                f"total_steps={total_steps}"
            )
        initial = check_float("initial_learning_rate", initial_learning_rate, low=0.0)
        final = check_float("final_learning_rate", final_learning_rate, low=0.0)
        if final > peak:
            raise ValueError(
                "`final_learning_rate` must not exceed `peak_learning_rate`. "
                f"Received: final_learning_rate={final}, peak_learning_rate={peak}"
            )
        super().__init__(
            initial_learning_rate=initial,
            decay_steps=total_steps - warmup_steps,
            alpha=final / peak,
            name=name,
            warmup_target=peak,
            warmup_steps=warmup_steps,
        )
        self.peak_learning_rate = peak
        self.total_steps = total_steps
        self.final_learning_rate = final

    def learning_rate_at(self, step):
        """The learning rate at an integer `step`, as a Python float.

        The same formula as calling the schedule, evaluated in plain Python:
        a callback that sets the rate every batch avoids dispatching backend
        ops (tens of milliseconds per call on JAX's CPU backend).
        """
        step = min(max(int(step), 0), self.total_steps)
        if step < self.warmup_steps:
            return self.initial_learning_rate + (self.peak_learning_rate - self.initial_learning_rate) * (
                step / self.warmup_steps
            )
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.final_learning_rate + (self.peak_learning_rate - self.final_learning_rate) * cosine

    def scaled(self, factor):
        """Returns a copy with every learning rate multiplied by `factor`."""
        factor = check_float("factor", factor, low=0.0, low_open=True)
        return WarmupCosine(
            self.peak_learning_rate * factor,
            self.total_steps,
            self.warmup_steps,
            self.initial_learning_rate * factor,
            self.final_learning_rate * factor,
            name=self.name,
        )

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "initial_learning_rate": self.initial_learning_rate,
            "final_learning_rate": self.final_learning_rate,
            "name": self.name,
        }
