"""The `keras-vit train` command, run in-process on a small digits setting."""

import csv
import json
import os
import re

import keras
import numpy as np
import pytest

from keras_vit import cli, train
from keras_vit.training import WarmupCosine, _run_directory

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


def run(output_dir, *flags, callbacks=()):
    return train.run(train.parse_args(["--output-dir", str(output_dir), *SMALL, *flags]), callbacks=callbacks)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    output = tmp_path_factory.mktemp("runs") / "finished"
    metrics = run(output, "--epochs", "6", "--no-augment", "--drop-path", "0", "--monitor-gradients", "--tensorboard")
    return output, metrics


def test_a_short_run_beats_chance_and_writes_its_files(finished):
    output, metrics = finished
    assert metrics["test_accuracy"] > 0.3, metrics  # chance is 0.1 (+-0.02 on 270 images)
    assert metrics["backend"] == keras.backend.backend() and metrics["epochs"] == 6
    assert metrics["images_per_second"] > 0 and metrics["wall_time_seconds"] > 0
    assert sorted(os.listdir(output)) == [
        ".keras-vit-run.json", "best.keras", "config.json", "curves.png", "history.csv", "logs", "metrics.json"]
    saved = json.loads((output / "metrics.json").read_text())
    per_epoch = saved.pop("images_per_second_per_epoch")
    assert per_epoch == pytest.approx(metrics["images_per_second_per_epoch"]) and len(per_epoch) == 6
    assert saved == pytest.approx({k: v for k, v in metrics.items() if k != "images_per_second_per_epoch"})
    rows = read_csv(output / "history.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(6))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr", "grad_norm",
                "grad_norm/patch_embedding", "grad_norm/transformer_block_1", "grad_norm/head"):
        assert key in rows[0], key
    # Wall-clock figures are in metrics.json, so a seeded run's history repeats exactly.
    assert "images_per_second" not in rows[0]
    # The manifest lists every file the run wrote, TensorBoard's event files included.
    manifest = json.loads((output / ".keras-vit-run.json").read_text())
    assert manifest["state"] == "finished"
    written = {os.path.relpath(os.path.join(root, name), output).replace(os.sep, "/")
               for root, _, files in os.walk(output) for name in files} - {".keras-vit-run.json"}
    assert set(manifest["files"]) == written
    assert all(float(r["grad_norm"]) > 0 for r in rows)
    best = keras.models.load_model(output / "best.keras")
    assert best.count_params() == metrics["parameters"]
    assert (output / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    output = tmp_path / "run"
    with pytest.raises(Killed):
        run(output, "--epochs", "3", *AUGMENTED, callbacks=[Interrupt(epoch=1, batch=5)])
    assert os.path.isdir(output / "backup") and not os.path.exists(output / "metrics.json")
    assert [int(r["epoch"]) for r in read_csv(output / "history.csv")] == [0]

    class Count(keras.callbacks.Callback):
        epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append(epoch)

    metrics = run(output, "--epochs", "3", *AUGMENTED, callbacks=[Count()])
    assert Count.epochs == [1, 2]  # the interrupted epoch 1 is re-run from its start, then 2
    rows = read_csv(output / "history.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2] and metrics["epochs"] == 3
    # The learning rate continued the schedule as if nothing had happened.
    schedule = WarmupCosine(5e-3, 3 * STEPS_PER_EPOCH, STEPS_PER_EPOCH, 1e-6, 1e-5)
    expected = [float(schedule((epoch + 1) * STEPS_PER_EPOCH - 1)) for epoch in range(3)]
    np.testing.assert_allclose([float(r["lr"]) for r in rows], expected, rtol=1e-5)
    assert not os.path.exists(output / "backup") and os.path.exists(output / "metrics.json")


@pytest.mark.backend_independent  # the output-directory rules are plain Python
def test_saved_work_is_never_overwritten(finished, tmp_path):
    output, _ = finished
    with pytest.raises(SystemExit, match="finished run"):
        run(output, "--epochs", "6", "--no-augment", "--drop-path", "0", "--monitor-gradients", "--tensorboard")
    other = tmp_path / "unrelated"
    other.mkdir()
    (other / "thesis.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="holds no keras-vit run"):
        run(other, "--epochs", "2")
    # A directory without a keras-vit manifest is never emptied: files with
    # a run file's name are refused even with --overwrite...
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({"epochs": 99}))
    (foreign / "thesis.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="holds config.json, which keras-vit did not write"):
        run(foreign, *ONE_EPOCH, "--overwrite")
    assert json.loads((foreign / "config.json").read_text()) == {"epochs": 99}
    assert sorted(os.listdir(foreign)) == ["config.json", "thesis.txt"]
    # ...and other files stay beside the run's own.
    run(other, *ONE_EPOCH, "--no-augment", "--overwrite")
    assert (other / "thesis.txt").read_text() == "keep me"
    assert json.loads((other / "config.json").read_text())["epochs"] == 1


@pytest.mark.backend_independent
def test_overwrite_deletes_only_what_the_previous_run_wrote(tmp_path, capsys):
    output = tmp_path / "run"
    run(output, *ONE_EPOCH, "--no-augment", "--tensorboard")
    first = json.loads((output / ".keras-vit-run.json").read_text())
    assert any(name.startswith("logs/train/events.out.tfevents.") for name in first["files"])
    # The user's own files, some inside folders keras-vit writes into.
    (output / "logs" / "mine").write_text("notes")
    (output / "backup").mkdir()
    (output / "backup" / "weights-i-care-about.h5").write_bytes(b"x")
    (output / "paper.tex").write_text("draft")
    capsys.readouterr()
    run(output, "--epochs", "2", "--no-augment", "--overwrite")
    out = capsys.readouterr().out
    assert "kept (not written by keras-vit): backup/weights-i-care-about.h5, logs/mine, paper.tex" in out, out
    assert (output / "logs" / "mine").read_text() == "notes"
    assert (output / "backup" / "weights-i-care-about.h5").read_bytes() == b"x"
    assert (output / "paper.tex").read_text() == "draft"
    assert os.listdir(output / "logs") == ["mine"]  # TensorBoard's files and folders went
    assert json.loads((output / "config.json").read_text())["epochs"] == 2
    assert json.loads((output / "metrics.json").read_text())["epochs"] == 2


def _child(point, output, *flags, cwd=None, env=None):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    environment.pop("XLA_FLAGS", None)
    command = [sys.executable, os.path.join(root, "tests", "_train_child.py"), point]
    if output is not None:
        command += ["--output-dir", str(output)]
    return subprocess.Popen([*command, *flags], cwd=cwd or root, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class StopAtEpoch(keras.callbacks.Callback):
    """Ends a resumed run as soon as it starts an epoch (where it started is what is tested)."""

    def on_epoch_begin(self, epoch, logs=None):
        raise Killed(f"started epoch {epoch + 1}")


def _spelled_out_defaults():
    """Every flag with a value at its default, written out (store_true flags
    are off by default, so absent), plus the resolved sizes of digits."""
    import argparse

    parser = train.add_arguments(argparse.ArgumentParser())
    flags = []
    for action in parser._actions:
        if not action.option_strings or action.default in (None, False) or action.dest == "help":
            continue
        values = action.default if isinstance(action.default, (tuple, list)) else [action.default]
        flags += [action.option_strings[0], *map(str, values)]
    return flags + ["--image-size", "32", "--patch-size", "4"]


@pytest.mark.slow
@pytest.mark.backend_independent  # a subprocess with the TensorFlow backend
def test_a_default_run_resumes_with_no_flags_and_with_defaults_spelled_out(tmp_path, monkeypatch, capsys):
    # `keras-vit train` with no flags at all, killed after its first epoch.
    child = _child("between-epochs", None, cwd=tmp_path)
    out, err = child.communicate(timeout=600)
    assert child.returncode == -9, (out[-2000:], err[-3000:])
    (directory,) = os.listdir(tmp_path / "runs")
    output = tmp_path / "runs" / directory
    assert directory.startswith("digits-custom-")
    assert json.loads((output / "config.json").read_text())["crop_scale"] == [0.08, 1.0]
    monkeypatch.chdir(tmp_path)
    # The same command again: it finds the unfinished run and resumes it.
    with pytest.raises(Killed, match="started epoch 2"):
        train.run(train.parse_args([]), callbacks=[StopAtEpoch()])
    assert f"Resuming {os.path.join('runs', directory)} at epoch 2." in capsys.readouterr().out
    # Every default written out is the same run.
    with pytest.raises(Killed, match="started epoch 2"):
        train.run(train.parse_args(["--output-dir", str(output), *_spelled_out_defaults()]),
                  callbacks=[StopAtEpoch()])
    assert f"Resuming {output} at epoch 2." in capsys.readouterr().out
    assert os.listdir(tmp_path / "runs") == [directory]


@pytest.mark.backend_independent
def test_a_second_run_into_a_busy_directory_is_refused(tmp_path):
    import signal

    output = tmp_path / "run"
    release = tmp_path / "release"
    holder = _child("hold", output, *SMALL, *ONE_EPOCH, env={"KERAS_VIT_TEST_RELEASE": str(release)})
    try:
        for line in holder.stdout:  # ends if the holder dies
            if line.strip() == "holding":
                break
        assert holder.poll() is None, holder.stderr.read()[-3000:]
        busy = rf"{re.escape(str(output))} is in use by another keras-vit run \(pid {holder.pid} on "
        with pytest.raises(SystemExit, match=busy):
            run(output, *ONE_EPOCH)
        assert json.loads((output / "config.json").read_text())["epochs"] == 1  # the holder's, untouched
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=60)
    # The killed holder left its lock file, but the lock died with it (the
    # next run takes the directory over: tests/training/test_run_checkpoint.py).
    assert (output / ".keras-vit.lock").exists()
    assert not _run_directory.DirectoryLock(str(output)).is_held()


@pytest.mark.backend_independent
def test_a_failed_start_writes_nothing(tmp_path, capsys):
    output = tmp_path / "run"
    with pytest.raises(SystemExit):
        run(output, "--learning-rate", "nan")
    assert "--learning-rate: must be a finite number" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--dataset folder:/nonexistent: no such directory"):
        run(output, "--dataset", "folder:/nonexistent")
    empty = tmp_path / "empty"
    (empty / "train" / "a").mkdir(parents=True)
    (empty / "test" / "a").mkdir(parents=True)
    with pytest.raises(SystemExit, match="has no class folders with images"):
        run(output, "--dataset", f"folder:{empty}")
    assert not output.exists()
    # The directory was not poisoned: the corrected command runs there.
    assert run(output, *ONE_EPOCH, "--no-augment")["epochs"] == 1
    # A file in the way, or damaged run files: one-line errors.
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="--output-dir .*file exists and is not a directory"):
        run(tmp_path / "file", *ONE_EPOCH)
    damaged = tmp_path / "damaged"
    with pytest.raises(Killed):
        run(damaged, "--epochs", "2", "--no-augment", callbacks=[StopAtEpoch()])
    (damaged / "config.json").write_text("{not json")
    with pytest.raises(SystemExit, match=r"config.json is not valid JSON .* pass --overwrite"):
        run(damaged, "--epochs", "2", "--no-augment")
    (damaged / ".keras-vit-run.json").write_text("[]")
    with pytest.raises(SystemExit, match="is not a keras-vit run manifest"):
        run(damaged, "--epochs", "2", "--no-augment", "--overwrite")
    assert (damaged / "config.json").read_text() == "{not json"


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "flags, match",
    [
        (["--dataset", "imagenet"], "--dataset"),
        (["--model", "Q/16"], "--model"),
        (["--model", "B/16", "--patch-size", "8", "--image-size", "100"], "divisible"),
        (["--warmup-epochs", "9", "--epochs", "3"], "--warmup-epochs"),
        (["--hidden-dim", "30", "--num-heads", "4"], "--hidden-dim"),
        (["--crop-scale", "0.5", "0.2"], "--crop-scale"),
    ],
)
def test_bad_flags_fail_before_any_work(tmp_path, flags, match):
    with pytest.raises(SystemExit, match=match):
        run(tmp_path / "bad", *flags)
    assert not os.path.exists(tmp_path / "bad")


@pytest.mark.backend_independent
def test_argparse_rejects_out_of_range_values(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--drop-path", "1.5"])
    assert "--drop-path" in capsys.readouterr().err


@pytest.mark.backend_independent
def test_console_script_has_a_train_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--model", "--precision", "--mixup", "--accumulation-steps", "--clipnorm", "--monitor-gradients"):
        assert flag in out


@pytest.mark.backend_independent  # the tfds and folder branches only build tf.data pipelines
def test_tfds_and_image_folder_datasets(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    splits = ["--train-split", "train", "--validation-split", "test", "--test-split", "test"]
    with tfds.testing.mock_data(num_examples=64):
        metrics = run(tmp_path / "tfds", "--dataset", "tfds:cifar10", "--epochs", "2", *splits)
    assert metrics["dataset"] == "tfds:cifar10" and metrics["epochs"] == 2
    image = pytest.importorskip("PIL.Image")
    root = tmp_path / "images"
    for split, count in (("train", 40), ("test", 10)):
        for name, value in (("dark", 20), ("bright", 235)):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                image.fromarray(np.full((20, 20, 3), value, np.uint8)).save(root / split / name / f"{i}.png")
    # An unreadable file stops the run before anything is written, naming it...
    (root / "train" / "dark" / "broken.png").write_bytes(b"not a png at all")
    with pytest.raises(SystemExit, match=r"broken\.png"):
        run(tmp_path / "folder", "--dataset", f"folder:{root}", "--epochs", "3", "--batch-size", "8", "--no-augment")
    assert not (tmp_path / "folder").exists()
    # ...or is left out with a warning naming it.
    with pytest.warns(UserWarning, match=r"broken\.png"):
        metrics = run(tmp_path / "folder", "--dataset", f"folder:{root}", "--epochs", "3", "--batch-size", "8",
                      "--no-augment", "--bad-images", "skip")
    assert metrics["test_accuracy"] >= 0.95  # black against white
    with pytest.raises(SystemExit, match="needs .*test"):
        run(tmp_path / "missing", "--dataset", f"folder:{root / 'train'}", "--epochs", "2")


def run_cli(tmp_path, backend, *flags, env=None):
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, "-m", "keras_vit.train", "--output-dir", str(tmp_path), *SMALL, *flags]
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    environment.pop("XLA_FLAGS", None)
    process = subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, (process.stdout[-2000:], process.stderr[-3000:])
    return process.stdout, json.loads((tmp_path / "metrics.json").read_text())


@pytest.mark.backend_independent  # each starts a process with its own backend
@pytest.mark.parametrize(
    "backend, strategy, expected",
    [("tensorflow", "mirrored", "mirrored strategy, 2 replica(s)"),
     ("jax", "jax-data-parallel", "DataParallel over 2 devices, 2 replica(s)")],
)
def test_strategies_from_the_command_line(tmp_path, backend, strategy, expected):
    pytest.importorskip(backend)
    out, metrics = run_cli(tmp_path, backend, "--strategy", strategy, "--cpu-devices", "2",
                           "--batch-size", "16", "--epochs", "2", "--no-augment")
    assert expected in out
    assert metrics["replicas"] == 2 and metrics["global_batch_size"] == 32  # 16 per replica
    assert "batch 32 (16 x 2 replicas)" in out
    assert metrics["epochs"] == 2 and 0.0 <= metrics["test_accuracy"] <= 1.0


def test_a_strategy_needs_its_backend(tmp_path):
    other = "jax-data-parallel" if keras.backend.backend() != "jax" else "mirrored"
    with pytest.raises(SystemExit, match=f"--strategy {other} needs KERAS_BACKEND"):
        run(tmp_path / "bad", "--strategy", other)
    assert not os.path.exists(tmp_path / "bad")


def test_training_starts_from_a_checkpoint(tmp_path, capsys):
    # A checkpoint of the same small architecture with another class count:
    # everything but the head is loaded, and training goes on from there.
    from keras_vit import VisionTransformer
    from keras_vit.checkpoints import export_weights

    source = VisionTransformer(patch_size=4, hidden_dim=32, num_layers=2, num_heads=2, mlp_dim=64,
                               input_shape=(16, 16, 3), classes=3)
    export_weights(source, tmp_path / "pretrained.safetensors", format="timm")
    metrics = run(tmp_path / "run", *ONE_EPOCH, "--no-augment",
                  "--weights", str(tmp_path / "pretrained.safetensors"))
    out = capsys.readouterr().out
    assert "head not loaded: the checkpoint has 3 classes, the model 10" in out
    assert "Loaded 38 weights from pretrained.safetensors (timm layout)" in out
    assert metrics["epochs"] == 1


@pytest.mark.backend_independent
def test_weights_flag_must_name_a_file_or_preset(tmp_path):
    with pytest.raises(SystemExit, match="--weights 'nowhere.npz' is neither a file nor a preset"):
        run(tmp_path / "bad", "--weights", "nowhere.npz")
    assert not os.path.exists(tmp_path / "bad")
