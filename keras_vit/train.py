"""`keras-vit train`: train a Vision Transformer with the DeiT-style recipe.

Run `keras-vit train --help` (or `python -m keras_vit.train --help`) for the
flags. The recipe: AdamW with decoupled weight decay (not on biases, norms,
tokens, position embedding, LayerScale), a linear warmup + cosine learning
rate set every batch, optional global-norm clipping and gradient
accumulation, stochastic depth, label smoothing, random resized crop, flip,
RandAugment, random erasing and MixUp/CutMix, in float32, mixed bfloat16 or
mixed float16.

Everything a run writes goes to `--output-dir`:

- `config.json`: the run's settings;
- `history.csv`: one row per epoch (loss, accuracy, validation, `lr`,
  `images_per_second`, gradient norms with `--monitor-gradients`);
- `best.keras`: the model of the epoch with the best validation accuracy;
- `metrics.json`: test accuracy and loss of that model, training
  images/s, wall time;
- `curves.png`: loss, accuracy and learning-rate curves;
- `backup/`: the state of an unfinished run. Running the same command
  again resumes it at the epoch where it stopped (an interrupted epoch is
  re-run from its first batch); it is deleted when training ends.

A directory holding a finished run, or a run with other settings, is never
overwritten unless `--overwrite` is given (which removes only the files
listed above).
"""

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time

STRATEGY_CHOICES = ("auto", "mirrored", "multiworker", "tpu", "jax-data-parallel", "jax-model-parallel")
RUN_FILES = ("config.json", "history.csv", "best.keras", "metrics.json", "curves.png", "backup", "logs")

DATASET_HELP = (
    "digits (bundled, default), tfds:NAME (TensorFlow Datasets, e.g. tfds:cifar10), "
    "or folder:PATH (PATH/train/<class>/*.png and PATH/test/..., optional PATH/val)"
)


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def _non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a float >= 0, got {text}")
    return value


