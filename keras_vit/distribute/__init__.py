"""Training on several devices and machines with the existing engines.

TensorFlow backend: `tf.distribute` strategies (`auto_strategy`,
`make_strategy`), TensorFlow imported only when called. JAX backend:
`keras.distribution` layouts (`data_parallel`, `model_parallel`,
`vit_layout_map`). `replicas` and `global_batch_size` work with either.
"""

from keras_vit.distribute.jax_distribution import (
    check_model_parallel,
    data_parallel,
    model_parallel,
    num_replicas,
    vit_layout_map,
)
from keras_vit.distribute.tf_strategy import (
    STRATEGIES,
    auto_strategy,
    choose_strategy,
    cluster_size,
    find_tpu,
    is_chief,
    make_strategy,
    read_tf_config,
    split_cpu,
)


def replicas(strategy_or_distribution=None):
    """Data-parallel replicas of a `tf.distribute.Strategy`, a
    `keras.distribution.Distribution`, or None (1)."""
    if strategy_or_distribution is None:
        return 1
    if hasattr(strategy_or_distribution, "num_replicas_in_sync"):
        return int(strategy_or_distribution.num_replicas_in_sync)
    return num_replicas(strategy_or_distribution)


def global_batch_size(per_replica_batch_size, strategy_or_distribution=None):
    """`per_replica_batch_size x replicas`: the batch to give `tf.data`.

    Example:
    >>> global_batch_size(64)
    64
    """
    return int(per_replica_batch_size) * replicas(strategy_or_distribution)


__all__ = [
    "STRATEGIES",
    "auto_strategy",
    "check_model_parallel",
    "choose_strategy",
    "cluster_size",
    "data_parallel",
    "find_tpu",
    "global_batch_size",
    "is_chief",
    "make_strategy",
    "model_parallel",
    "num_replicas",
    "read_tf_config",
    "replicas",
    "split_cpu",
    "vit_layout_map",
]
