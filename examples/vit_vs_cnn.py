"""ViT vs CNN on little data: a small ViT and a small ResNet, same recipe.

The common claim under test: a CNN wins on small data thanks to its
built-in locality and translation equivariance, while a ViT needs big data,
pretraining or strong augmentation. This script measures it on the bundled
digits (`keras_vit.data.load_digits`, 8x8 upsampled to 32 px):

- models of similar size (both counts are printed): the digits demo's ViT
  (`keras_vit.VisionTransformer`, patch 4, width 64, 4 blocks, 4 heads, MLP
  128, drop path 0.1 as in the demo; 142,026 parameters) and a ResNet-14
  written below with `keras.layers` (3 stages of 2 basic blocks, 16/32/64
  filters, batch norm, no stochastic depth; 176,698, 1.24x);
- one recipe for both: AdamW (weight decay 0.05, not on biases and norms,
  `create_adamw`), linear warmup (1/12 of the steps, as the demo's 5 of 60
  epochs) to 2e-3 then cosine to 1e-5 (`WarmupCosine`), label smoothing 0.1,
  batch 64, float32;
- **the same number of optimizer steps in every run** (default 300, about 15
  epochs of the full training split): a 10% subset is seen for more epochs,
  so every run costs the same compute and accuracy differences across
  fractions come from the data, not from a shorter schedule;
- training subsets of 10%, 30% and 100% of the 1,257 training images
  (stratified by digit; seed `s` draws subset `s` and initialisation `s`,
  the same for both models), always the same 270 test images; the
  validation split is not used (no checkpoint selection: the weights after
  the last step are evaluated);
- each with and without the demo's augmentation (random resized crop of
  60-100% of the area, MixUp alpha 0.2, random erasing p 0.1; no flips,
  RandAugment or CutMix, which change what a digit is at 32 px).

It writes `results.json` (settings, every run, the summary), `results.csv`
and `results.md` (the table: model, params, fraction, augmentation, test
accuracy as mean +- std over seeds, training images/s) and
`accuracy_vs_fraction.png` into `--output-dir`, updating the tables after
every run. It refuses to start if any of these files already exists there.

The default (2 seeds, 24 runs, 7,200 training steps in all) took 27 minutes
on two CPU cores with the TensorFlow backend while other jobs kept the load
average at 7-11; the same 7,200 steps (`--steps 900 --seeds 1 --fractions
0.1 1.0`) took 19 minutes at load 2.5-6. The result and what it says are in
docs/vit_vs_cnn.md. `--quick` is a smoke test whose accuracies mean nothing:
35 s at load 2.5, 86 s at load 5.

    KERAS_BACKEND=tensorflow python examples/vit_vs_cnn.py
    python examples/vit_vs_cnn.py --quick --output-dir /tmp/vit_vs_cnn_quick
    python examples/vit_vs_cnn.py --seeds 5 --steps 600   # tighter error bars, ~5x longer
    python examples/vit_vs_cnn.py --steps 900 --seeds 1 --fractions 0.1 1.0 --output-dir runs/vit_vs_cnn_900steps
"""

import argparse
import csv
import json
import math
import os
import platform
import statistics
import sys
import time

