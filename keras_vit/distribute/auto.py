"""One call that sets up data or model parallelism for the running Keras
backend: a `tf.distribute` strategy on TensorFlow, a `keras.distribution`
on JAX, nothing on PyTorch."""

import contextlib
import os
from typing import Any, NamedTuple

from keras_vit._choices import STRATEGY_CHOICES
from keras_vit._validation import check_bool, check_optional, check_positive_int
from keras_vit.distribute import jax_distribution, tf_strategy
from keras_vit.distribute.replication import replicas

# The backend each named strategy runs on; "auto" runs on every backend.
_STRATEGY_BACKENDS = {
    "mirrored": "tensorflow",
    "multiworker": "tensorflow",
    "tpu": "tensorflow",
    "jax-data-parallel": "jax",
    "jax-model-parallel": "jax",
}
# XLA reads this flag once, when JAX first looks for its devices.
_XLA_DEVICE_COUNT = "xla_force_host_platform_device_count"


class DistributionSetup(NamedTuple):
    """What `auto_distribute` set up: where the model lives and who writes.

    Attributes:
        name: str. `"default"` (one device, or PyTorch), `"mirrored"`,
            `"multiworker"`, `"tpu"` (`tf.distribute`), `"jax-data-parallel"`
            or `"jax-model-parallel"` (`keras.distribution`).
        strategy: the `tf.distribute.Strategy` (TensorFlow backend), else None.
        distribution: the `keras.distribution.Distribution` (JAX backend), or
            None.
        replicas: int. Model copies each global batch is split over: give
            `tf.data` batches of `per_replica_batch_size * replicas`.
        is_chief: bool. Whether this process writes the run's files (in a
            multi-worker cluster only the chief does; otherwise True).
    """

    name: str
    strategy: Any
    distribution: Any
    replicas: int
    is_chief: bool

    def scope(self):
        """The context to build and compile the model in: the strategy's or
        the distribution's scope, or a no-op one."""
        if self.strategy is not None:
            return self.strategy.scope()
        if self.distribution is not None:
            return self.distribution.scope()
        return contextlib.nullcontext()


def check_strategy(strategy, backend):
    """Raises a `ValueError` unless `strategy` is one of `STRATEGY_CHOICES`
    that runs on `backend`; returns it."""
    if strategy not in STRATEGY_CHOICES:
        raise ValueError(f"`strategy` must be one of {STRATEGY_CHOICES}. Received: strategy={strategy!r}")
    needs = _STRATEGY_BACKENDS.get(strategy)
    if needs is not None and backend != needs:
        raise ValueError(
            f"strategy={strategy!r} needs KERAS_BACKEND={needs} (the backend is {backend!r}); "
            "strategy='auto' works on every backend."
        )
    return strategy


def _request_host_devices(count):
    flags = os.environ.get("XLA_FLAGS", "")
    if _XLA_DEVICE_COUNT not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --{_XLA_DEVICE_COUNT}={count}".strip()


def auto_distribute(strategy="auto", tpu=None, model_axis_size=2, cpu_devices=None, verbose=True):
    """Sets up training on every device this process can use, on any backend.

    With `strategy="auto"`: on TensorFlow, `auto_strategy` (a reachable TPU,
    a `TF_CONFIG` cluster of several workers, several GPUs, else one
    device); on JAX, `data_parallel` over all devices when there are several;
    on PyTorch, one device (Keras has no PyTorch distribution). A named
    strategy is created as asked, and must match the backend: `"mirrored"`,
    `"multiworker"` and `"tpu"` need TensorFlow (`make_strategy`),
    `"jax-data-parallel"` and `"jax-model-parallel"` need JAX
    (`data_parallel`, `model_parallel`). Nothing global is set: build and
    compile the model inside `setup.scope()` and batch the data with the
    global batch, `per_replica_batch_size * setup.replicas`.

    Args:
        strategy: str. One of `STRATEGY_CHOICES`. Defaults to `"auto"`.
        tpu: str or None. TensorFlow: the TPU name, or `"local"` on a TPU VM;
            None detects it.
        model_axis_size: int. Devices one model copy is sharded over, with
            `"jax-model-parallel"`. Defaults to 2.
        cpu_devices: int or None. Split the CPU into this many devices, to
            try a strategy without accelerators: TensorFlow logical devices
            (`tf_strategy.split_cpu`; before TensorFlow starts its devices),
            or on JAX `XLA_FLAGS=--xla_force_host_platform_device_count`,
            set here unless already set (it works only before JAX first
            looks for devices). Not available on PyTorch.
        verbose: bool. Print what was set up.

    Returns:
        A `DistributionSetup`: `name`, `strategy`, `distribution`,
        `replicas`, `is_chief` and `scope()`.

    Raises:
        ValueError: an unknown strategy, one for another backend, or
            `cpu_devices` on PyTorch.
        RuntimeError: JAX already started with another device count than
            `cpu_devices`, or no TPU is reachable for `"tpu"`.

    Example:
    >>> import keras
    >>> setup = auto_distribute(verbose=False)
    >>> with setup.scope():
    ...     model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    >>> global_batch = 32 * setup.replicas  # the batch size to give tf.data
    >>> setup.is_chief
    True
    """
    import keras

    backend = keras.backend.backend()
    check_strategy(strategy, backend)
    model_axis_size = check_positive_int("model_axis_size", model_axis_size)
    cpu_devices = check_optional(check_positive_int, "cpu_devices", cpu_devices)
    verbose = check_bool("verbose", verbose)
    if backend == "tensorflow":
        tf_config = tf_strategy.read_tf_config()
        if cpu_devices:
            tf_strategy.split_cpu(cpu_devices)
        if strategy == "auto":
            name, created = tf_strategy._auto_strategy(tpu, verbose)
        else:
            name, created = strategy, tf_strategy.make_strategy(strategy, tpu=tpu)
            if verbose:
                print(f"keras_vit.distribute: {name} strategy, {created.num_replicas_in_sync} replica(s)")
        return DistributionSetup(name, created, None, replicas(created), tf_strategy.is_chief(tf_config))
    if backend == "jax":
        if cpu_devices:
            _request_host_devices(cpu_devices)
        devices = keras.distribution.list_devices()
        if cpu_devices and len(devices) != cpu_devices:
            raise RuntimeError(
                f"cpu_devices={cpu_devices} with JAX needs XLA_FLAGS=--{_XLA_DEVICE_COUNT}={cpu_devices} "
                f"before JAX starts (it sees {len(devices)} device(s)): set it in the environment, or call "
                "auto_distribute before anything asks JAX for devices."
            )
        if strategy == "jax-model-parallel":
            name, distribution = strategy, jax_distribution.model_parallel(model_axis_size, devices)
        elif strategy == "jax-data-parallel" or len(devices) > 1:
            name, distribution = "jax-data-parallel", jax_distribution.data_parallel(devices)
        else:
            name, distribution = "default", None
        if verbose and distribution is not None:
            print(f"keras_vit.distribute: {type(distribution).__name__} over {len(devices)} devices, "
                  f"{replicas(distribution)} replica(s)")
        return DistributionSetup(name, None, distribution, replicas(distribution), True)
    if cpu_devices:
        raise ValueError(
            f"`cpu_devices` splits the CPU for TensorFlow or JAX; the {backend} backend has no such split. "
            f"Received: cpu_devices={cpu_devices}"
        )
    return DistributionSetup("default", None, None, 1, True)