def _probability(text):
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _rate(text):
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def add_arguments(parser):
    """Adds the `train` flags to an `argparse` parser."""
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        default="custom",
        help="variant: Ti/16, S/16, S/32, B/16, B/32, B/8, L/16, L/32, H/14 (or vit_base_patch16, ...), "
        "or 'custom' for the sizes below (default: custom)",
    )
    model.add_argument("--hidden-dim", type=_positive_int, default=64, help="custom model width (default: 64)")
    model.add_argument("--num-layers", type=_positive_int, default=4, help="custom model depth (default: 4)")
    model.add_argument("--num-heads", type=_positive_int, default=4, help="custom model heads (default: 4)")
    model.add_argument("--mlp-dim", type=_positive_int, default=128, help="custom model MLP width (default: 128)")
    model.add_argument("--patch-size", type=_positive_int, default=None,
                       help="patch size (default: 4 for custom, the variant's own otherwise)")
    model.add_argument("--image-size", type=_positive_int, default=None,
                       help="training resolution (default: 32 for digits, 224 otherwise)")
    model.add_argument("--weights", default=None,
                       help="start from a pretrained checkpoint: a preset name (keras_vit.checkpoints."
                       "list_presets()) or a .npz/.safetensors/.weights.h5/.keras file; a different class "
                       "count gets a new head, another --image-size resamples the position embedding")
    model.add_argument("--preprocessing", choices=("vit", "imagenet", "unit"), default="vit",
                       help="input scaling: vit ([-1, 1], Google/AugReg weights), imagenet (mean/std, "
                       "DeiT weights) or unit ([0, 1]) (default: vit)")
    model.add_argument("--drop-path", type=_rate, default=0.1, help="stochastic depth rate at the last block (default: 0.1)")
    model.add_argument("--dropout", type=_rate, default=0.0, help="dropout rate (default: 0)")
    model.add_argument("--precision", choices=("float32", "mixed_bfloat16", "mixed_float16"), default="float32",
                       help="numeric precision (default: float32)")

    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="digits", help=DATASET_HELP)
    data.add_argument("--data-dir", default=None, help="tfds data_dir (default: ~/tensorflow_datasets)")
    data.add_argument("--train-split", default="train[:90%]", help="tfds training split (default: train[:90%%])")
    data.add_argument("--validation-split", default="train[90%:]", help="tfds validation split (default: train[90%%:])")
    data.add_argument("--test-split", default="test", help="tfds test split (default: test)")

    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--epochs", type=_positive_int, default=100, help="training epochs (default: 100)")
    optim.add_argument("--batch-size", type=_positive_int, default=64,
                       help="batch size per replica; the global batch is this x replicas (default: 64)")
    optim.add_argument("--learning-rate", type=float, default=1e-3,
                       help="peak learning rate (default: 1e-3); with --scale-learning-rate, per 512 images")
    optim.add_argument("--scale-learning-rate", action="store_true",
                       help="DeiT rule: multiply the learning rate by batch size x accumulation / 512")
    optim.add_argument("--warmup-epochs", type=_non_negative_float, default=5.0, help="linear warmup (default: 5)")
    optim.add_argument("--warmup-learning-rate", type=_non_negative_float, default=1e-6,
                       help="learning rate at step 0 (default: 1e-6)")
    optim.add_argument("--min-learning-rate", type=_non_negative_float, default=1e-5,
                       help="learning rate at the end of the cosine (default: 1e-5)")
    optim.add_argument("--weight-decay", type=_non_negative_float, default=0.05, help="AdamW weight decay (default: 0.05)")
    optim.add_argument("--clipnorm", type=float, default=None, help="clip gradients to this global norm (default: off)")
    optim.add_argument("--accumulation-steps", type=_positive_int, default=1,
                       help="average gradients over this many batches per update (default: 1)")
    optim.add_argument("--label-smoothing", type=_probability, default=0.1, help="label smoothing (default: 0.1)")

    aug = parser.add_argument_group("augmentation")
    aug.add_argument("--no-augment", action="store_true", help="turn every augmentation below off")
    aug.add_argument("--crop-scale", type=float, nargs=2, default=(0.08, 1.0), metavar=("MIN", "MAX"),
                     help="random resized crop area range (default: 0.08 1.0)")
    aug.add_argument("--no-crop", action="store_true", help="no random resized crop")
    aug.add_argument("--no-flip", action="store_true", help="no horizontal flips (use for digits and text)")
    aug.add_argument("--rand-augment-ops", type=_non_negative_int, default=2, help="RandAugment operations, 0 = off (default: 2)")
    aug.add_argument("--rand-augment-magnitude", type=_probability, default=0.5,
                     help="RandAugment strength in [0, 1], Keras's factor (default: 0.5)")
    aug.add_argument("--mixup", type=_non_negative_float, default=0.8, help="MixUp alpha, 0 = off (default: 0.8)")
    aug.add_argument("--cutmix", type=_probability, default=1.0, help="CutMix alpha in [0, 1], 0 = off (default: 1.0)")
    aug.add_argument("--mix-switch-probability", type=_probability, default=0.5,
                     help="probability of CutMix rather than MixUp per batch (default: 0.5)")
    aug.add_argument("--erasing", type=_probability, default=0.25, help="random erasing probability (default: 0.25)")

    dist = parser.add_argument_group("distribution")
    dist.add_argument("--strategy", choices=STRATEGY_CHOICES, default="auto",
                      help="auto (TensorFlow: TPU, TF_CONFIG cluster, several GPUs or one device; JAX: data "
                      "parallel over all devices), mirrored, multiworker, tpu (TensorFlow backend), "
                      "jax-data-parallel, jax-model-parallel (JAX backend) (default: auto)")
    dist.add_argument("--tpu", default=None, help="TPU name or 'local' (default: detect)")
    dist.add_argument("--model-axis-size", type=_positive_int, default=2,
                      help="devices one model copy is sharded over with jax-model-parallel (default: 2)")
    dist.add_argument("--steps-per-execution", type=_positive_int, default=1,
                      help="train steps per compiled call; 32-128 keeps a TPU busy (default: 1)")
    dist.add_argument("--cpu-devices", type=_positive_int, default=None,
                      help="split the CPU into this many devices, to try a strategy without accelerators")

    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, default=0, help="seed of the data split, initialisation and augmentation (default: 0)")
    run.add_argument("--output-dir", default=None, help="where the run's files go (default: runs/<dataset>-<model>-<time>)")
    run.add_argument("--overwrite", action="store_true", help="replace a finished run or one with other settings in --output-dir")
    run.add_argument("--monitor-gradients", action="store_true",
                     help="log global and per-block gradient norms each epoch")
    run.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs to OUTPUT_DIR/logs")
    run.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                     help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)")
    return parser


