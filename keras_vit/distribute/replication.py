"""How many copies of the model a strategy or distribution trains, and the
batch that feeds them."""

from keras_vit.distribute.jax_distribution import num_replicas


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
