"""A callback that drives the optimizer's learning rate from a schedule."""

import keras

from keras_vit._validation import check_optional, check_positive_int
from keras_vit.training import _state


class WarmupCosineScheduler(keras.callbacks.Callback):
    """Sets the optimizer's learning rate before every batch from a schedule.

    The step is computed from the epoch and batch index,
    `epoch * steps_per_epoch + batch`, not read from the optimizer, so a run
    resumed with `fit(initial_epoch=k)` (or restored by
    `keras.callbacks.BackupAndRestore`, which re-runs an interrupted epoch
    from its first batch) continues the schedule exactly where epoch `k`
    begins. The learning rate of each epoch's last batch is written into the
    epoch logs as `lr`, so it appears in `History`, `CSVLogger` and
    `TensorBoard`.

    Use it with an optimizer whose `learning_rate` is a float (a variable),
    e.g. `keras_vit.training.create_adamw(learning_rate=0.0)`; an optimizer
    that holds a schedule of its own is rejected. It works with
    `LossScaleOptimizer` (mixed float16) and under `jit_compile` on every
    backend.

    Args:
        schedule: a `keras.optimizers.schedules.LearningRateSchedule` (such as
            `WarmupCosine`) or any callable mapping an integer step to a
            learning rate.
        steps_per_epoch: int or None. Batches per epoch; None takes the value
            `fit` reports (`params["steps"]`), which is known for arrays and
            for datasets of known cardinality.

    Example:
    >>> import numpy as np
    >>> from keras_vit.training import WarmupCosine
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    >>> scheduler = WarmupCosineScheduler(WarmupCosine(0.1, total_steps=8, warmup_steps=2))
    >>> history = model.fit(np.ones((8, 2)), np.ones((8, 1)), batch_size=2, epochs=2,
    ...                     callbacks=[scheduler], verbose=0)
    >>> [round(lr, 4) for lr in history.history["lr"]]  # steps 3 and 7 of 8
    [0.0933, 0.0067]
    """

    def __init__(self, schedule, steps_per_epoch=None):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                "`schedule` must be a LearningRateSchedule or a callable of the "
                f"step. Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.steps_per_epoch = check_optional(check_positive_int, "steps_per_epoch", steps_per_epoch)
        self._epoch = 0
        self.last_learning_rate = None

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            optimizer = optimizer.inner_optimizer
        if isinstance(
            getattr(optimizer, "_learning_rate", None),
            keras.optimizers.schedules.LearningRateSchedule,
        ):
            raise ValueError(
                "WarmupCosineScheduler sets the learning rate itself, but the "
                "optimizer was built with a LearningRateSchedule. Build it with a "
                "float learning rate instead, e.g. create_adamw(learning_rate=0.0)."
            )
        if self.steps_per_epoch is None and not self.params.get("steps"):
            raise ValueError(
                "`steps_per_epoch` is unknown for this input (a dataset of unknown "
                "cardinality or a generator): pass it to WarmupCosineScheduler."
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        steps_per_epoch = self.steps_per_epoch or self.params["steps"]
        step = self._epoch * steps_per_epoch + batch
        if hasattr(self.schedule, "learning_rate_at"):  # WarmupCosine: plain Python, no backend ops
            learning_rate = self.schedule.learning_rate_at(step)
        else:
            learning_rate = float(keras.ops.convert_to_numpy(self.schedule(step)))
        _state.sync_before_assign(self.model)
        self.model.optimizer.learning_rate = learning_rate
        self.last_learning_rate = learning_rate

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.last_learning_rate is not None:
            logs["lr"] = self.last_learning_rate
