"""Fine-tune a pretrained ViT on a small labelled set, in stages.

The transfer-learning recipe of keras_vit.training, ready to copy into a
notebook:

1. a new head on a pretrained backbone (`--checkpoint`: a Google `.npz`,
   timm `.safetensors` or Keras `.weights.h5` loaded by the builders'
   `weights=`; without it, a small ViT pretrained here on the digits 0-4 of
   `keras_vit.data.load_digits`);
2. stage 1, head-only warm start: `freeze_backbone` trains the head alone,
   so the random head does not send large gradients into the backbone;
3. stage 2: `UnfreezeCallback` unfreezes everything in the same `fit`, at a
   lower learning rate, with layer-wise learning-rate decay
   (`create_layer_decay_adamw`: block i of L at `lr * decay ** (L - i)`);
4. the same architecture trained from scratch on the same examples, and a
   linear probe (head only throughout), for comparison.

The target task is the digits 5-9 with only `--per-class` training images
per class (the test split of 5-9 is held out). It prints a table of test
accuracies. Default: a few minutes on two CPU cores; `--quick`: under a
minute (a smoke test, the accuracies mean little). Any backend:

    KERAS_BACKEND=jax python examples/finetune.py
    python examples/finetune.py --checkpoint ViT-Ti_16.npz --variant ViTTiny --image-size 224
"""

import argparse
import os
import time

