"""Making a seeded training run repeat exactly."""

import importlib.util
import os
import sys

import keras

from keras_vit._validation import check_unsigned_seed

_XLA_GPU_FLAG = "--xla_gpu_deterministic_ops=true"


def _reset_global_seed_generator():
    # Keras draws unseeded random values (initialisers, dropout, drop path)
    # from one global SeedGenerator, created on first use from Python's
    # `random`. From Keras 3.13 `set_random_seed` drops it so that it is
    # created again from the new seed; Keras 3.10 to 3.12 keep the one they
    # have, and a second seeded run in the same process would then draw
    # other values. Dropping it here does the same on every version.
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # a future Keras without this module: its own reset applies
        return
    global_state.set_global_attribute("global_seed_generator", None)


def _tensorflow(deterministic_ops):
    if importlib.util.find_spec("tensorflow") is None:
        return None
    import tensorflow as tf

    if not deterministic_ops:
        return "seeded (tf.random.set_seed)"
    tf.config.experimental.enable_op_determinism()
    return "seeded; deterministic ops (tf.config.experimental.enable_op_determinism), tf.data included"


def _torch(deterministic_ops):
    import torch

    if not deterministic_ops:
        return "seeded (torch.manual_seed)"
    if torch.cuda.is_available():
        # cuBLAS reads it when its first handle is created.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    return "seeded; deterministic algorithms (torch.use_deterministic_algorithms, warn_only=True), cuDNN deterministic"


def _switches():
    """The process-wide deterministic-ops switches as they are now."""
    state = {}
    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config

        state["tensorflow"] = config.is_op_determinism_enabled()
    if "torch" in sys.modules:
        import torch

        state["torch"] = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark,
        )
    return state


def _restore(state):
    """Puts the switches back as `_switches()` found them (libraries imported since are left as they are)."""
    if "tensorflow" in state:
        from tensorflow.python.framework import config

        if state["tensorflow"]:
            config.enable_op_determinism()
        else:
            config.disable_op_determinism()
    if "torch" in state:
        import torch

        enabled, warn_only, cudnn_deterministic, cudnn_benchmark = state["torch"]
        torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.backends.cudnn.deterministic = cudnn_deterministic
        torch.backends.cudnn.benchmark = cudnn_benchmark


class _Report(dict):
    """`make_deterministic`'s report; as a context manager, it switches back on exit."""

    def __init__(self, report, previous):
        super().__init__(report)
        self._previous = previous

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        _restore(self._previous)
        return False


def _jax():
    import jax

    platform = jax.default_backend()
    if platform == "cpu":
        return "seeded; XLA's CPU kernels are deterministic (nothing to switch)"
    if _XLA_GPU_FLAG.split("=")[0] in os.environ.get("XLA_FLAGS", ""):
        return f"seeded; {platform}: XLA_FLAGS has {_XLA_GPU_FLAG}"
    return (
        f"seeded; {platform}: NOT deterministic: set XLA_FLAGS={_XLA_GPU_FLAG} before JAX starts "
        "(it is read once, when JAX first looks for devices)"
    )


