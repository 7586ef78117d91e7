"""A `keras-vit train` run (keras_vit/cli/run.py): its files and metrics,
every data source, distribution, and pretrained weights."""

import json
import os

import keras
import numpy as np
import pytest

from tests.cli._train import ONE_EPOCH, read_csv, run_module, train


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


@pytest.mark.backend_independent  # the tfds and folder branches only build tf.data pipelines
def test_tfds_and_image_folder_datasets(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    splits = ["--train-split", "train", "--validation-split", "test", "--test-split", "test"]
    with tfds.testing.mock_data(num_examples=64):
        metrics = train(tmp_path / "tfds", "--dataset", "tfds:cifar10", "--epochs", "2", *splits)
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
        train(tmp_path / "folder", "--dataset", f"folder:{root}", "--epochs", "3", "--batch-size", "8", "--no-augment")
    assert not (tmp_path / "folder").exists()
    # ...or is left out with a warning naming it.
    with pytest.warns(UserWarning, match=r"broken\.png"):
        metrics = train(tmp_path / "folder", "--dataset", f"folder:{root}", "--epochs", "3", "--batch-size", "8",
                        "--no-augment", "--bad-images", "skip")
    assert metrics["test_accuracy"] >= 0.95  # black against white
    with pytest.raises(SystemExit, match="needs .*test"):
        train(tmp_path / "missing", "--dataset", f"folder:{root / 'train'}", "--epochs", "2")


@pytest.mark.backend_independent  # each starts a process with its own backend
@pytest.mark.parametrize(
    "backend, strategy, expected",
    [("tensorflow", "mirrored", "mirrored strategy, 2 replica(s)"),
     ("jax", "jax-data-parallel", "DataParallel over 2 devices, 2 replica(s)")],
)
def test_strategies_from_the_command_line(tmp_path, backend, strategy, expected):
    pytest.importorskip(backend)
    out, metrics = run_module(tmp_path, backend, "--strategy", strategy, "--cpu-devices", "2",
                              "--batch-size", "16", "--epochs", "2", "--no-augment")
    assert expected in out
    assert metrics["replicas"] == 2 and metrics["global_batch_size"] == 32  # 16 per replica
    assert "batch 32 (16 x 2 replicas)" in out
    assert metrics["epochs"] == 2 and 0.0 <= metrics["test_accuracy"] <= 1.0


def test_training_starts_from_a_checkpoint(tmp_path, capsys):
    # A checkpoint of the same small architecture with another class count:
    # everything but the head is loaded, and training goes on from there.
    from keras_vit import VisionTransformer
    from keras_vit.checkpoints import export_weights

    source = VisionTransformer(patch_size=4, hidden_dim=32, num_layers=2, num_heads=2, mlp_dim=64,
                               input_shape=(16, 16, 3), classes=3)
    export_weights(source, tmp_path / "pretrained.safetensors", format="timm")
    metrics = train(tmp_path / "run", *ONE_EPOCH, "--no-augment",
                    "--weights", str(tmp_path / "pretrained.safetensors"))
    out = capsys.readouterr().out
    assert "head not loaded: the checkpoint has 3 classes, the model 10" in out
    assert "Loaded 38 weights from pretrained.safetensors (timm layout)" in out
    assert metrics["epochs"] == 1
