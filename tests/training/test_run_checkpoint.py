"""A `keras-vit train` run killed (SIGKILL) at every phase boundary: the
next run continues where the killed one stopped, never starts over, and
the directory ends as an uninterrupted run leaves it."""

import json
import os
import subprocess
import sys

import pytest

from keras_vit.cli import flags, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = [
    "--image-size", "16", "--hidden-dim", "32", "--num-layers", "2", "--num-heads", "2", "--mlp-dim", "64",
    "--batch-size", "32", "--learning-rate", "5e-3", "--warmup-epochs", "1", "--no-flip", "--verbose", "0",
    "--epochs", "2", "--rand-augment-ops", "0",
]
FINISHED = {".keras-vit-run.json", "best.keras", "config.json", "curves.png", "history.csv", "metrics.json"}


def run_child(point, output):
    """Runs tests/cli/_train_child.py (keras-vit train that kills itself at
    `point`) in a fresh process; returns its stdout."""
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    environment.pop("XLA_FLAGS", None)
    command = [sys.executable, os.path.join(ROOT, "tests", "cli", "_train_child.py"), point,
               "--output-dir", str(output), *FLAGS]
    process = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600)
    assert process.returncode == -9, (point, process.returncode, process.stdout[-2000:], process.stderr[-3000:])
    return process.stdout


def rows(output):
    path = output / "history.csv"
    return path.read_text().splitlines()[1:] if path.exists() else []


def manifest(output):
    return json.loads((output / ".keras-vit-run.json").read_text())


@pytest.mark.slow
@pytest.mark.backend_independent  # the phases are plain Python; resuming on each backend: tests/cli/test_run_directory.py
def test_a_run_killed_at_every_phase_boundary_continues_where_it_stopped(tmp_path, capsys):
    output = tmp_path / "run"
    # (kill point, what the killed run must have started from, committed
    # epochs left behind): each run continues the previous killed one.
    chain = [
        ("first-epoch", "fresh", 0),       # in the middle of epoch 1
        ("best-model", "fresh", 0),        # while best.keras of epoch 1 is written
        ("between-epochs", "fresh", 1),    # epoch 1 committed, epoch 2 not started
        ("backup", "epoch 2", 1),          # epoch 2's weights written, not yet renamed
        ("epoch", "epoch 2", 1),           # in the middle of epoch 2
        ("commit", "epoch 2", 2),          # epoch 2 committed, best/history not yet moved in
        ("trained", "done", 2),            # training recorded as complete, backup not deleted
        ("evaluation", "done", 2),         # while the test set is evaluated
        ("metrics", "done", 2),            # metrics.json written but not renamed
        ("curves", "done", 2),             # curves.png written but not renamed
    ]
    committed_rows = []
    for point, started, epochs_left in chain:
        out = run_child(point, output)
        if started == "fresh":
            assert "Resuming" not in out and "epochs are done" not in out, (point, out)
        elif started == "done":
            assert "training is complete" in out or "all 2 epochs are done" in out, (point, out)
        else:
            assert f"Resuming {output} at epoch 2." in out, (point, out)
        # Rows of committed epochs never change once written.
        assert rows(output)[:len(committed_rows)] == committed_rows, point
        committed_rows = rows(output) or committed_rows
        state = manifest(output)
        assert state["state"] != "finished", point
        # The killed process left its lock file; the next run takes it over.
        assert (output / ".keras-vit.lock").exists(), point
        if epochs_left and state["state"] == "training":
            backup = json.loads((output / "backup" / "state.json").read_text())
            assert backup["epoch"] == epochs_left, (point, backup["epoch"])
        assert not (output / "metrics.json").exists() or point == "curves", point

    metrics = run.run(flags.parse_args(["--output-dir", str(output), *FLAGS]))
    out = capsys.readouterr().out
    assert "training is complete; evaluating best.keras" in out, out
    assert metrics["epochs"] == 2 and 0.0 <= metrics["test_accuracy"] <= 1.0
    history = rows(output)
    assert len(history) == 2 and history[:len(committed_rows)] == committed_rows
    # As an uninterrupted run leaves it: no backup, no lock, no temporaries.
    assert set(os.listdir(output)) == FINISHED, sorted(os.listdir(output))
    assert manifest(output)["state"] == "finished"
    assert sorted(manifest(output)["files"]) == sorted(FINISHED - {".keras-vit-run.json"})
    import keras

    best = keras.models.load_model(output / "best.keras")
    assert best.count_params() == metrics["parameters"]
