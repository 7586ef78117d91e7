"""Train a ViT on a Kaggle TPU (TPU VM v3-8 or v5e-8) with TPUStrategy.

In a Kaggle notebook: Settings -> Accelerator -> "TPU VM v3-8" (or v5e-8),
then (with internet; offline, attach the wheel of `make wheel` as a dataset and
`!pip install --no-deps /kaggle/input/<dataset>/keras_vit_zoo-*.whl`)

    !pip install "keras-vit-zoo[tensorflow]"
    !KERAS_BACKEND=tensorflow python train_tpu.py --dataset tfds:cifar10 --model S/16

Data: `tfds:NAME` reads TensorFlow Datasets from `--data-dir` (attach a
Kaggle dataset holding a prepared tfds directory when the notebook has no
internet), and `folder:/kaggle/input/<dataset>` reads images in class folders
(`train/<class>/...`, `test/<class>/...`). Files go to /kaggle/working.

This is `keras-vit train` with the TPU settings filled in:

- `--strategy tpu`: TPUStrategy on the local TPU (the script stops with a
  clear message when the notebook has no TPU; `--strategy auto` falls back
  to GPUs or the CPU instead);
- `--precision mixed_bfloat16`: the TPU's native format, no loss scaling;
- a global batch of `--batch-size` per core x 8 cores, every batch full
  (static shapes, which XLA on TPU needs), and DeiT's learning-rate rule on
  that global batch;
- `--steps-per-execution 32`, so the TPU runs 32 steps per call from Python.

Without a TPU the same script runs (slowly) with `--strategy auto`:

    KERAS_BACKEND=tensorflow python examples/train_tpu.py --strategy auto --epochs 1
"""

import os
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    working = "/kaggle/working" if os.path.isdir("/kaggle/working") else "runs"
    defaults = {
        "--strategy": "tpu",
        "--precision": "mixed_bfloat16",
        "--model": "S/16",
        "--dataset": "digits",
        "--batch-size": "64",  # per TPU core: 512 on a v3-8
        "--learning-rate": "5e-4",  # per 512 images, scaled to the global batch below
        "--epochs": "30",
        "--steps-per-execution": "32",
        "--output-dir": os.path.join(working, "vit-tpu"),
    }
    for flag, value in defaults.items():
        if flag not in argv:
            argv += [flag, value]
    if "--scale-learning-rate" not in argv:
        argv.append("--scale-learning-rate")
    if "--dataset" in argv and argv[argv.index("--dataset") + 1] == "digits" and "--patch-size" not in argv:
        argv += ["--patch-size", "16", "--image-size", "64"]  # digits are tiny: 4x4 patches of 16 px

    from keras_vit.cli import flags, run

    return run.run(flags.parse_args(argv))


if __name__ == "__main__":
    main()
