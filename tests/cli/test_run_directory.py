"""Where a `keras-vit train` run writes and what it may do there
(keras_vit/cli/run_directory.py): resuming, never overwriting saved work,
--overwrite deleting only the run's own files, the directory lock."""

import json
import os
import re

import keras
import numpy as np
import pytest

from keras_vit.cli import flags, run, run_directory
from keras_vit.training import WarmupCosine, _run_directory
from tests.cli._train import (
    AUGMENTED,
    ONE_EPOCH,
    SMALL,
    STEPS_PER_EPOCH,
    Interrupt,
    Killed,
    StopAtEpoch,
    child,
    read_csv,
    train,
)


@pytest.mark.backend_independent  # plain Python
def test_settings_resolve_defaults_and_leave_out_where_a_run_goes():
    implicit = run_directory.settings(flags.parse_args([]))
    explicit = run_directory.settings(flags.parse_args(
        ["--image-size", "32", "--patch-size", "4", "--output-dir", "elsewhere", "--verbose", "2", "--overwrite"]))
    assert implicit == explicit
    assert implicit["image_size"] == 32 and implicit["patch_size"] == 4 and implicit["crop_scale"] == [0.08, 1.0]
    assert not set(run_directory.IGNORED_FLAGS) & set(implicit)
    assert run_directory.settings(flags.parse_args(["--dataset", "tfds:cifar10"]))["image_size"] == 224