SOURCE_DIGITS = (0, 1, 2, 3, 4)
TARGET_DIGITS = (5, 6, 7, 8, 9)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="pretrained weights: a file (.npz, .safetensors, .weights.h5) or a "
                        "preset name (keras_vit.checkpoints.list_presets()); default: pretrain on digits 0-4")
    parser.add_argument("--variant", default="ViTTiny", help="builder for --checkpoint: ViTTiny, ViTSmall, ViTBase, ...")
    parser.add_argument("--patch-size", type=int, default=16, help="patch size of --checkpoint")
    parser.add_argument("--image-size", type=int, default=None, help="input resolution (default 32, or 224 with --checkpoint)")
    parser.add_argument("--preprocessing", default="vit", choices=("vit", "imagenet", "unit"),
                        help="pixel scaling the checkpoint expects ('vit': [-1, 1])")
    parser.add_argument("--per-class", type=int, default=10, help="target training images per class")
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--head-epochs", type=int, default=10, help="stage 1: head only")
    parser.add_argument("--finetune-epochs", type=int, default=40, help="stage 2: everything, layer-wise decay")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="stage 2 rate of the head (stage 1: 3x)")
    parser.add_argument("--layer-decay", type=float, default=0.75)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a few epochs of each stage (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.pretrain_epochs, args.head_epochs, args.finetune_epochs = 3, 2, 3
    if args.image_size is None:
        args.image_size = 224 if args.checkpoint else 32
    # Every check before any work starts.
    if args.checkpoint and not os.path.isfile(args.checkpoint):
        from keras_vit.checkpoints import PRESETS

        if args.checkpoint not in PRESETS:
            parser.error(f"--checkpoint {args.checkpoint!r}: neither a file nor a preset name")
    for name in ("per_class", "batch_size", "head_epochs", "finetune_epochs", "pretrain_epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if not 0.0 < args.layer_decay <= 1.0:
        parser.error("--layer-decay must be in (0, 1]")
    return args


def select(data, digits, per_class=None, seed=0):
    """The examples of `digits`, relabelled 0..len(digits)-1; optionally
    `per_class` of each, drawn at random."""
    import numpy as np

    images, labels = data
    rng = np.random.default_rng(seed)
    keep = []
    for digit in digits:
        indices = np.flatnonzero(labels == digit)
        keep.append(rng.permutation(indices)[:per_class] if per_class else indices)
    keep = np.sort(np.concatenate(keep))
    relabel = np.zeros(10, "int32")
    relabel[list(digits)] = np.arange(len(digits))
    return images[keep], relabel[labels[keep]]


def small_vit(classes, image_size, **kwargs):
    from keras_vit import VisionTransformer

    return VisionTransformer(
        patch_size=4, hidden_dim=64, num_layers=4, num_heads=4, mlp_dim=128,
        input_shape=(image_size, image_size, 3), classes=classes, classifier_activation=None,
        drop_path_rate=0.1, **kwargs,
    )


def compile_model(model, optimizer):
    import keras

    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def copy_backbone(source, target):
    """Copies every layer but the head (a new head for the new classes)."""
    for layer in source.layers:
        if layer.weights and layer.name != "head":
            target.get_layer(layer.name).set_weights(layer.get_weights())


def from_checkpoint(args, classes):
    """Builds `args.variant` from `args.checkpoint` with a new head."""
    import keras_vit

    builder = getattr(keras_vit, args.variant, None)
    if builder is None:
        raise SystemExit(f"--variant {args.variant!r}: not a keras_vit builder (ViTTiny, ViTSmall, ViTBase, ...)")
    model = builder(
        patch_size=args.patch_size, weights=args.checkpoint, classes=classes,
        input_shape=(args.image_size, args.image_size, 3), classifier_activation=None,
    )
    return model  # the loader reports what it loaded (and that the head is new)


def pretrained_backbone(args, source_train, classes):
    """Without a checkpoint: a small ViT trained on the source digits."""
    from keras_vit.data import make_dataset
    from keras_vit.training import WarmupCosine, create_adamw

    train = make_dataset(source_train, batch_size=64, classes=classes, training=True,
                         image_size=None if args.image_size == 32 else args.image_size,
                         augmentation=augmentation(args.seed), seed=args.seed)
    steps = int(train.cardinality())
    model = small_vit(classes, args.image_size)
    schedule = WarmupCosine(2e-3, total_steps=args.pretrain_epochs * steps, warmup_steps=min(3, args.pretrain_epochs - 1) * steps,
                            initial_learning_rate=1e-6, final_learning_rate=1e-5)
    compile_model(model, create_adamw(schedule, weight_decay=0.05))
    print(f"Pretraining on digits {SOURCE_DIGITS} ({len(source_train[1])} images, {args.pretrain_epochs} epochs)...")
    model.fit(train, epochs=args.pretrain_epochs, shuffle=False, verbose=2)
    return model


def augmentation(seed):
    from keras_vit.augmentation import image_augmentation

    return image_augmentation(crop_scale=(0.6, 1.0), flip=False, rand_augment_ops=0, erasing_probability=0.1, seed=seed)


def main(argv=None):
    args = parse_args(argv)

    import keras

    import keras_vit
    from keras_vit.data import load_digits, make_dataset
    from keras_vit.training import (
        UnfreezeCallback,
        WarmupCosine,
        create_adamw,
        create_layer_decay_adamw,
        freeze_backbone,
    )

    started = time.time()
    keras.utils.set_random_seed(args.seed)
    splits = load_digits(image_size=32, channels=3, seed=args.seed)
    classes = len(TARGET_DIGITS)
    target_train = select(splits.train, TARGET_DIGITS, per_class=args.per_class, seed=args.seed)
    target_test = select(splits.test, TARGET_DIGITS)
    resize = None if args.image_size == 32 else args.image_size

    def dataset(data, training):
        return make_dataset(data, batch_size=args.batch_size if training else 256, classes=classes,
                            training=training, image_size=resize, preprocessing=args.preprocessing,
                            augmentation=augmentation(args.seed) if training else None, seed=args.seed)

    train, test = dataset(target_train, True), dataset(target_test, False)
    epochs = args.head_epochs + args.finetune_epochs
    steps = int(train.cardinality())

    if args.checkpoint:
        def pretrained():
            return from_checkpoint(args, classes)

        def scratch():
            return getattr(keras_vit, args.variant)(
                patch_size=args.patch_size, classes=classes, input_shape=(args.image_size, args.image_size, 3),
                classifier_activation=None)
    else:
        source = pretrained_backbone(args, select(splits.train, SOURCE_DIGITS), len(SOURCE_DIGITS))

        def pretrained():
            model = small_vit(classes, args.image_size)
            copy_backbone(source, model)
            return model

        def scratch():
            return small_vit(classes, args.image_size)

    results = {}
    print(f"\nTarget: digits {TARGET_DIGITS}, {len(target_train[1])} training images "
          f"({args.per_class} per class), {len(target_test[1])} test images.")

    # 1. From scratch on the small set, the usual recipe (warmup + cosine).
    print(f"\n[1/3] From scratch, {epochs} epochs...")
    model = scratch()
    schedule = WarmupCosine(2e-3, total_steps=epochs * steps, warmup_steps=min(5, epochs - 1) * steps,
                            initial_learning_rate=1e-6, final_learning_rate=1e-5)
    compile_model(model, create_adamw(schedule, weight_decay=0.05))
    model.fit(train, epochs=epochs, shuffle=False, verbose=0)
    results["from scratch"] = model.evaluate(test, verbose=0)[1]

    # 2. Linear probe: the pretrained backbone frozen throughout.
    print(f"[2/3] Pretrained, head only (linear probe), {epochs} epochs...")
    model = pretrained()
    freeze_backbone(model)
    compile_model(model, create_adamw(3 * args.learning_rate, weight_decay=0.05))
    model.fit(train, epochs=epochs, shuffle=False, verbose=0)
    results["pretrained, head only"] = model.evaluate(test, verbose=0)[1]

    # 3. Staged fine-tuning in one fit: head only, then everything with
    #    layer-wise decay at a lower rate.
    print(f"[3/3] Pretrained, {args.head_epochs} epochs head only, then {args.finetune_epochs} epochs "
          f"everything (layer decay {args.layer_decay})...")
    model = pretrained()
    freeze_backbone(model)
    optimizer = create_layer_decay_adamw(model, 3 * args.learning_rate, layer_decay=args.layer_decay, weight_decay=0.05)
    compile_model(model, optimizer)
    unfreeze_callback = UnfreezeCallback(epoch=args.head_epochs, learning_rate=args.learning_rate)
    model.fit(train, epochs=epochs, callbacks=[unfreeze_callback], shuffle=False, verbose=0)
    results["pretrained, staged fine-tune + LLRD"] = model.evaluate(test, verbose=0)[1]

    width = max(len(name) for name in results)
    print(f"\n{'model':<{width}}  test accuracy")
    for name, accuracy in results.items():
        print(f"{name:<{width}}  {accuracy:.4f}")
    print(f"(chance: {1 / classes:.2f}; {time.time() - started:.0f} s)")
    return results


if __name__ == "__main__":
    main()
