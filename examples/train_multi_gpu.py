"""Train a ViT on several GPUs, or several machines, with tf.distribute.

One machine with N GPUs (MirroredStrategy, chosen on its own):

    KERAS_BACKEND=tensorflow python examples/train_multi_gpu.py --model S/16 \\
        --dataset tfds:cifar10 --batch-size 128 --epochs 100

Several machines (MultiWorkerMirroredStrategy): run the same command on each,
with TF_CONFIG naming every machine and this machine's index (0 is the chief,
which writes the files):

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}' python examples/train_multi_gpu.py ...

No GPU at hand? `--cpu-devices 2` splits the CPU into two devices, which runs
the same MirroredStrategy code path (slowly):

    KERAS_BACKEND=tensorflow python examples/train_multi_gpu.py --cpu-devices 2 --epochs 2

What it shows: the strategy from `keras_vit.distribute.auto_strategy`, the
global batch (`--batch-size` per replica x replicas) fed by a `tf.data`
pipeline that augments and drops the remainder, DeiT's learning-rate rule
applied to the global batch, and the model built and compiled inside
`strategy.scope()`; `fit` does the rest.
"""

import argparse
import os


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="Ti/16", help="variant, e.g. Ti/16, S/16, B/16 (default: Ti/16)")
    parser.add_argument("--dataset", default="digits", help="digits or tfds:NAME (default: digits)")
    parser.add_argument("--data-dir", default=None, help="tfds data_dir")
    parser.add_argument("--image-size", type=int, default=None, help="default: 32 for digits, 224 otherwise")
    parser.add_argument("--batch-size", type=int, default=32, help="per replica (default: 32)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--base-learning-rate", type=float, default=5e-4, help="per 512 images (DeiT)")
    parser.add_argument("--cpu-devices", type=int, default=None, help="split the CPU into N devices")
    parser.add_argument("--output-dir", default="runs/multi_gpu")
    args = parser.parse_args(argv)

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from keras_vit import distribute

    # TPU, TF_CONFIG cluster, several GPUs, or one device (JAX: data parallel over all devices).
    setup = distribute.auto_distribute(cpu_devices=args.cpu_devices)

    import keras

    from keras_vit import VisionTransformer, data, get_variant_config
    from keras_vit.augmentation import image_augmentation, label_mixing
    from keras_vit.data.sources import default_image_size
    from keras_vit.training import WarmupCosine, WarmupCosineScheduler, create_adamw, scale_learning_rate

    global_batch = args.batch_size * setup.replicas
    image_size = args.image_size or default_image_size(args.dataset)  # 32 for digits, else 224
    splits = data.load_dataset(
        args.dataset, image_size=image_size, batch_size=global_batch, data_dir=args.data_dir, seed=0,
        augmentation=image_augmentation(crop_scale=(0.35, 1.0), rand_augment_magnitude=0.3, seed=0),
        mixing=label_mixing(seed=0),
    )
    train, test, num_classes = splits.train, splits.test, splits.num_classes

    steps = int(train.cardinality())
    schedule = scale_learning_rate(
        WarmupCosine(args.base_learning_rate, total_steps=args.epochs * steps,
                     warmup_steps=max(1, min(5, args.epochs - 1) * steps), final_learning_rate=1e-5),
        global_batch,
    )
    with setup.scope():  # variables are created once per replica, kept in sync
        sizes = get_variant_config(args.model)
        if image_size <= 64:
            sizes["patch_size"] = 4  # small images: the variant's width and depth, 4-pixel patches
        model = VisionTransformer(**sizes, input_shape=(image_size, image_size, 3), classes=num_classes,
                                  classifier_activation=None, drop_path_rate=0.1)
        model.compile(
            optimizer=create_adamw(learning_rate=0.0, weight_decay=0.05),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
    print(f"{model.count_params():,} parameters; global batch {global_batch} "
          f"= {args.batch_size} x {setup.replicas} replicas; peak lr {schedule.peak_learning_rate:.3g}")
    model.fit(train, epochs=args.epochs, callbacks=[WarmupCosineScheduler(schedule)], shuffle=False, verbose=2)
    _, accuracy = model.evaluate(test, verbose=0)
    print(f"test accuracy: {accuracy:.4f}")
    if setup.is_chief:  # only the chief writes
        os.makedirs(args.output_dir, exist_ok=True)
        model.save(os.path.join(args.output_dir, "model.keras"))
    return accuracy


if __name__ == "__main__":
    main()
