"""The flags of `keras-vit train`, and the parser that reads them.

Nothing here imports Keras or a backend, so `keras-vit train --help` is
instant and works before a backend is installed. Each value is checked by
the check of `keras_vit._validation` that the library applies to the same
argument, and each choice list is the tuple of the module that owns it
(kept in `keras_vit._choices`, which imports no Keras either).
"""

import argparse
import re

from keras_vit import _choices
from keras_vit._validation import (
    check_float,
    check_non_negative_int,
    check_positive_int,
    check_rate,
    check_unsigned_seed,
)

DESCRIPTION = """\
keras-vit train: train a Vision Transformer with the DeiT-style recipe.

The recipe: AdamW with decoupled weight decay (not on biases, norms,
tokens, position embedding, LayerScale), a linear warmup + cosine learning
rate set every batch, optional global-norm clipping and gradient
accumulation, stochastic depth, label smoothing, random resized crop, flip,
RandAugment, random erasing and MixUp/CutMix, in float32, mixed bfloat16 or
mixed float16.

Everything a run writes goes to --output-dir:

- config.json: the run's settings;
- history.csv: one row per epoch (loss, accuracy, validation, lr,
  gradient norms with --monitor-gradients);
- best.keras: the model of the epoch with the best validation accuracy;
- metrics.json: test accuracy and loss of that model, training
  images/s (per epoch and steady), wall time;
- curves.png: loss, accuracy and learning-rate curves;
- logs/: TensorBoard logs, with --tensorboard;
- backup/: the last finished epoch of an unfinished run (weights and
  optimizer state);
- .keras-vit-run.json: the manifest: every file the run wrote and its
  phase (training, trained, finished).

Running the same command again continues an unfinished run from where it
stopped, whatever the point: an interrupted epoch is re-run from its first
batch; a run stopped after its last epoch only evaluates best.keras.
Every file is written to a temporary name and renamed into place, so a
kill never leaves a half-written one. While a run is active it holds a lock
on the directory; a second run into it exits with an error naming the
first.

A directory holding a finished run, or a run with other settings, is never
overwritten unless --overwrite is given, which deletes only the files the
manifest lists: keras-vit never deletes a file it did not write.
"""

DATASET_HELP = (
    "digits (bundled, default), tfds:NAME (TensorFlow Datasets, e.g. tfds:cifar10), "
    "or folder:PATH (PATH/train/<class>/*.png and PATH/test/..., optional PATH/val); "
    "see keras_vit.data.load_dataset"
)

_REASON = re.compile(r"^`value` (must be .*?)\. Received: value=")


def _flag_type(parse, check, **limits):
    """An argparse `type`: parses the text with `parse`, then checks the
    value with `check(name, value, **limits)` from `keras_vit._validation`,
    whose reason argparse prints after the flag's name."""

    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            kind = "an integer" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {text}") from None
        try:
            return check("value", value, **limits)
        except (TypeError, ValueError) as error:
            match = _REASON.match(str(error))
            reason = match.group(1) if match else str(error)
            raise argparse.ArgumentTypeError(f"{reason}, got {text}") from None

    return convert


_positive_int = _flag_type(int, check_positive_int)
_non_negative_int = _flag_type(int, check_non_negative_int)
_seed = _flag_type(int, check_unsigned_seed)
_finite = _flag_type(float, check_float)
_non_negative = _flag_type(float, check_float, low=0.0)
_positive = _flag_type(float, check_float, low=0.0, low_open=True)
_probability = _flag_type(float, check_float, low=0.0, high=1.0)
_rate = _flag_type(float, check_rate)