MODELS = ("CNN (ResNet-14)", "ViT")
RESULT_FILES = ("results.json", "results.csv", "results.md", "accuracy_vs_fraction.png")
CHUNKS = 5  # `fit` epochs per run; images/s is the median of all but the first


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=os.path.join("runs", "vit_vs_cnn"))
    parser.add_argument("--fractions", type=float, nargs="+",
                        help="fractions of the 1,257 training images (default: 0.1 0.3 1.0; --quick: 0.1 1.0)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1 per setting, averaged (default: 2)")
    parser.add_argument("--steps", type=int, default=300,
                        help="optimizer steps per run, the same for every fraction and model; rounded down to a "
                        f"multiple of {CHUNKS} (default: 300)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="peak learning rate (default: 2e-3)")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 1 seed, fractions 0.1 and 1.0, 5 steps per run (the accuracies mean nothing)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.steps = 1, CHUNKS
    if args.fractions is None:
        args.fractions = [0.1, 1.0] if args.quick else [0.1, 0.3, 1.0]
    # Every check before any work starts.
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    if args.steps < CHUNKS:
        parser.error(f"--steps must be at least {CHUNKS}, got {args.steps}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    for fraction in args.fractions:
        if not 0.0 < fraction <= 1.0:
            parser.error(f"--fractions must lie in (0, 1], got {fraction}")
    args.fractions = sorted(set(args.fractions))
    if args.learning_rate <= 1e-5:
        parser.error(f"--learning-rate must exceed the final rate 1e-5, got {args.learning_rate}")
    existing = [name for name in RESULT_FILES if os.path.exists(os.path.join(args.output_dir, name))]
    if existing:
        parser.error(f"{args.output_dir} already holds {', '.join(existing)} from an earlier run; "
                     "results are never overwritten: pass another --output-dir or move those files away")
    return args


def small_resnet(input_shape=(32, 32, 3), classes=10, widths=(16, 32, 64), blocks_per_stage=2, name="resnet14"):
    """A CIFAR-style ResNet (He et al. 2016, section 4.2) returning logits.

    A 3x3 stem, then one stage per width of `blocks_per_stage` basic blocks
    (two 3x3 convolutions with batch norm, identity shortcut, a 1x1
    projection where the shape changes), global average pooling and a dense
    head: 6n+2 layers, ResNet-14 with the defaults. One deviation: the first
    stage also halves the resolution (32 -> 16 -> 8 -> 4 instead of
    32 -> 32 -> 16 -> 8). The digits are 8x8 images upsampled, so 16x16 loses
    nothing, and the CNN then runs at the ViT's speed per image instead of
    five times slower on a CPU.
    """
    import keras
    from keras import layers

    # PyTorch's batch-norm momentum (0.1 there, 0.9 in Keras's convention).
    # With Keras's default 0.99 the moving statistics are still 22% of their
    # initial values after 150 steps (0.99 ** 150) and 5% after 300, and the
    # error compounds over 13 layers: on the 10% subset the CNN scored 12%
    # (150 steps) and 25% (300 steps) in inference mode, against 89% with
    # batch statistics.
    def batch_norm(name):
        return layers.BatchNormalization(momentum=0.9, name=name)

    def basic_block(x, filters, stride, prefix):
        shortcut = x
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{prefix}_conv_1")(x)
        y = batch_norm(f"{prefix}_bn_1")(y)
        y = layers.ReLU(name=f"{prefix}_relu_1")(y)
        y = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{prefix}_conv_2")(y)
        y = batch_norm(f"{prefix}_bn_2")(y)
        if stride != 1 or x.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{prefix}_projection")(x)
            shortcut = batch_norm(f"{prefix}_projection_bn")(shortcut)
        y = layers.Add(name=f"{prefix}_add")([y, shortcut])
        return layers.ReLU(name=f"{prefix}_relu_2")(y)

    images = keras.Input(shape=input_shape, name="images")
    x = layers.Conv2D(widths[0], 3, padding="same", use_bias=False, name="stem_conv")(images)
    x = batch_norm("stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(widths):
        for block in range(blocks_per_stage):
            x = basic_block(x, filters, 2 if block == 0 else 1, f"stage_{stage}_block_{block}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(classes, name="head")(x)
    return keras.Model(images, logits, name=name)


def build_model(name, classes):
    if name == "ViT":
        from keras_vit import VisionTransformer

        return VisionTransformer(
            patch_size=4, hidden_dim=64, num_layers=4, num_heads=4, mlp_dim=128,
            input_shape=(32, 32, 3), classes=classes, classifier_activation=None, drop_path_rate=0.1,
        )
    return small_resnet(classes=classes)


def stratified_subset(data, fraction, seed):
    """`fraction` of `data`, every digit in its proportion (all of it at 1.0)."""
    from sklearn.model_selection import train_test_split

    images, labels = data
    if fraction >= 1.0:
        return images, labels
    keep, _ = train_test_split(range(len(labels)), train_size=fraction, stratify=labels, random_state=seed)
    keep = sorted(keep)
    return images[keep], labels[keep]


def training_stream(subset, args, classes, augment, seed):
    """An endless shuffled stream of `subset` in batches, augmented or not."""
    import tensorflow as tf

    from keras_vit.augmentation import image_augmentation, label_mixing
    from keras_vit.data import make_dataset

    augmentation = mixing = None
    if augment:
        augmentation = image_augmentation(
            crop_scale=(0.6, 1.0), flip=False, rand_augment_ops=0, erasing_probability=0.1, seed=seed
        )
        mixing = label_mixing(mixup_alpha=0.2, cutmix_alpha=0.0, seed=seed)
    # Repeating the examples before the shuffle (buffer = the whole subset)
    # gives full batches from 125 images too, and epoch-like reshuffling.
    source = tf.data.Dataset.from_tensor_slices(subset).repeat()
    return make_dataset(source, batch_size=args.batch_size, classes=classes, training=True,
                        augmentation=augmentation, mixing=mixing, shuffle_buffer=len(subset[1]), seed=seed)


def reset_optimizer(optimizer):
    """Zeroes the step counter, learning rate and moments (a fresh AdamW)."""
    import keras

    for variable in optimizer.variables:
        variable.assign(keras.ops.zeros(variable.shape, variable.dtype))


def summarize(records):
    """One row per (model, fraction, augmentation): mean and std over seeds."""
    groups = {}
    for record in records:
        key = (record["model"], record["fraction"], record["augmentation"])
        groups.setdefault(key, []).append(record)
    rows = []
    for (model, fraction, augmentation), runs in groups.items():
        accuracies = [run["test_accuracy"] for run in runs]
        rows.append({
            "model": model,
            "params": runs[0]["params"],
            "fraction": fraction,
            "train_images": runs[0]["train_images"],
            "augmentation": augmentation,
            "test_accuracy_mean": statistics.fmean(accuracies),
            "test_accuracy_std": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
            "seeds": len(runs),
            "train_images_per_second": statistics.fmean(run["train_images_per_second"] for run in runs),
        })
    rows.sort(key=lambda row: (row["model"], row["fraction"], row["augmentation"]))
    return rows


def markdown_table(rows):
    lines = ["| model | params | fraction (train images) | augmentation | test accuracy | training images/s |",
             "|---|---:|---|---|---:|---:|"]
    for row in rows:
        accuracy = f"{100 * row['test_accuracy_mean']:.1f}%"
        if row["test_accuracy_std"] is not None:
            accuracy += f" ± {100 * row['test_accuracy_std']:.1f}"
        lines.append(
            f"| {row['model']} | {row['params']:,} | {100 * row['fraction']:.0f}% ({row['train_images']}) "
            f"| {'on' if row['augmentation'] else 'off'} | {accuracy} | {row['train_images_per_second']:.0f} |"
        )
    return "\n".join(lines)


def write_results(output_dir, settings, records, complete):
    rows = summarize(records)
    with open(os.path.join(output_dir, "results.json"), "w") as file:
        json.dump({"complete": complete, "settings": settings, "summary": rows, "runs": records}, file, indent=2)
    with open(os.path.join(output_dir, "results.csv"), "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    table = markdown_table(rows)
    with open(os.path.join(output_dir, "results.md"), "w") as file:
        if not complete:
            file.write(f"(partial: {len(records)} of {settings['runs']} runs)\n\n")
        file.write(table + "\n")
    return table


def plot(rows, path, settings):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    colors = {"ViT": "tab:orange", MODELS[0]: "tab:blue"}
    for model in MODELS:
        for augmentation in (False, True):
            line = [row for row in rows if row["model"] == model and row["augmentation"] == augmentation]
            if not line:
                continue
            params = line[0]["params"]
            axes.errorbar(
                [row["train_images"] for row in line],
                [100 * row["test_accuracy_mean"] for row in line],
                yerr=[100 * (row["test_accuracy_std"] or 0.0) for row in line],
                color=colors[model], linestyle="--" if augmentation else "-", marker="o", capsize=3,
                label=f"{model}, {params / 1000:.0f}k params, augmentation {'on' if augmentation else 'off'}",
            )
    images = sorted({row["train_images"] for row in rows})
    axes.set_xscale("log")
    axes.set_xticks(images, [f"{n}\n({100 * n / images[-1]:.0f}%)" for n in images])
    axes.minorticks_off()
    axes.set_xlabel("training images (fraction of the digits training split)")
    axes.set_ylabel("test accuracy (%), 270 images")
    seeds = settings["seeds"]
    axes.set_title(f"Digits 32 px, {settings['steps']} steps of batch {settings['batch_size']} per run, "
                   f"{seeds} seed{'s' if seeds > 1 else ''}" + (" (mean ± std)" if seeds > 1 else ""), fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()

    import keras

    from keras_vit.data import load_digits, make_dataset
    from keras_vit.training import ThroughputMeter, WarmupCosine, WarmupCosineScheduler, create_adamw

    os.makedirs(args.output_dir, exist_ok=True)
    splits = load_digits(image_size=32, channels=3, seed=0)  # the same test split for every run
    classes = len(splits.class_names)
    steps_per_chunk = args.steps // CHUNKS
    steps = steps_per_chunk * CHUNKS
    schedule = WarmupCosine(args.learning_rate, total_steps=steps, warmup_steps=max(1, round(steps / 12)),
                            initial_learning_rate=1e-6, final_learning_rate=1e-5)
    test_labels = splits.test[1]
    test = make_dataset(splits.test, batch_size=256, classes=classes)
    settings = {
        "backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.platform()})",
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "fractions": args.fractions,
        "seeds": args.seeds,
        "steps": steps,
        "batch_size": args.batch_size,
        "schedule": schedule.get_config(),
        "weight_decay": args.weight_decay,
        "label_smoothing": args.label_smoothing,
        "test_images": len(test_labels),
        "runs": len(MODELS) * len(args.fractions) * 2 * args.seeds,
        # Other processes share the CPU: images/s and wall time depend on them.
        "load_average_at_start": os.getloadavg(),
    }

    # Tracing a Keras train step costs 10-20 s on two busy CPU cores, more
    # than a whole short run. So each architecture is built and compiled
    # once; a run loads that seed's initial weights and zeroes the optimizer,
    # which is a fresh model and a fresh AdamW without retracing.
    models, initial_weights = {}, {}
    for name in MODELS:
        for seed in range(args.seeds):
            keras.utils.set_random_seed(seed)
            model = build_model(name, classes)
            initial_weights[name, seed] = model.get_weights()
        models[name] = model  # the last one built is the one trained
        model.compile(
            optimizer=create_adamw(learning_rate=0.0, weight_decay=args.weight_decay),
            loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=args.label_smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
        trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
        print(f"{name}: {model.count_params():,} parameters ({trainable:,} trainable)")
    counts = [models[name].count_params() for name in MODELS]
    print(f"parameter ratio {max(counts) / min(counts):.2f}; {steps} steps of batch {args.batch_size} per run, "
          f"{settings['runs']} runs, backend {settings['backend']}\n", flush=True)

    records = []
    for seed in range(args.seeds):
        for fraction in args.fractions:
            subset = stratified_subset(splits.train, fraction, seed)
            for augment in (False, True):
                for name in MODELS:
                    run_started = time.perf_counter()
                    keras.utils.set_random_seed(seed)
                    model = models[name]
                    model.set_weights(initial_weights[name, seed])
                    reset_optimizer(model.optimizer)
                    meter = ThroughputMeter(args.batch_size)
                    history = model.fit(
                        training_stream(subset, args, classes, augment, seed),
                        epochs=CHUNKS,
                        steps_per_epoch=steps_per_chunk,
                        shuffle=False,  # the stream shuffles
                        callbacks=[WarmupCosineScheduler(schedule, steps_per_epoch=steps_per_chunk), meter],
                        verbose=0,
                    )
                    _, accuracy = model.evaluate(test, verbose=0)
                    record = {
                        "model": name,
                        "params": model.count_params(),
                        "fraction": fraction,
                        "train_images": len(subset[1]),
                        "augmentation": augment,
                        "seed": seed,
                        "test_accuracy": float(accuracy),
                        "final_train_loss": float(history.history["loss"][-1]),
                        "train_images_per_second": meter.steady_images_per_second(),
                        "run_seconds": time.perf_counter() - run_started,
                    }
                    records.append(record)
                    print(f"[{len(records)}/{settings['runs']}] {name:<15} {100 * fraction:3.0f}% "
                          f"({record['train_images']:4d} images), augmentation {'on ' if augment else 'off'}, "
                          f"seed {seed}: test accuracy {accuracy:.4f}, "
                          f"{record['train_images_per_second']:.0f} images/s, {record['run_seconds']:.0f} s "
                          f"({time.perf_counter() - started:.0f} s total)", flush=True)
                    settings["wall_seconds"] = time.perf_counter() - started
                    write_results(args.output_dir, settings, records, complete=False)

    settings["wall_seconds"] = time.perf_counter() - started
    settings["load_average_at_end"] = os.getloadavg()
    rows = summarize(records)
    plot(rows, os.path.join(args.output_dir, "accuracy_vs_fraction.png"), settings)
    table = write_results(args.output_dir, settings, records, complete=True)
    print("\n" + table)
    print(f"\nchance: {1 / classes:.2f}; {len(test_labels)} test images; wall time {settings['wall_seconds']:.0f} s; "
          f"results in {args.output_dir}/ ({', '.join(RESULT_FILES)})")
    return rows


if __name__ == "__main__":
    main()