def make_deterministic(seed, deterministic_ops=True):
    """Seeds every random number generator and turns on deterministic ops.

    With it, running the same program twice on the same machine, with the
    same backend, library versions, device and thread counts, gives the same
    weights and metrics, epoch after epoch. It

    - calls `keras.utils.set_random_seed(seed)`: Python's `random`, NumPy,
      TensorFlow (whatever the backend: `tf.data` pipelines use it) and
      torch's generator under the torch backend, and starts Keras's global
      `SeedGenerator` (weight initialisation, dropout, drop path) again
      from the seed, on every Keras version (`set_random_seed` itself only
      does that from Keras 3.13);
    - TensorFlow, if installed (any backend, for `tf.data`):
      `tf.config.experimental.enable_op_determinism()`. Ops without a
      deterministic kernel then raise instead of varying (on GPUs, mostly
      some scatter and segment reductions), so do random ops when no seed
      is set and `tf.random.get_global_generator()` (keras-cv's layers),
      and `tf.data` keeps element order and runs serially any `map` whose
      function holds stateful ops (`keras_vit.data.make_dataset` feeds the
      augmentation layers stateless seeds, so its maps stay parallel);
    - torch backend: `torch.use_deterministic_algorithms(True,
      warn_only=True)` (an op without a deterministic version warns once
      instead of failing), deterministic cuDNN without autotuning, and
      `CUBLAS_WORKSPACE_CONFIG=:4096:8` when CUDA is present;
    - JAX backend: nothing to switch on CPU, where XLA's kernels are
      deterministic; on GPUs XLA needs
      `XLA_FLAGS=--xla_gpu_deterministic_ops=true` in the environment
      before JAX starts, which this function can only check (the returned
      line says so).

    The seeding is what makes `keras_vit.data` pipelines repeat: the
    shuffle and the per-image augmentation and mixing draws follow
    TensorFlow's global seed where no `seed` is given to them.

    What stays different: results on another machine or CPU type (other
    vector units choose other kernels, e.g. AVX-512 or AMX), with another
    number of threads or devices (reductions are split differently), with
    other versions of TensorFlow, JAX, PyTorch or Keras, between CPU and
    GPU, between backends, and in multi-worker training. A resumed run
    (`BackupAndRestore`) repeats its interrupted epoch with other
    augmentation draws than an uninterrupted one.

    Cost: none measurable on CPU. The `make demo` settings (digits at 32 px,
    4 blocks of width 64, batch 64, crop, MixUp, erasing, drop path) for 5
    epochs on a shared 2-core x86 CPU, median training images/s of three
    runs each, without and with this function: TensorFlow 231 and 233,
    JAX 245 and 258, PyTorch 335 and 351 (runs of one setting vary by up to
    20%). Both settings repeat exactly; on TensorFlow the deterministic
    kernels change the last digits of the losses, not their repeatability.
    On GPUs deterministic kernels can be markedly slower (the frameworks
    document cases from 10% to several times, mostly convolutions and
    scatter-type gradients); Transformer training is less affected.

    Args:
        seed: int in [0, 2**32 - 1]. The seed for every generator.
        deterministic_ops: bool. Also switch the backends to deterministic
            ops (defaults to True); False only seeds. The switches are
            process-wide: called plainly they stay on; used as
            `with make_deterministic(seed):` they are switched back as they
            were when the block ends (the seeds stay set).

    Returns:
        A dict with what was done, by component: `"seed"` (the seed) and
        one entry, a sentence, for each of `"tensorflow"` (if installed)
        and the active backend if it is `"jax"` or `"torch"`. It is also a
        context manager (see `deterministic_ops`).

    Raises:
        TypeError: `seed` is not an integer.
        ValueError: `seed` is out of range.

    Example:
    >>> import keras
    >>> with make_deterministic(0) as report:
    ...     a = keras.random.uniform((2,))  # the global SeedGenerator, reset
    >>> report["seed"], "enable_op_determinism" in report["tensorflow"]
    (0, True)
    >>> with make_deterministic(0):
    ...     b = keras.random.uniform((2,))
    >>> bool(keras.ops.all(a == b))
    True
    """
    seed = check_unsigned_seed("seed", seed)
    # Imported first so that _switches() records their state.
    if importlib.util.find_spec("tensorflow") is not None:
        importlib.import_module("tensorflow")
    if keras.backend.backend() == "torch":
        importlib.import_module("torch")
    previous = _switches()
    keras.utils.set_random_seed(seed)
    _reset_global_seed_generator()
    report = {"seed": seed}
    tensorflow_line = _tensorflow(deterministic_ops)
    if tensorflow_line is not None:
        report["tensorflow"] = tensorflow_line
    backend = keras.backend.backend()
    if backend == "torch":
        report["torch"] = _torch(deterministic_ops)
    elif backend == "jax":
        report["jax"] = _jax() if deterministic_ops else "seeded"
    return _Report(report, previous)