def add_arguments(parser):
    """Adds the `train` flags to an `argparse` parser; returns the parser."""
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
    model.add_argument("--preprocessing", choices=_choices.PREPROCESSING_MODES, default="vit",
                       help="input scaling: vit ([-1, 1]: Google/AugReg weights), imagenet (ImageNet mean/std: "
                       "DeiT, DINOv2 and most timm weights), unit ([0, 1]), clip (CLIP mean/std: CLIP and "
                       "OpenCLIP towers) or siglip (SigLIP weights: the same map as vit) (default: vit)")
    model.add_argument("--drop-path", type=_rate, default=0.1, help="stochastic depth rate at the last block (default: 0.1)")
    model.add_argument("--dropout", type=_rate, default=0.0, help="dropout rate (default: 0)")
    model.add_argument("--precision", choices=_choices.PRECISIONS, default="float32",
                       help="numeric precision: float32, mixed_bfloat16 (TPUs, Ampere and newer GPUs) or "
                       "mixed_float16 (older GPUs; with loss scaling) (default: float32)")

    data = parser.add_argument_group("data")
    data.add_argument("--dataset", default="digits", help=DATASET_HELP)
    data.add_argument("--data-dir", default=None, help="tfds data_dir (default: ~/tensorflow_datasets)")
    data.add_argument("--train-split", default="train[:90%]", help="tfds training split (default: train[:90%%])")
    data.add_argument("--validation-split", default="train[90%:]", help="tfds validation split (default: train[90%%:])")
    data.add_argument("--test-split", default="test", help="tfds test split (default: test)")
    data.add_argument("--bad-images", choices=_choices.BAD_IMAGE_CHOICES, default="raise",
                      help="folder datasets: an unreadable image file stops the run naming it (raise), is "
                      "left out with a warning naming it (skip), or is not looked for (unchecked: a bad file "
                      "then stops training when it is read) (default: raise)")

    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--epochs", type=_positive_int, default=100, help="training epochs (default: 100)")
    optim.add_argument("--batch-size", type=_positive_int, default=64,
                       help="batch size per replica; the global batch is this x replicas (default: 64)")
    optim.add_argument("--learning-rate", type=_positive, default=1e-3,
                       help="peak learning rate (default: 1e-3); with --scale-learning-rate, per 512 images")
    optim.add_argument("--scale-learning-rate", action="store_true",
                       help="DeiT rule: multiply the learning rate by batch size x accumulation / 512")
    optim.add_argument("--warmup-epochs", type=_non_negative, default=5.0, help="linear warmup (default: 5)")
    optim.add_argument("--warmup-learning-rate", type=_non_negative, default=1e-6,
                       help="learning rate at step 0 (default: 1e-6)")
    optim.add_argument("--min-learning-rate", type=_non_negative, default=1e-5,
                       help="learning rate at the end of the cosine (default: 1e-5)")
    optim.add_argument("--weight-decay", type=_non_negative, default=0.05, help="AdamW weight decay (default: 0.05)")
    optim.add_argument("--clipnorm", type=_positive, default=None, help="clip gradients to this global norm (default: off)")
    optim.add_argument("--accumulation-steps", type=_positive_int, default=1,
                       help="average gradients over this many batches per update (default: 1)")
    optim.add_argument("--label-smoothing", type=_probability, default=0.1, help="label smoothing (default: 0.1)")

    aug = parser.add_argument_group("augmentation")
    aug.add_argument("--no-augment", action="store_true", help="turn every augmentation below off")
    aug.add_argument("--crop-scale", type=_finite, nargs=2, default=(0.08, 1.0), metavar=("MIN", "MAX"),
                     help="random resized crop area range (default: 0.08 1.0)")
    aug.add_argument("--no-crop", action="store_true", help="no random resized crop")
    aug.add_argument("--no-flip", action="store_true", help="no horizontal flips (use for digits and text)")
    aug.add_argument("--rand-augment-ops", type=_non_negative_int, default=2, help="RandAugment operations, 0 = off (default: 2)")
    aug.add_argument("--rand-augment-magnitude", type=_probability, default=0.5,
                     help="RandAugment strength in [0, 1], Keras's factor (default: 0.5)")
    aug.add_argument("--mixup", type=_non_negative, default=0.8, help="MixUp alpha, 0 = off (default: 0.8)")
    aug.add_argument("--cutmix", type=_probability, default=1.0, help="CutMix alpha in [0, 1], 0 = off (default: 1.0)")
    aug.add_argument("--mix-switch-probability", type=_probability, default=0.5,
                     help="probability of CutMix rather than MixUp per batch (default: 0.5)")
    aug.add_argument("--erasing", type=_probability, default=0.25, help="random erasing probability (default: 0.25)")

    dist = parser.add_argument_group("distribution")
    dist.add_argument("--strategy", choices=_choices.STRATEGY_CHOICES, default="auto",
                      help="auto (TensorFlow: TPU, TF_CONFIG cluster, several GPUs or one device; JAX: data "
                      "parallel over all devices), mirrored, multiworker, tpu (TensorFlow backend), "
                      "jax-data-parallel, jax-model-parallel (JAX backend); see "
                      "keras_vit.distribute.auto_distribute (default: auto)")
    dist.add_argument("--tpu", default=None, help="TPU name or 'local' (default: detect)")
    dist.add_argument("--model-axis-size", type=_positive_int, default=2,
                      help="devices one model copy is sharded over with jax-model-parallel (default: 2)")
    dist.add_argument("--steps-per-execution", type=_positive_int, default=1,
                      help="train steps per compiled call; 32-128 keeps a TPU busy (default: 1)")
    dist.add_argument("--cpu-devices", type=_positive_int, default=None,
                      help="split the CPU into this many devices, to try a strategy without accelerators")

    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=_seed, default=0,
                     help="seed of the data split, initialisation and augmentation, in [0, 2**32 - 1] (default: 0)")
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


def build_parser(prog="keras-vit train"):
    """The parser of `keras-vit train` on its own."""
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    return add_arguments(parser)


def parse_args(argv=None):
    """Parses the flags of `keras-vit train` (without the word `train`);
    returns the `argparse.Namespace` that `keras_vit.cli.run.run` takes."""
    return build_parser().parse_args(argv)