def _settings(args):
    """The arguments that define a run (compared when resuming)."""
    ignored = {"output_dir", "overwrite", "verbose", "tpu"}
    return {key: value for key, value in sorted(vars(args).items()) if key not in ignored}


def validate(args):
    """Checks combinations argparse cannot, before any work starts."""
    errors = []
    if args.learning_rate <= 0:
        errors.append(f"--learning-rate must be > 0, got {args.learning_rate}")
    if args.min_learning_rate > args.learning_rate:
        errors.append(f"--min-learning-rate ({args.min_learning_rate}) must not exceed --learning-rate ({args.learning_rate})")
    if args.clipnorm is not None and args.clipnorm <= 0:
        errors.append(f"--clipnorm must be > 0, got {args.clipnorm}")
    low, high = args.crop_scale
    if not 0 < low <= high <= 1:
        errors.append(f"--crop-scale must satisfy 0 < MIN <= MAX <= 1, got {low} {high}")
    if args.weights is not None:
        from keras_vit.checkpoints import PRESETS

        if not os.path.isfile(args.weights) and args.weights not in PRESETS:
            errors.append(f"--weights {args.weights!r} is neither a file nor a preset name "
                          "(see keras_vit.checkpoints.list_presets())")
    kind = args.dataset.split(":", 1)[0]
    if args.dataset != "digits" and kind not in ("tfds", "folder"):
        errors.append(f"--dataset must be {DATASET_HELP}; got {args.dataset!r}")
    if kind in ("tfds", "folder") and not args.dataset.split(":", 1)[1:]:
        errors.append(f"--dataset {kind}: needs a name or path after the colon")
    if args.warmup_epochs >= args.epochs:
        errors.append(f"--warmup-epochs ({args.warmup_epochs}) must be smaller than --epochs ({args.epochs})")
    patch = args.patch_size or 4
    if args.model != "custom":
        from keras_vit.models.variants import get_variant_config

        try:
            patch = get_variant_config(args.model, patch_size=args.patch_size)["patch_size"]
        except (TypeError, ValueError) as error:
            errors.append(f"--model/--patch-size: {error}")
    elif args.hidden_dim % args.num_heads:
        errors.append(f"--hidden-dim ({args.hidden_dim}) must be divisible by --num-heads ({args.num_heads})")
    import keras

    backend = keras.backend.backend()
    needs = {"mirrored": "tensorflow", "multiworker": "tensorflow", "tpu": "tensorflow",
             "jax-data-parallel": "jax", "jax-model-parallel": "jax"}.get(args.strategy)
    if needs and backend != needs:
        errors.append(f"--strategy {args.strategy} needs KERAS_BACKEND={needs} (the backend is {backend})")
    if args.strategy == "jax-model-parallel" and args.model == "custom":
        if args.num_heads % args.model_axis_size or args.mlp_dim % args.model_axis_size:
            errors.append(
                f"--strategy jax-model-parallel over {args.model_axis_size} devices needs --num-heads and "
                f"--mlp-dim divisible by {args.model_axis_size}"
            )
    if args.tensorboard:
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            errors.append("--tensorboard needs the tensorboard package: pip install keras-vit[tensorboard]")
    image_size = args.image_size or (32 if args.dataset == "digits" else 224)
    if image_size % patch:
        errors.append(f"--image-size ({image_size}) must be divisible by the patch size ({patch})")
    return errors


def prepare_output_dir(args):
    """Creates or checks the output directory; returns True when resuming."""
    path = args.output_dir
    config_path = os.path.join(path, "config.json")
    settings = _settings(args)
    if os.path.isdir(path) and os.listdir(path):
        finished = os.path.exists(os.path.join(path, "metrics.json"))
        saved = None
        if os.path.exists(config_path):
            with open(config_path) as handle:
                saved = json.load(handle)
        if args.overwrite:
            for name in RUN_FILES:
                target = os.path.join(path, name)
                if os.path.isdir(target):
                    shutil.rmtree(target)
                elif os.path.exists(target):
                    os.remove(target)
        elif finished:
            raise SystemExit(
                f"error: {path} holds a finished run (metrics.json). Choose another "
                "--output-dir, or pass --overwrite to replace it."
            )
        elif saved is None:
            raise SystemExit(
                f"error: {path} is not empty and holds no keras-vit run (config.json). "
                "Choose another --output-dir, or pass --overwrite (which removes only "
                "keras-vit's own files)."
            )
        elif saved != settings:
            changed = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
            raise SystemExit(
                f"error: {path} holds an unfinished run with other settings ({', '.join(changed)}). "
                "Rerun with the same flags to resume it, choose another --output-dir, or pass --overwrite."
            )
    os.makedirs(path, exist_ok=True)
    with open(config_path, "w") as handle:
        json.dump(settings, handle, indent=2)
    return os.path.isdir(os.path.join(path, "backup"))


