"""Programs the distribution tests run in fresh processes.

Each needs a process of its own: logical CPU devices (TensorFlow) and the
host device count (XLA) are fixed when the framework starts, and a
multi-worker run is several processes. Run as
`python -m tests.distribute._scripts NAME [ARG]`; prints one JSON line.
"""

import json
import os
import sys


def tiny_vit(**kwargs):
    from keras_vit import VisionTransformer

    return VisionTransformer(patch_size=4, hidden_dim=16, num_layers=2, num_heads=2, mlp_dim=32,
                             input_shape=(8, 8, 3), classes=3, classifier_activation=None, **kwargs)


def data(n=16, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (n, 8, 8, 3)).astype("float32")
    return images, np.arange(n) % 3


def mirrored_step():
    """One AdamW step on 2 logical CPUs against one device, same global batch."""
    import numpy as np

    from keras_vit import distribute
    from keras_vit.distribute import tf_strategy

    tf_strategy.split_cpu(2)
    import keras

    from keras_vit.data import make_dataset
    from keras_vit.training import create_adamw

    keras.utils.set_random_seed(0)
    images, labels = data()

    def train(strategy):
        with strategy.scope():
            model = tiny_vit()
            model.set_weights(initial)
            model.compile(create_adamw(1e-3), keras.losses.CategoricalCrossentropy(from_logits=True))
        dataset = make_dataset((images, labels), batch_size=16, classes=3)
        model.fit(dataset, epochs=1, verbose=0)
        return model.get_weights()

    initial = tiny_vit().get_weights()
    mirrored = distribute.make_strategy("mirrored")
    single = train(distribute.make_strategy("default"))
    parallel = train(mirrored)
    return {
        "replicas": mirrored.num_replicas_in_sync,
        "max_difference": float(max(np.abs(a - b).max() for a, b in zip(single, parallel))),
        "moved": float(max(np.abs(a - b).max() for a, b in zip(single, initial))),
    }


def multiworker(path):
    """Two epochs under MultiWorkerMirroredStrategy; saves the final weights."""
    import numpy as np

    from keras_vit import distribute

    strategy = distribute.make_strategy("multiworker")
    import keras

    from keras_vit.data import make_dataset
    from keras_vit.training import WarmupCosine, WarmupCosineScheduler, create_adamw

    keras.utils.set_random_seed(0)
    images, labels = data(n=64)
    batch = distribute.global_batch_size(8, strategy)
    dataset = make_dataset((images, labels), batch_size=batch, classes=3, training=True, seed=0)
    with strategy.scope():
        model = tiny_vit()
        model.compile(create_adamw(0.0), keras.losses.CategoricalCrossentropy(from_logits=True))
    schedule = WarmupCosine(1e-3, total_steps=8, warmup_steps=2)
    history = model.fit(dataset, epochs=2, callbacks=[WarmupCosineScheduler(schedule)], verbose=0)
    np.savez(path, *model.get_weights())
    return {"replicas": strategy.num_replicas_in_sync, "loss": history.history["loss"], "global_batch": batch}


def jax_parallel():
    """DataParallel fit with the batch's sharding recorded, and ModelParallel
    against the unsharded model, on two host devices."""
    import jax
    import keras
    import numpy as np

    from keras_vit import distribute

    shardings = []

    class ShardingProbe(keras.layers.Layer):
        def call(self, x):
            jax.debug.inspect_array_sharding(x, callback=lambda sharding: shardings.append(sharding))
            return x

    images, labels = data()
    reference = tiny_vit()
    weights = reference.get_weights()
    expected = keras.ops.convert_to_numpy(reference(images))

    with distribute.data_parallel().scope():
        inputs = keras.Input((8, 8, 3))
        model = keras.Model(inputs, tiny_vit()(ShardingProbe()(inputs)))
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    batch_spec = [str(s.spec) for s in shardings]
    batch_devices = [len(s.device_set) for s in shardings]

    with distribute.model_parallel(model_axis_size=2).scope():
        sharded = tiny_vit()
        sharded.set_weights(weights)
        kernel = sharded.get_layer("transformer_block_0").mlp.dense_1.kernel.value
        query = sharded.get_layer("transformer_block_1").attention.query.kernel.value
        output = keras.ops.convert_to_numpy(sharded(images))
    return {
        "devices": len(jax.devices()),
        "loss": history.history["loss"],
        "batch_specs": batch_spec,
        "batch_devices": batch_devices,
        "mlp_kernel_shards": [list(s.data.shape) for s in kernel.addressable_shards],
        "query_kernel_shards": [list(s.data.shape) for s in query.addressable_shards],
        "model_parallel_max_difference": float(np.abs(output - expected).max()),
    }


def auto_distribute(strategy):
    """`auto_distribute(strategy, cpu_devices=2)` in a process whose JAX or
    TensorFlow has not started yet; a model built in its scope."""
    from keras_vit import distribute

    setup = distribute.auto_distribute(strategy, cpu_devices=2, verbose=False)
    with setup.scope():
        model = tiny_vit()
    import keras

    kernel = model.get_layer("transformer_block_0").mlp.dense_1.kernel
    sharding = getattr(kernel.value, "sharding", None)
    return {
        "name": setup.name,
        "replicas": setup.replicas,
        "is_chief": setup.is_chief,
        "devices": len(keras.distribution.list_devices()) if keras.backend.backend() == "jax" else None,
        "kernel_shards": len(sharding.device_set) if sharding is not None else None,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


if __name__ == "__main__":
    name, *arguments = sys.argv[1:]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    scripts = {"mirrored_step": mirrored_step, "multiworker": multiworker, "jax_parallel": jax_parallel,
               "auto_distribute": auto_distribute}
    result = scripts[name](*arguments)
    print("RESULT " + json.dumps(result))
