"""The public namespace of keras_vit.distribute: what a user calls; the
helpers behind it stay in their submodules."""

import keras_vit.distribute as distribute
from keras_vit.distribute import jax_distribution, tf_strategy

PLUMBING = {
    tf_strategy: ("read_tf_config", "cluster_size", "is_chief", "choose_strategy", "find_tpu", "split_cpu"),
    jax_distribution: ("check_model_parallel", "num_replicas"),
}


def test_the_namespace_is_the_public_api():
    public = {name for name in vars(distribute) if not name.startswith("_")}
    submodules = {"auto", "jax_distribution", "replication", "tf_strategy"}
    assert public - submodules == set(distribute.__all__)
    for module, names in PLUMBING.items():
        for name in names:
            assert callable(getattr(module, name)), name
            assert not hasattr(distribute, name), name


def test_replicas_and_the_global_batch():
    assert distribute.replicas(None) == 1
    assert distribute.global_batch_size(32) == 32

    class Strategy:
        num_replicas_in_sync = 4

    assert distribute.global_batch_size(32, Strategy()) == 128