def _load_data(args, image_size, batch_size, static_shapes=False):
    """Returns the (train, validation, test) datasets and the class count."""
    from keras_vit import augmentation as aug
    from keras_vit import data

    augment = None
    mixing = None
    if not args.no_augment:
        augment = aug.image_augmentation(
            crop_scale=None if args.no_crop else tuple(args.crop_scale),
            flip=not args.no_flip,
            rand_augment_ops=args.rand_augment_ops,
            rand_augment_magnitude=args.rand_augment_magnitude,
            erasing_probability=args.erasing,
            seed=args.seed,
        )
        if augment is not None and not augment.layers:
            augment = None
        mixing = aug.label_mixing(args.mixup, args.cutmix, args.mix_switch_probability, seed=args.seed + 10)
    common = dict(batch_size=batch_size, augmentation=augment, mixing=mixing, seed=args.seed,
                  preprocessing=args.preprocessing)
    if static_shapes:
        common["drop_remainder"] = True  # TPUs compile for one batch shape
    kind, _, target = args.dataset.partition(":")
    if kind == "digits":
        splits = data.load_digits(image_size=image_size[0], channels=3, seed=args.seed)
        num_classes = len(splits.class_names)
        datasets = [
            data.make_dataset(split, num_classes=num_classes, training=training, **common)
            for split, training in zip(splits, (True, False, False))
        ]
        return datasets, num_classes
    if kind == "tfds":
        datasets = []
        info = None
        for split, training in ((args.train_split, True), (args.validation_split, False), (args.test_split, False)):
            dataset, info = data.load_tfds(
                target, split=split, data_dir=args.data_dir, image_size=image_size, training=training, **common
            )
            datasets.append(dataset)
        return datasets, info.features["label"].num_classes
    # folder:PATH
    train_dir = os.path.join(target, "train")
    test_dir = os.path.join(target, "test")
    for folder in (train_dir, test_dir):
        if not os.path.isdir(folder):
            raise SystemExit(f"error: --dataset folder:{target} needs {folder}/<class>/<images>")
    val_dir = next((os.path.join(target, n) for n in ("val", "validation") if os.path.isdir(os.path.join(target, n))), None)
    if val_dir:
        train, class_names = data.load_image_folder(train_dir, image_size=image_size, training=True, **common)
        validation, _ = data.load_image_folder(val_dir, image_size=image_size, **common)
    else:
        train, class_names = data.load_image_folder(
            train_dir, image_size=image_size, training=True, validation_split=0.1, subset="training", **common
        )
        validation, _ = data.load_image_folder(
            train_dir, image_size=image_size, validation_split=0.1, subset="validation", **common
        )
    test, _ = data.load_image_folder(test_dir, image_size=image_size, **common)
    return [train, validation, test], len(class_names)


def _distribution(args):
    """Returns (tf.distribute strategy or None, keras.distribution or None, writes_files)."""
    import keras

    from keras_vit import distribute

    backend = keras.backend.backend()
    if backend == "tensorflow":
        if args.cpu_devices:
            distribute.split_cpu(args.cpu_devices)
        tf_config = distribute.read_tf_config()
        if args.strategy == "auto":
            strategy = distribute.auto_strategy(tpu=args.tpu)
        else:
            strategy = distribute.make_strategy(args.strategy, tpu=args.tpu)
            print(f"keras_vit.distribute: {args.strategy} strategy, {strategy.num_replicas_in_sync} replica(s)")
        return strategy, None, distribute.is_chief(tf_config)
    if backend == "jax":
        devices = keras.distribution.list_devices()
        if args.cpu_devices and len(devices) != args.cpu_devices:
            raise SystemExit(
                f"error: --cpu-devices {args.cpu_devices} with JAX needs "
                f"XLA_FLAGS=--xla_force_host_platform_device_count={args.cpu_devices} set before JAX starts "
                f"(it sees {len(devices)} device(s)); keras-vit train sets it unless JAX was already running"
            )
        if args.strategy == "jax-model-parallel":
            distribution = distribute.model_parallel(args.model_axis_size, devices)
        elif args.strategy == "jax-data-parallel" or len(devices) > 1:
            distribution = distribute.data_parallel(devices)
        else:
            distribution = None
        if distribution is not None:
            print(f"keras_vit.distribute: {type(distribution).__name__} over {len(devices)} devices, "
                  f"{distribute.replicas(distribution)} replica(s)")
        return None, distribution, True
    if args.strategy != "auto":
        raise SystemExit(f"error: --strategy {args.strategy} is not available on the {backend} backend")
    return None, None, True


