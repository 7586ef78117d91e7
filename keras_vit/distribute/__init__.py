"""Training on several devices and machines with the existing engines.

`auto_distribute` sets up whatever the running backend offers and returns
its scope and replica count. Underneath, TensorFlow backend:
`tf.distribute` strategies (`auto_strategy`, `make_strategy`), TensorFlow
imported only when called; JAX backend: `keras.distribution` layouts
(`data_parallel`, `model_parallel`, `vit_layout_map`). `replicas` and
`global_batch_size` work with either. The helpers behind them (`TF_CONFIG`
parsing, TPU detection, CPU splitting) stay in the submodules
`keras_vit.distribute.tf_strategy` and `keras_vit.distribute.jax_distribution`.
"""

from keras_vit.distribute.auto import STRATEGY_CHOICES, DistributionSetup, auto_distribute
from keras_vit.distribute.jax_distribution import data_parallel, model_parallel, vit_layout_map
from keras_vit.distribute.replication import global_batch_size, replicas
from keras_vit.distribute.tf_strategy import STRATEGIES, auto_strategy, make_strategy

__all__ = [
    "STRATEGIES",
    "STRATEGY_CHOICES",
    "DistributionSetup",
    "auto_distribute",
    "auto_strategy",
    "data_parallel",
    "global_batch_size",
    "make_strategy",
    "model_parallel",
    "replicas",
    "vit_layout_map",
]