@pytest.mark.backend_independent
def test_the_default_directory_is_named_after_the_command(tmp_path):
    args = flags.parse_args(["--dataset", "folder:/data/my.photos", "--model", "S/16"])
    path = run_directory.default_output_dir(args, parent=str(tmp_path))
    assert os.path.basename(path).startswith("folder-_data_my.photos-S16-")


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path):
    output = tmp_path / "run"
    with pytest.raises(Killed):
        train(output, "--epochs", "3", *AUGMENTED, callbacks=[Interrupt(epoch=1, batch=5)])
    assert os.path.isdir(output / "backup") and not os.path.exists(output / "metrics.json")
    assert [int(r["epoch"]) for r in read_csv(output / "history.csv")] == [0]

    class Count(keras.callbacks.Callback):
        epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append(epoch)

    metrics = train(output, "--epochs", "3", *AUGMENTED, callbacks=[Count()])
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
        train(output, "--epochs", "6", "--no-augment", "--drop-path", "0", "--monitor-gradients", "--tensorboard")
    other = tmp_path / "unrelated"
    other.mkdir()
    (other / "thesis.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="holds no keras-vit run"):
        train(other, "--epochs", "2")
    # A directory without a keras-vit manifest is never emptied: files with
    # a run file's name are refused even with --overwrite...
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text(json.dumps({"epochs": 99}))
    (foreign / "thesis.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="holds config.json, which keras-vit did not write"):
        train(foreign, *ONE_EPOCH, "--overwrite")
    assert json.loads((foreign / "config.json").read_text()) == {"epochs": 99}
    assert sorted(os.listdir(foreign)) == ["config.json", "thesis.txt"]
    # ...and other files stay beside the run's own.
    train(other, *ONE_EPOCH, "--no-augment", "--overwrite")
    assert (other / "thesis.txt").read_text() == "keep me"
    assert json.loads((other / "config.json").read_text())["epochs"] == 1


@pytest.mark.backend_independent
def test_overwrite_deletes_only_what_the_previous_run_wrote(tmp_path, capsys):
    output = tmp_path / "run"
    train(output, *ONE_EPOCH, "--no-augment", "--tensorboard")
    first = json.loads((output / ".keras-vit-run.json").read_text())
    assert any(name.startswith("logs/train/events.out.tfevents.") for name in first["files"])
    # The user's own files, some inside folders keras-vit writes into.
    (output / "logs" / "mine").write_text("notes")
    (output / "backup").mkdir()
    (output / "backup" / "weights-i-care-about.h5").write_bytes(b"x")
    (output / "paper.tex").write_text("draft")
    capsys.readouterr()
    train(output, "--epochs", "2", "--no-augment", "--overwrite")
    out = capsys.readouterr().out
    assert "kept (not written by keras-vit): backup/weights-i-care-about.h5, logs/mine, paper.tex" in out, out
    assert (output / "logs" / "mine").read_text() == "notes"
    assert (output / "backup" / "weights-i-care-about.h5").read_bytes() == b"x"
    assert (output / "paper.tex").read_text() == "draft"
    assert os.listdir(output / "logs") == ["mine"]  # TensorBoard's files and folders went
    assert json.loads((output / "config.json").read_text())["epochs"] == 2
    assert json.loads((output / "metrics.json").read_text())["epochs"] == 2


def _spelled_out_defaults():
    """Every flag with a value at its default, written out (store_true flags
    are off by default, so absent), plus the resolved sizes of digits."""
    parser = flags.build_parser()
    values = []
    for action in parser._actions:
        if not action.option_strings or action.default in (None, False) or action.dest == "help":
            continue
        defaults = action.default if isinstance(action.default, (tuple, list)) else [action.default]
        values += [action.option_strings[0], *map(str, defaults)]
    return values + ["--image-size", "32", "--patch-size", "4"]


@pytest.mark.slow
@pytest.mark.backend_independent  # a subprocess with the TensorFlow backend
def test_a_default_run_resumes_with_no_flags_and_with_defaults_spelled_out(tmp_path, monkeypatch, capsys):
    # `keras-vit train` with no flags at all, killed after its first epoch.
    process = child("between-epochs", None, cwd=tmp_path)
    out, err = process.communicate(timeout=600)
    assert process.returncode == -9, (out[-2000:], err[-3000:])
    (directory,) = os.listdir(tmp_path / "runs")
    output = tmp_path / "runs" / directory
    assert directory.startswith("digits-custom-")
    assert json.loads((output / "config.json").read_text())["crop_scale"] == [0.08, 1.0]
    monkeypatch.chdir(tmp_path)
    # The same command again: it finds the unfinished run and resumes it.
    with pytest.raises(Killed, match="started epoch 2"):
        run.run(flags.parse_args([]), callbacks=[StopAtEpoch()])
    assert f"Resuming {os.path.join('runs', directory)} at epoch 2." in capsys.readouterr().out
    # Every default written out is the same run.
    with pytest.raises(Killed, match="started epoch 2"):
        run.run(flags.parse_args(["--output-dir", str(output), *_spelled_out_defaults()]),
                callbacks=[StopAtEpoch()])
    assert f"Resuming {output} at epoch 2." in capsys.readouterr().out
    assert os.listdir(tmp_path / "runs") == [directory]


@pytest.mark.backend_independent
def test_a_second_run_into_a_busy_directory_is_refused(tmp_path):
    import signal

    output = tmp_path / "run"
    release = tmp_path / "release"
    holder = child("hold", output, *SMALL, *ONE_EPOCH, env={"KERAS_VIT_TEST_RELEASE": str(release)})
    try:
        for line in holder.stdout:  # ends if the holder dies
            if line.strip() == "holding":
                break
        assert holder.poll() is None, holder.stderr.read()[-3000:]
        busy = rf"{re.escape(str(output))} is in use by another keras-vit run \(pid {holder.pid} on "
        with pytest.raises(SystemExit, match=busy):
            train(output, *ONE_EPOCH)
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
        train(output, "--learning-rate", "nan")
    assert "--learning-rate: must be a finite float" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="--dataset folder:/nonexistent: no such directory"):
        train(output, "--dataset", "folder:/nonexistent")
    empty = tmp_path / "empty"
    (empty / "train" / "a").mkdir(parents=True)
    (empty / "test" / "a").mkdir(parents=True)
    with pytest.raises(SystemExit, match="has no class folders with images"):
        train(output, "--dataset", f"folder:{empty}")
    assert not output.exists()
    # The directory was not poisoned: the corrected command runs there.
    assert train(output, *ONE_EPOCH, "--no-augment")["epochs"] == 1
    # A file in the way, or damaged run files: one-line errors.
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match="--output-dir .*file exists and is not a directory"):
        train(tmp_path / "file", *ONE_EPOCH)
    damaged = tmp_path / "damaged"
    with pytest.raises(Killed):
        train(damaged, "--epochs", "2", "--no-augment", callbacks=[StopAtEpoch()])
    (damaged / "config.json").write_text("{not json")
    with pytest.raises(SystemExit, match=r"config.json is not valid JSON .* pass --overwrite"):
        train(damaged, "--epochs", "2", "--no-augment")
    (damaged / ".keras-vit-run.json").write_text("[]")
    with pytest.raises(SystemExit, match="is not a keras-vit run manifest"):
        train(damaged, "--epochs", "2", "--no-augment", "--overwrite")
    assert (damaged / "config.json").read_text() == "{not json"