def _build_model(args, image_size, num_classes):
    from keras_vit import VisionTransformer
    from keras_vit.models.variants import get_variant_config
    from keras_vit.training import precision_policy

    if args.model == "custom":
        sizes = dict(
            patch_size=args.patch_size or 4,
            hidden_dim=args.hidden_dim,
            num_layers=args.num_layers,
            num_heads=args.num_heads,
            mlp_dim=args.mlp_dim,
        )
    else:
        sizes = get_variant_config(args.model, patch_size=args.patch_size)
    return VisionTransformer(
        **sizes,
        input_shape=(image_size[0], image_size[1], 3),
        classes=num_classes,
        classifier_activation=None,
        dropout_rate=args.dropout,
        drop_path_rate=args.drop_path,
        dtype=precision_policy(args.precision),
        weights=args.weights,
        name="vit",
    )


def run(args, callbacks=()):
    """Trains, evaluates and writes the run's files; returns the metrics dict.

    Args:
        args: the parsed flags (an `argparse.Namespace` from `parse_args`).
        callbacks: extra `keras.callbacks.Callback`s for `fit`.
    """
    start = time.perf_counter()
    if args.cpu_devices and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        # XLA reads this once, when JAX first looks for devices (checked in _distribution).
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={args.cpu_devices}"
        ).strip()
    errors = validate(args)
    if errors:
        raise SystemExit("error: " + "; ".join(errors))
    if args.output_dir is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = args.dataset.replace(":", "-").replace("/", "_").strip("-_.")
        args.output_dir = os.path.join("runs", f"{name}-{args.model.replace('/', '')}-{stamp}")
    strategy, distribution, writes_files = _distribution(args)
    scratch = None
    if not writes_files:
        # A multi-worker run's files are the chief's; the other workers
        # write theirs to a scratch directory that is removed at the end.
        scratch = tempfile.mkdtemp(prefix="keras-vit-worker-")
        args.output_dir = scratch
    try:
        with _scope(strategy, distribution):
            return _train(args, start, strategy, distribution, callbacks, writes_files)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _scope(strategy, distribution):
    if strategy is not None:
        return strategy.scope()
    if distribution is not None:
        return distribution.scope()
    return contextlib.nullcontext()


