"""A callback that measures training throughput."""

import time

import keras

from keras_vit._validation import check_positive_int


class ThroughputMeter(keras.callbacks.Callback):
    """Logs training images per second for each epoch as `images_per_second`.

    Timing runs from the start of an epoch to the end of its last training
    batch, so validation is excluded. The first epoch includes tracing and
    compilation; `steady_images_per_second()` is the median over the later
    epochs.

    Args:
        batch_size: int. Images per training batch (the global batch).

    Example:
    >>> meter = ThroughputMeter(batch_size=32)
    >>> meter.steady_images_per_second() is None
    True
    """

    def __init__(self, batch_size):
        super().__init__()
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.per_epoch = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._end = None
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches = batch + 1
        self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._end is None or self._end <= self._start:
            return
        rate = self._batches * self.batch_size / (self._end - self._start)
        self.per_epoch.append(rate)
        if logs is not None:
            logs["images_per_second"] = rate

    def steady_images_per_second(self):
        """Median images/s over the epochs after the first (None if unknown)."""
        rates = self.per_epoch[1:] or self.per_epoch
        if not rates:
            return None
        rates = sorted(rates)
        middle = len(rates) // 2
        return rates[middle] if len(rates) % 2 else 0.5 * (rates[middle - 1] + rates[middle])
