"""What the `keras-vit train` tests share: a small digits setting, the run
in-process, runs in child processes, and callbacks that stop a run."""

import csv
import json
import os
import subprocess
import sys

import keras

from keras_vit.cli import flags, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHILD = os.path.join(ROOT, "tests", "cli", "_train_child.py")

SMALL = [
    "--image-size", "16", "--hidden-dim", "32", "--num-layers", "2", "--num-heads", "2", "--mlp-dim", "64",
    "--batch-size", "32", "--learning-rate", "5e-3", "--warmup-epochs", "1", "--no-flip", "--verbose", "0",
]
# The whole recipe at once: crop, RandAugment, MixUp/CutMix, erasing, drop path.
AUGMENTED = [
    "--crop-scale", "0.7", "1.0", "--rand-augment-ops", "1", "--rand-augment-magnitude", "0.1",
    "--mixup", "0.2", "--cutmix", "0.5", "--erasing", "0.1", "--drop-path", "0.1",
]
ONE_EPOCH = ["--epochs", "1", "--warmup-epochs", "0"]
STEPS_PER_EPOCH = 1257 // 32  # digits training split, full batches


def train(output_dir, *flag_values, callbacks=()):
    """`keras-vit train --output-dir OUTPUT_DIR SMALL... FLAGS...`, in this process."""
    return run.run(flags.parse_args(["--output-dir", str(output_dir), *SMALL, *flag_values]), callbacks=callbacks)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


class Killed(Exception):
    pass


class Interrupt(keras.callbacks.Callback):
    """Stands in for a killed job: raises in the middle of an epoch."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch, self._current = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._current == self.epoch and batch == self.batch:
            raise Killed("simulated interruption")


class StopAtEpoch(keras.callbacks.Callback):
    """Ends a resumed run as soon as it starts an epoch (where it started is what is tested)."""

    def on_epoch_begin(self, epoch, logs=None):
        raise Killed(f"started epoch {epoch + 1}")


def child(point, output, *flag_values, cwd=None, env=None):
    """Starts tests/cli/_train_child.py (keras-vit train that kills itself at
    `point`) with the TensorFlow backend; returns the `Popen`."""
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    environment.pop("XLA_FLAGS", None)
    command = [sys.executable, CHILD, point]
    if output is not None:
        command += ["--output-dir", str(output)]
    return subprocess.Popen([*command, *flag_values], cwd=cwd or ROOT, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def run_module(output_dir, backend, *flag_values, env=None):
    """`python -m keras_vit.cli train ...` with `backend` in a fresh process;
    returns its stdout and metrics.json."""
    command = [sys.executable, "-m", "keras_vit.cli", "train", "--output-dir", str(output_dir), *SMALL, *flag_values]
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    environment.pop("XLA_FLAGS", None)
    process = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, (process.stdout[-2000:], process.stderr[-3000:])
    return process.stdout, json.loads((output_dir / "metrics.json").read_text())