def _train(args, start, strategy, distribution, callbacks, writes_files=True):
    resuming = prepare_output_dir(args)

    import keras

    from keras_vit import distribute, training
    from keras_vit.training.history import plot_history, read_history, write_history

    keras.utils.set_random_seed(args.seed)
    image_size = args.image_size or (32 if args.dataset == "digits" else 224)
    image_size = (image_size, image_size)
    replicas = distribute.replicas(strategy or distribution)
    global_batch = args.batch_size * replicas
    on_tpu = strategy is not None and "TPU" in type(strategy).__name__
    (train, validation, test), num_classes = _load_data(args, image_size, global_batch, static_shapes=on_tpu)
    model = _build_model(args, image_size, num_classes)

    # Full batches only (drop_remainder in training), so the count is exact.
    steps_per_epoch = int(train.cardinality())
    if steps_per_epoch == 0:
        raise SystemExit(f"error: the global batch {global_batch} exceeds the number of training images")
    if steps_per_epoch < 0:
        raise SystemExit("error: the training set's size is unknown (infinite or unknown cardinality)")
    effective_batch = global_batch * args.accumulation_steps
    peak = args.learning_rate * (effective_batch / 512 if args.scale_learning_rate else 1.0)
    schedule = training.WarmupCosine(
        peak_learning_rate=peak,
        total_steps=args.epochs * steps_per_epoch,
        warmup_steps=int(round(args.warmup_epochs * steps_per_epoch)),
        initial_learning_rate=min(args.warmup_learning_rate, peak),
        final_learning_rate=min(args.min_learning_rate, peak),
    )
    model.compile(
        optimizer=training.create_adamw(
            learning_rate=0.0,  # set every batch by WarmupCosineScheduler
            weight_decay=args.weight_decay,
            global_clipnorm=args.clipnorm,
            gradient_accumulation_steps=args.accumulation_steps,
        ),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=args.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        steps_per_execution=args.steps_per_execution,
    )
    print(
        f"keras-vit train: {args.model} ({model.count_params():,} parameters) on {args.dataset} "
        f"{image_size[0]}x{image_size[1]}, {args.epochs} epochs x {steps_per_epoch} steps, batch "
        f"{global_batch} ({args.batch_size} x {replicas} replicas), peak lr {peak:.3g}, {args.precision}, "
        f"backend {keras.backend.backend()}, "
        f"output {args.output_dir}"
    )

    out = args.output_dir
    history_path = os.path.join(out, "history.csv")
    best_path = os.path.join(out, "best.keras")
    checkpoint = keras.callbacks.ModelCheckpoint(best_path, monitor="val_accuracy", mode="max", save_best_only=True)
    if resuming:
        metadata = os.path.join(out, "backup", "training_metadata.json")
        done = 0
        if os.path.exists(metadata):  # absent if the first backup itself was cut short
            with open(metadata) as handle:
                done = json.load(handle)["epoch"]
        previous = read_history(history_path)
        accuracies = [a for e, a in zip(previous.get("epoch", []), previous.get("val_accuracy", [])) if e < done]
        if accuracies:
            checkpoint.best = max(accuracies)  # the best model so far is not replaced by a worse one
        print(f"Resuming {out} at epoch {done + 1}.")
    elif os.path.exists(history_path):
        os.remove(history_path)
    meter = training.ThroughputMeter(global_batch)
    fit_callbacks = [training.WarmupCosineScheduler(schedule, steps_per_epoch=steps_per_epoch), meter]
    if args.monitor_gradients:
        probe = next(iter(validation))
        fit_callbacks.append(training.GradientNormMonitor(probe_data=(probe[0].numpy(), probe[1].numpy())))
    fit_callbacks += [
        checkpoint,
        keras.callbacks.CSVLogger(history_path, append=True),
        keras.callbacks.BackupAndRestore(os.path.join(out, "backup")),
    ]
    if args.tensorboard:
        fit_callbacks.append(keras.callbacks.TensorBoard(os.path.join(out, "logs")))
    fit_callbacks += list(callbacks)
    model.fit(
        train,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=fit_callbacks,
        shuffle=False,  # the dataset shuffles itself
        verbose=args.verbose,
    )

    history = read_history(history_path)
    write_history(history, history_path)  # one row per epoch, even after a resume
    best = keras.models.load_model(best_path)
    test_loss, test_accuracy = best.evaluate(test, verbose=0)
    val = history.get("val_accuracy", [])
    metrics = {
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "best_val_accuracy": max(val) if val else None,
        "best_epoch": (history["epoch"][val.index(max(val))] + 1) if val else None,
        "epochs": len(history.get("epoch", [])),
        "images_per_second": meter.steady_images_per_second(),
        "wall_time_seconds": time.perf_counter() - start,
        "parameters": model.count_params(),
        "model": args.model,
        "dataset": args.dataset,
        "precision": args.precision,
        "backend": keras.backend.backend(),
        "replicas": replicas,
        "global_batch_size": global_batch,
    }
    with open(os.path.join(out, "metrics.json"), "w") as handle:
        json.dump(metrics, handle, indent=2)
    plotted = plot_history(history, os.path.join(out, "curves.png"))
    rate = metrics["images_per_second"]
    print(f"test accuracy: {metrics['test_accuracy']:.4f} (best validation epoch {metrics['best_epoch']})")
    print(f"training throughput: {rate:.0f} images/s" if rate else "training throughput: n/a (resumed in its last epoch)")
    print(f"wall time: {metrics['wall_time_seconds']:.1f} s")
    if writes_files:
        print(f"files: {out}/ history.csv, best.keras, metrics.json"
              + (", curves.png" if plotted else " (no matplotlib: no curves.png)"))
    else:
        print("files: written by the chief (this worker's copies are discarded)")
    return metrics


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-vit train", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None):
    """Entry point of `python -m keras_vit.train`."""
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
