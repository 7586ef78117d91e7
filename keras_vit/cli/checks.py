"""What argparse cannot check in the flags of `keras-vit train`: values
that depend on one another, on the backend or on files. All of it is found
before any work starts, and reported at once."""

import importlib.util
import os

from keras_vit.cli.run_directory import image_size


def _model_sizes(args):
    """The model's `patch_size`, `num_heads` and `mlp_dim` (raises what
    `get_variant_config` raises for a bad `--model`/`--patch-size`)."""
    if args.model == "custom":
        return dict(patch_size=args.patch_size or 4, num_heads=args.num_heads, mlp_dim=args.mlp_dim)
    from keras_vit.models.variants import get_variant_config

    return get_variant_config(args.model, patch_size=args.patch_size)


def check_flags(args):
    """Returns the problems of parsed flags as one-line messages naming the
    flags (empty if none). Needs Keras: call it once the backend is known
    to be installed."""
    import keras

    from keras_vit.data.sources import source_problems
    from keras_vit.distribute.auto import check_strategy
    from keras_vit.distribute.jax_distribution import check_model_parallel

    errors = []
    if args.min_learning_rate > args.learning_rate:
        errors.append(f"--min-learning-rate ({args.min_learning_rate}) must not exceed --learning-rate ({args.learning_rate})")
    low, high = args.crop_scale
    if not 0 < low <= high <= 1:
        errors.append(f"--crop-scale must satisfy 0 < MIN <= MAX <= 1, got {low} {high}")
    if args.weights is not None:
        from keras_vit.checkpoints import PRESETS

        if not os.path.isfile(args.weights) and args.weights not in PRESETS:
            errors.append(f"--weights {args.weights!r} is neither a file nor a preset name "
                          "(see keras_vit.checkpoints.list_presets())")
    dataset_problems = source_problems(args.dataset)
    errors += [f"--dataset {args.dataset}: {problem}" for problem in dataset_problems]
    if args.warmup_epochs >= args.epochs:
        errors.append(f"--warmup-epochs ({args.warmup_epochs}) must be smaller than --epochs ({args.epochs})")
    try:
        sizes = _model_sizes(args)
    except (TypeError, ValueError) as error:
        errors.append(f"--model/--patch-size: {error}")
        sizes = None
    if args.model == "custom" and args.hidden_dim % args.num_heads:
        errors.append(f"--hidden-dim ({args.hidden_dim}) must be divisible by --num-heads ({args.num_heads})")
    try:
        check_strategy(args.strategy, keras.backend.backend())
    except ValueError as error:
        errors.append(f"--strategy: {error}")
    if args.strategy == "jax-model-parallel" and sizes is not None:
        try:
            check_model_parallel(sizes["num_heads"], sizes["mlp_dim"], args.model_axis_size)
        except ValueError as error:
            errors.append(f"--strategy jax-model-parallel with --model-axis-size {args.model_axis_size}: {error}")
    if args.tensorboard and importlib.util.find_spec("tensorboard") is None:
        errors.append('--tensorboard needs the tensorboard package: pip install "keras-vit-zoo[tensorboard]"')
    if sizes is not None and not dataset_problems and image_size(args) % sizes["patch_size"]:
        errors.append(f"--image-size ({image_size(args)}) must be divisible by the patch size ({sizes['patch_size']})")
    if args.output_dir is not None and os.path.lexists(args.output_dir) and not os.path.isdir(args.output_dir):
        errors.append(f"--output-dir {args.output_dir} exists and is not a directory")
    return errors
