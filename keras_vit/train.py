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
  gradient norms with `--monitor-gradients`);
- `best.keras`: the model of the epoch with the best validation accuracy;
- `metrics.json`: test accuracy and loss of that model, training
  images/s (per epoch and steady), wall time;
- `curves.png`: loss, accuracy and learning-rate curves;
- `logs/`: TensorBoard logs, with `--tensorboard`;
- `backup/`: the last finished epoch of an unfinished run (weights and
  optimizer state);
- `.keras-vit-run.json`: the manifest: every file the run wrote and its
  phase (training, trained, finished).

Running the same command again continues an unfinished run from where it
stopped, whatever the point: an interrupted epoch is re-run from its first
batch; a run stopped after its last epoch only evaluates `best.keras`.
Every file is written to a temporary name and renamed into place, so a
kill never leaves a half-written one. While a run is active it holds a lock
on the directory; a second run into it exits with an error naming the
first.

A directory holding a finished run, or a run with other settings, is never
overwritten unless `--overwrite` is given, which deletes only the files the
manifest lists: keras-vit never deletes a file it did not write.
"""

import argparse
import contextlib
import math
import os
import shutil
import sys
import tempfile
import time

STRATEGY_CHOICES = ("auto", "mirrored", "multiworker", "tpu", "jax-data-parallel", "jax-model-parallel")

_IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
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


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _non_negative_float(text):
    value = _finite_float(text)
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
    data.add_argument("--bad-images", choices=("raise", "skip"), default="raise",
                      help="folder datasets: an unreadable image file stops the run naming it (raise), or "
                      "is left out with a warning naming it (skip) (default: raise)")

    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--epochs", type=_positive_int, default=100, help="training epochs (default: 100)")
    optim.add_argument("--batch-size", type=_positive_int, default=64,
                       help="batch size per replica; the global batch is this x replicas (default: 64)")
    optim.add_argument("--learning-rate", type=_finite_float, default=1e-3,
                       help="peak learning rate (default: 1e-3); with --scale-learning-rate, per 512 images")
    optim.add_argument("--scale-learning-rate", action="store_true",
                       help="DeiT rule: multiply the learning rate by batch size x accumulation / 512")
    optim.add_argument("--warmup-epochs", type=_non_negative_float, default=5.0, help="linear warmup (default: 5)")
    optim.add_argument("--warmup-learning-rate", type=_non_negative_float, default=1e-6,
                       help="learning rate at step 0 (default: 1e-6)")
    optim.add_argument("--min-learning-rate", type=_non_negative_float, default=1e-5,
                       help="learning rate at the end of the cosine (default: 1e-5)")
    optim.add_argument("--weight-decay", type=_non_negative_float, default=0.05, help="AdamW weight decay (default: 0.05)")
    optim.add_argument("--clipnorm", type=_finite_float, default=None, help="clip gradients to this global norm (default: off)")
    optim.add_argument("--accumulation-steps", type=_positive_int, default=1,
                       help="average gradients over this many batches per update (default: 1)")
    optim.add_argument("--label-smoothing", type=_probability, default=0.1, help="label smoothing (default: 0.1)")

    aug = parser.add_argument_group("augmentation")
    aug.add_argument("--no-augment", action="store_true", help="turn every augmentation below off")
    aug.add_argument("--crop-scale", type=_finite_float, nargs=2, default=(0.08, 1.0), metavar=("MIN", "MAX"),
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
    run.add_argument("--overwrite", action="store_true",
                     help="replace a finished run or one with other settings in --output-dir: deletes only "
                     "the files that run recorded writing (never files keras-vit did not write)")
    run.add_argument("--monitor-gradients", action="store_true",
                     help="log global and per-block gradient norms each epoch")
    run.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs to OUTPUT_DIR/logs")
    run.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                     help="0 silent, 1 progress bar, 2 one line per epoch (default: 1)")
    return parser


def _image_size(args):
    return args.image_size or (32 if args.dataset == "digits" else 224)


def _settings(args):
    """The arguments that define a run, as `config.json` stores them and
    resuming compares them: after a JSON round trip (tuples are lists
    there), with defaults that depend on other flags resolved (so
    `--image-size 32` on digits is the same run as no `--image-size`)."""
    from keras_vit.training._run_directory import canonical

    ignored = {"output_dir", "overwrite", "verbose", "tpu"}
    settings = {key: value for key, value in sorted(vars(args).items()) if key not in ignored}
    settings["image_size"] = _image_size(args)
    if args.model == "custom":
        settings["patch_size"] = args.patch_size or 4
    return canonical(settings)


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
    if not 0 <= args.seed < 2**32:
        errors.append(f"--seed must be in [0, 2**32 - 1], got {args.seed}")
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
    image_size = _image_size(args)
    if image_size % patch:
        errors.append(f"--image-size ({image_size}) must be divisible by the patch size ({patch})")
    if kind == "folder" and args.dataset.split(":", 1)[1:]:
        errors += _folder_problems(args.dataset.split(":", 1)[1])
    if args.output_dir is not None and os.path.lexists(args.output_dir) and not os.path.isdir(args.output_dir):
        errors.append(f"--output-dir {args.output_dir} exists and is not a directory")
    return errors


def _folder_problems(root):
    """What is missing from a `folder:` dataset (checked before any work)."""
    if not os.path.isdir(root):
        return [f"--dataset folder:{root}: no such directory"]
    problems = []
    for split in ("train", "test"):
        folder = os.path.join(root, split)
        if not os.path.isdir(folder):
            problems.append(f"--dataset folder:{root} needs {folder}/<class>/<images>")
            continue
        classes = [e for e in os.scandir(folder) if e.is_dir()]
        if not any(os.path.splitext(f.name)[1].lower() in _IMAGE_EXTENSIONS
                   for c in classes for f in os.scandir(c.path) if f.is_file()):
            problems.append(f"--dataset folder:{root}: {folder} has no class folders with images "
                            f"({', '.join(_IMAGE_EXTENSIONS)})")
    return problems


def _default_output_dir(args):
    """`runs/<dataset>-<model>-<time>`, or the newest unfinished run of the
    same command there (so running a command again resumes it)."""
    from keras_vit.training import _run_directory

    name = args.dataset.replace(":", "-").replace("/", "_").strip("-_.")
    prefix = f"{name}-{args.model.replace('/', '')}-"
    unfinished = _run_directory.find_unfinished("runs", prefix, _settings(args))
    if unfinished:
        return unfinished
    path = os.path.join("runs", prefix + time.strftime("%Y%m%d-%H%M%S"))
    suffix = 1
    while os.path.lexists(path if suffix == 1 else f"{path}-{suffix}"):
        suffix += 1
    return path if suffix == 1 else f"{path}-{suffix}"


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
    common["bad_images"] = args.bad_images
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
        args.output_dir = _default_output_dir(args)
    strategy, distribution, writes_files = _distribution(args)
    scratch = None
    if not writes_files:
        # A multi-worker run's files are the chief's; the other workers
        # write theirs to a scratch directory that is removed at the end.
        scratch = tempfile.mkdtemp(prefix="keras-vit-worker-")
        args.output_dir = scratch
    from keras_vit.training import make_deterministic

    try:
        # Seeds and deterministic ops (switched back after the run): the
        # same command on the same machine gives the same history.csv.
        with _scope(strategy, distribution), make_deterministic(args.seed):
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
    from keras_vit.training._run_directory import RunDirectory, RunDirectoryError, plan_run

    run_dir = RunDirectory(args.output_dir)
    try:
        run_dir.open()
        plan = plan_run(run_dir, _settings(args), args.overwrite)
        return _execute(args, run_dir, plan, start, strategy, distribution, callbacks, writes_files)
    except RunDirectoryError as error:
        raise SystemExit(f"error: {error}") from None
    finally:
        run_dir.close()


def _prepare(args, strategy, distribution, evaluate_only):
    """Loads the data and builds the model (nothing is written yet); a bad
    input becomes a one-line error."""
    from keras_vit import distribute

    image_size = (_image_size(args), _image_size(args))
    replicas = distribute.replicas(strategy or distribution)
    global_batch = args.batch_size * replicas
    on_tpu = strategy is not None and "TPU" in type(strategy).__name__
    try:
        datasets, num_classes = _load_data(args, image_size, global_batch, static_shapes=on_tpu)
        model = None if evaluate_only else _build_model(args, image_size, num_classes)
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    # Full batches only (drop_remainder in training), so the count is exact.
    steps_per_epoch = int(datasets[0].cardinality())
    if steps_per_epoch == 0:
        raise SystemExit(f"error: the global batch {global_batch} exceeds the number of training images")
    if steps_per_epoch < 0:
        raise SystemExit("error: the training set's size is unknown (infinite or unknown cardinality)")
    return dict(datasets=datasets, model=model, image_size=image_size, replicas=replicas,
                global_batch=global_batch, steps_per_epoch=steps_per_epoch)


def _execute(args, run_dir, plan, start, strategy, distribution, callbacks, writes_files):
    import keras

    from keras_vit.training.history import plot_history, read_history

    keras.utils.set_random_seed(args.seed)
    setup = _prepare(args, strategy, distribution, evaluate_only=plan.action == "evaluate")
    # Everything is checked: only now is anything deleted or written.
    if plan.action == "fresh":
        if plan.manifest is not None:
            removed, kept = run_dir.remove_owned(plan.manifest)
            print(f"--overwrite: deleted {len(removed)} file(s) of the previous run in {run_dir.display}"
                  + (f"; kept (not written by keras-vit): {', '.join(kept)}" if kept else ""))
        run_dir.start()
        run_dir.write_json("config.json", _settings(args))
    else:
        run_dir.adopt(plan.manifest)
    if run_dir.state == "training":
        _fit(args, run_dir, setup, callbacks)
    else:
        print(f"{run_dir.display}: training is complete; evaluating best.keras.")
    _drop_backup(run_dir)

    summary = run_dir.manifest["summary"]
    best_path = run_dir.join("best.keras")
    if not os.path.isfile(best_path):
        raise SystemExit(f"error: {best_path} is missing; the run cannot be evaluated. Pass --overwrite to start over.")
    best = keras.models.load_model(best_path)
    test_loss, test_accuracy = best.evaluate(setup["datasets"][2], verbose=0)
    history = read_history(run_dir.join("history.csv"))
    val = history.get("val_accuracy", [])
    from keras_vit.training._run_checkpoint import steady_throughput

    metrics = {
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "best_val_accuracy": max(val) if val else None,
        "best_epoch": (history["epoch"][val.index(max(val))] + 1) if val else None,
        "epochs": len(history.get("epoch", [])),
        "images_per_second": steady_throughput(summary["throughput"]),
        "images_per_second_per_epoch": [e["images_per_second"] for e in summary["throughput"]],
        "training_seconds": summary["seconds"],
        "wall_time_seconds": time.perf_counter() - start,
        "parameters": best.count_params(),
        "model": args.model,
        "dataset": args.dataset,
        "precision": args.precision,
        "backend": keras.backend.backend(),
        "replicas": setup["replicas"],
        "global_batch_size": setup["global_batch"],
    }
    run_dir.write_json("metrics.json", metrics)
    run_dir.record("curves.png")
    plotted = plot_history(history, run_dir.join("curves.png"))
    run_dir.set_state("finished")
    rate = metrics["images_per_second"]
    print(f"test accuracy: {metrics['test_accuracy']:.4f} (best validation epoch {metrics['best_epoch']})")
    print(f"training throughput: {rate:.0f} images/s" if rate else "training throughput: n/a (no timed epoch)")
    print(f"wall time: {metrics['wall_time_seconds']:.1f} s (training {metrics['training_seconds']:.1f} s)")
    if writes_files:
        print(f"files: {run_dir.display}/ history.csv, best.keras, metrics.json"
              + (", curves.png" if plotted else " (no matplotlib: no curves.png)"))
    else:
        print("files: written by the chief (this worker's copies are discarded)")
    return metrics


def _fit(args, run_dir, setup, callbacks):
    """The training phase: compile, resume from the last commit, fit; then
    records the phase as done and deletes the backup."""
    import keras

    from keras_vit import training
    from keras_vit.training._run_checkpoint import RunCheckpoint

    model, steps_per_epoch, global_batch = setup["model"], setup["steps_per_epoch"], setup["global_batch"]
    train, validation, _ = setup["datasets"]
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
    image_size = setup["image_size"]
    print(
        f"keras-vit train: {args.model} ({model.count_params():,} parameters) on {args.dataset} "
        f"{image_size[0]}x{image_size[1]}, {args.epochs} epochs x {steps_per_epoch} steps, batch "
        f"{global_batch} ({args.batch_size} x {setup['replicas']} replicas), peak lr {peak:.3g}, {args.precision}, "
        f"backend {keras.backend.backend()}, "
        f"output {args.output_dir}"
    )
    checkpoint = RunCheckpoint(run_dir, monitor="val_accuracy", watch_tensorboard=args.tensorboard)
    done = checkpoint.epochs_done
    if done >= args.epochs:
        print(f"{run_dir.display}: all {args.epochs} epochs are done.")
    elif done:
        print(f"Resuming {run_dir.display} at epoch {done + 1}.")
    fit_callbacks = [training.WarmupCosineScheduler(schedule, steps_per_epoch=steps_per_epoch),
                     training.ThroughputMeter(global_batch)]
    if args.monitor_gradients:
        probe = next(iter(validation))
        fit_callbacks.append(training.GradientNormMonitor(probe_data=(probe[0].numpy(), probe[1].numpy())))
    if args.tensorboard:
        fit_callbacks.append(keras.callbacks.TensorBoard(run_dir.join("logs")))
    fit_callbacks.append(checkpoint)
    fit_callbacks += list(callbacks)
    if done < args.epochs:
        model.fit(
            train,
            validation_data=validation,
            epochs=args.epochs,
            initial_epoch=done,
            callbacks=fit_callbacks,
            shuffle=False,  # the dataset shuffles itself
            verbose=args.verbose,
        )
    state = checkpoint.state
    run_dir.set_state("trained", summary={"throughput": state["throughput"], "seconds": state["seconds"]})


def _drop_backup(run_dir):
    """Deletes the backup once the training phase is recorded as done."""
    run_dir.remove(*[name for name in run_dir.manifest["files"] if name.startswith("backup/")])
    run_dir.remove_empty_dirs("backup")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-vit train", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    return parser.parse_args(argv)


def run_command(args):
    """Runs `keras-vit train` for parsed flags; returns the exit status
    (130 after Ctrl-C, with how to resume)."""
    try:
        run(args)
    except KeyboardInterrupt:
        print(f"\ninterrupted: run the same command again to resume the run in {args.output_dir}.",
              file=sys.stderr)
        return 130
    return 0


def main(argv=None):
    """Entry point of `python -m keras_vit.train`."""
    return run_command(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
