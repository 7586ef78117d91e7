"""Choosing and creating a `tf.distribute` strategy (TensorFlow imported lazily)."""

import glob
import json
import os

STRATEGIES = ("default", "mirrored", "multiworker", "tpu")

# Signs of a Cloud TPU VM (Kaggle's TPU v3-8 and v5e are TPU VMs): the TPU is
# local, so the resolver is asked for tpu="local". (Not TPU_SKIP_MDS_QUERY:
# importing TensorFlow sets that one on any machine.)
_TPU_VM_ENV = ("TPU_ACCELERATOR_TYPE", "TPU_WORKER_ID", "TPU_WORKER_HOSTNAMES")
_TPU_VM_DEVICES = "/dev/accel*"
_TPU_NAME_ENV = ("TPU_NAME", "COLAB_TPU_ADDR")


def _tf():
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ImportError(
            'tf.distribute strategies need TensorFlow: `pip install "keras-vit-zoo[tensorflow]"`. '
            "On JAX use keras_vit.distribute.data_parallel() or model_parallel() instead."
        ) from error
    return tf


def read_tf_config(environ=None):
    """Returns the parsed `TF_CONFIG` environment variable (`{}` if unset).

    Raises:
        ValueError: `TF_CONFIG` is set but is not valid JSON.
    """
    text = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}). Received: TF_CONFIG={text!r}") from error


def cluster_size(tf_config):
    """Number of tasks (chief + workers) in a `TF_CONFIG` cluster."""
    cluster = tf_config.get("cluster", {})
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def is_chief(tf_config):
    """Whether this process is the one that writes files: the `chief` task,
    or worker 0 of a cluster without a chief, or any single process."""
    task = tf_config.get("task", {})
    kind, index = task.get("type"), task.get("index", 0)
    if not tf_config.get("cluster") or kind in (None, "chief"):
        return True
    return kind == "worker" and index == 0 and not tf_config["cluster"].get("chief")


def choose_strategy(tpu_found, tf_config, num_gpus):
    """The decision `auto_strategy` makes, as a pure function.

    In order: a reachable TPU -> `"tpu"`; a `TF_CONFIG` cluster of more than
    one task -> `"multiworker"`; more than one GPU -> `"mirrored"`; otherwise
    `"default"` (one device).

    Args:
        tpu_found: bool. Whether a TPU cluster resolver could be created.
        tf_config: dict. Parsed `TF_CONFIG` (see `read_tf_config`).
        num_gpus: int. Visible GPUs.

    Returns:
        A tuple `(name, reason)`, `name` one of `STRATEGIES`.

    Example:
    >>> choose_strategy(False, {}, num_gpus=4)
    ('mirrored', '4 GPUs on this machine')
    """
    if tpu_found:
        return "tpu", "a TPU is reachable"
    tasks = cluster_size(tf_config)
    if tasks > 1:
        return "multiworker", f"TF_CONFIG names {tasks} tasks"
    if num_gpus > 1:
        return "mirrored", f"{num_gpus} GPUs on this machine"
    return "default", "one device"


def find_tpu(tpu=None, environ=None):
    """Returns a `TPUClusterResolver` if a TPU is reachable, else None.

    Args:
        tpu: str or None. TPU name or address, or `"local"` on a TPU VM;
            None looks at `TPU_NAME`/`COLAB_TPU_ADDR`, then at what a Cloud
            TPU VM has (`TPU_ACCELERATOR_TYPE`, `TPU_WORKER_ID`,
            `/dev/accel*`) and then asks for `"local"`.
        environ: mapping or None. The environment (default `os.environ`).
    """
    tf = _tf()
    environ = os.environ if environ is None else environ
    if tpu is None:
        named = next((environ[key] for key in _TPU_NAME_ENV if environ.get(key)), None)
        if named is not None:
            tpu = named
        elif any(environ.get(key) for key in _TPU_VM_ENV) or glob.glob(_TPU_VM_DEVICES):
            tpu = "local"
        else:
            return None
    try:
        return tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
    except (ValueError, RuntimeError):  # what the resolver raises when nothing answers
        return None


def _multi_worker_strategy_class(tf):
    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        """MultiWorkerMirroredStrategy that Keras 3.15's `fit` can use.

        Keras reduces a whole `(x, y)` batch in one `strategy.reduce` call
        and scalar logs with `axis=0`; the collective strategy accepts
        neither (`MirroredStrategy` does). Each value is reduced on its own,
        scalars without an axis.
        """

        def reduce(self, reduce_op, value, axis):
            parent = super()

            def reduce_one(item):
                local = self.experimental_local_results(item)[0]
                item_axis = None if axis is not None and len(getattr(local, "shape", ())) == 0 else axis
                return parent.reduce(reduce_op, item, item_axis)

            return tf.nest.map_structure(reduce_one, value)

    return MultiWorkerMirroredStrategy


def make_strategy(name, tpu=None, devices=None):
    """Creates the named `tf.distribute` strategy.

    Args:
        name: one of `STRATEGIES`.
        tpu: TPU name, or a `TPUClusterResolver`, for `"tpu"`.
        devices: list of device names for `"mirrored"` (default: all GPUs,
            or all logical CPUs when there is no GPU).

    Returns:
        A `tf.distribute.Strategy`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"`name` must be one of {STRATEGIES}. Received: name={name!r}")
    tf = _tf()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if devices is None:
            gpus = tf.config.list_logical_devices("GPU")
            devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        return _multi_worker_strategy_class(tf)()
    resolver = tpu if tpu is not None and not isinstance(tpu, str) else find_tpu(tpu)
    if resolver is None:
        raise RuntimeError(
            "No TPU is reachable: on Kaggle choose a TPU accelerator; on a Cloud TPU VM "
            "pass tpu='local'; elsewhere set TPU_NAME."
        )
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def auto_strategy(tpu=None, verbose=True):
    """Picks and creates the `tf.distribute` strategy for this machine.

    TPUStrategy when a TPU is reachable (`TPUClusterResolver`; Kaggle and
    Colab TPUs are found on their own), MultiWorkerMirroredStrategy when
    `TF_CONFIG` names several workers, MirroredStrategy for several GPUs,
    else the default strategy; `choose_strategy` is the rule. Build and
    compile the model inside `strategy.scope()` and feed `fit` a `tf.data`
    dataset batched with the global batch size.

    Args:
        tpu: str or None. TPU name or `"local"`; None detects it.
        verbose: bool. Print which strategy was chosen and why.

    Returns:
        A `tf.distribute.Strategy`; its `num_replicas_in_sync` is the number
        of replicas the global batch is split over.
    """
    return _auto_strategy(tpu, verbose)[1]


def _auto_strategy(tpu, verbose):
    """`auto_strategy`, returning `(name, strategy)`."""
    tf = _tf()
    resolver = find_tpu(tpu)
    tf_config = read_tf_config()
    name, reason = choose_strategy(resolver is not None, tf_config, len(tf.config.list_physical_devices("GPU")))
    strategy = make_strategy(name, tpu=resolver)
    if verbose:
        print(f"keras_vit.distribute: {name} strategy, {strategy.num_replicas_in_sync} replica(s) ({reason})")
    return name, strategy


def split_cpu(num_devices):
    """Splits the CPU into `num_devices` logical TensorFlow devices.

    For trying `MirroredStrategy` on a machine without GPUs. Must run before
    TensorFlow initialises its devices (before any op runs).
    """
    tf = _tf()
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(num_devices))
