"""Round trips through keras_vit.serving: export, load back on the format's
own runtime, compare with the Keras model's `predict`.

Runs under every backend; each backend exports what it can (the table in
`EXPECTED_FORMATS`), the other formats are skipped with the reason or,
in `test_unsupported_formats_raise`, must fail with a clear error.
"""

import os
import sys

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit import serving

BACKEND = keras.backend.backend()

# Absolute, on float32 logits of size ~1 (std 0.43). The runtimes (XLA,
# oneDNN, ONNX Runtime, XNNPACK) sum float32 products in different orders:
# measured max |difference| 2.4e-7, a few float32 ulps, so 2e-6 leaves a
# margin of ~8x. A subtle graph error is larger: swapping the exact GELU for
# its tanh approximation moves these logits by 4.6e-5, and
# `test_tolerance_sees_the_gelu_form` checks that this stays visible.
ATOL = 2e-6

# What Keras 3.15 can export from each backend (see keras_vit.serving).
EXPECTED_FORMATS = {
    "tensorflow": ("keras", "saved_model", "onnx", "litert"),
    "jax": ("keras", "saved_model", "onnx"),
    "torch": ("keras", "onnx"),
}
FILE_NAMES = {"keras": "model.keras", "saved_model": "saved_model", "onnx": "model.onnx", "litert": "model.tflite"}
# Modules each format needs under this backend, to export and to load.
NEEDS = {
    "saved_model": ["tensorflow"],
    "onnx": {"tensorflow": ["tf2onnx", "onnx"], "jax": ["jax2onnx"], "torch": ["onnxscript", "onnx"]}[BACKEND]
    + ["onnxruntime"],
    "litert": [],  # load_exported falls back to tf.lite without ai-edge-litert
}


def _model(approximate_gelu=False):
    # Register tokens and LayerScale ride along: both are extra weights and
    # ops an exporter could drop or mistranslate.
    model = keras_vit.VisionTransformer(
        patch_size=8, hidden_dim=32, num_layers=2, num_heads=2, mlp_dim=64, input_shape=(32, 32, 3),
        classes=10, classifier_activation=None, num_register_tokens=2, layer_scale_init=0.1,
        approximate_gelu=approximate_gelu,
    )
    # Seeded weights, the same under every backend, none at its initial
    # value (zero biases, LayerNorm at 1/0, head std 0.02): each one matters
    # and the logits are of order 1.
    rng = np.random.default_rng(0)
    for variable in model.weights:
        centre = {"gamma": 1.0, "layer_scale": 0.1}.get(variable.path.rsplit("/", 1)[-1], 0.0)
        variable.assign(centre + rng.normal(0.0, 0.1, variable.shape).astype("float32"))
    return model


def _images(batch=3):
    return np.random.default_rng(1).normal(size=(batch, 32, 32, 3)).astype("float32")


@pytest.fixture(scope="module")
def trained():
    """`(model, images, model.predict(images))`, built once: exports only read it."""
    model = _model()
    images = _images()
    expected = model.predict(images, verbose=0)
    assert expected.std() > 0.1  # not a degenerate model whose outputs all agree
    return model, images, expected


def _require(format):
    for module in NEEDS.get(format, []):
        pytest.importorskip(module, reason=f"format={format!r} under {BACKEND} needs {module}")


def test_export_formats_match_the_backend():
    assert serving.export_formats() == EXPECTED_FORMATS[BACKEND]
    assert {serving.export_formats(backend) for backend in EXPECTED_FORMATS} == set(EXPECTED_FORMATS.values())


@pytest.mark.parametrize("format", serving.SERVING_FORMATS)
def test_round_trip_matches_predict(tmp_path, trained, format):
    if format not in EXPECTED_FORMATS[BACKEND]:
        pytest.skip(f"the {BACKEND} backend cannot export format={format!r} (test_unsupported_formats_raise)")
    _require(format)
    model, images, expected = trained

    path = serving.export_model(model, tmp_path / FILE_NAMES[format], format=format)
    assert path == str(tmp_path / FILE_NAMES[format])
    assert os.listdir(tmp_path) == [FILE_NAMES[format]]  # no staging files left
    predict = serving.load_exported(path, format)
    np.testing.assert_allclose(predict(images), expected, rtol=0, atol=ATOL)
    # The batch stays dynamic: another batch size runs through the same export.
    np.testing.assert_allclose(predict(images[:1]), expected[:1], rtol=0, atol=ATOL)


def test_fixed_batch_size(tmp_path, trained):
    # ONNX is the one format every backend writes.
    _require("onnx")
    import onnxruntime

    model, images, expected = trained
    path = serving.export_model(model, tmp_path / "model.onnx", format="onnx", batch_size=2)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [2, 32, 32, 3]
    predict = serving.load_exported(path, "onnx")
    np.testing.assert_allclose(predict(images[:2]), expected[:2], rtol=0, atol=ATOL)
    with pytest.raises(ValueError, match="fixed batch of 2"):
        predict(images)


def test_tolerance_sees_the_gelu_form(trained):
    model, images, expected = trained
    tanh = _model(approximate_gelu=True)
    tanh.set_weights(model.get_weights())
    difference = np.abs(tanh.predict(images, verbose=0) - expected).max()
    assert difference > 10 * ATOL


def test_existing_file_is_not_overwritten(tmp_path, trained):
    model, images, expected = trained
    path = tmp_path / "mine.keras"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        serving.export_model(model, path)
    assert path.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["mine.keras"]

    serving.export_model(model, path, overwrite=True)
    np.testing.assert_allclose(serving.load_exported(path, "keras")(images), expected, rtol=0, atol=ATOL)


def test_overwrite_never_replaces_a_directory_with_a_file(tmp_path, trained):
    folder = tmp_path / "model.onnx"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a file"):
        serving.export_model(trained[0], folder, format="onnx", overwrite=True)
    assert (folder / "notes.txt").read_text() == "mine"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_overwrite_replaces_only_a_saved_model(tmp_path, trained):
    if "saved_model" not in EXPECTED_FORMATS[BACKEND]:
        pytest.skip(f"the {BACKEND} backend cannot export format='saved_model'")
    _require("saved_model")
    model, images, expected = trained
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a SavedModel"):
        serving.export_model(model, folder, format="saved_model", overwrite=True)
    assert os.listdir(folder) == ["notes.txt"]

    # An older export (what makes a directory a SavedModel is its saved_model.pb),
    # named as export_model names the old export it moves aside.
    old = tmp_path / "replaced"
    old.mkdir()
    (old / "saved_model.pb").write_bytes(b"old graph")
    (old / "stale.txt").write_text("from the last export")
    serving.export_model(model, old, format="saved_model", overwrite=True)
    assert "stale.txt" not in os.listdir(old)
    assert sorted(os.listdir(tmp_path)) == ["exports", "replaced"]
    np.testing.assert_allclose(serving.load_exported(old, "saved_model")(images), expected, rtol=0, atol=ATOL)


def test_unsupported_formats_raise(tmp_path, trained):
    unsupported = [f for f in serving.SERVING_FORMATS if f not in EXPECTED_FORMATS[BACKEND]]
    if not unsupported:
        pytest.skip(f"the {BACKEND} backend exports every format")
    model = trained[0]
    for format in unsupported:
        can = ", ".join(b for b, formats in EXPECTED_FORMATS.items() if format in formats)
        with pytest.raises(ValueError, match=f"format='{format}' cannot be exported with the {BACKEND} backend") as e:
            serving.export_model(model, tmp_path / FILE_NAMES[format], format=format)
        assert f"Backends that can: {can}" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_bad_arguments_raise_before_writing(tmp_path, trained):
    model = trained[0]
    with pytest.raises(ValueError, match=r"`format` must be one of \('keras', 'saved_model', 'onnx', 'litert'\)"):
        serving.export_model(model, tmp_path / "m.pt", format="torchscript")
    with pytest.raises(ValueError, match="`format` must be one of"):
        serving.export_model(model, tmp_path / "m.keras", format=None)
    with pytest.raises(ValueError, match=r"end with '\.keras'"):
        serving.export_model(model, tmp_path / "m.h5")
    # "tflite" is another name for "litert", so the .tflite rule applies.
    with pytest.raises(ValueError, match="litert"):
        serving.export_model(model, tmp_path / "m.lite", format="tflite")
    with pytest.raises(ValueError, match="`batch_size` must be a positive int"):
        serving.export_model(model, tmp_path / "m.onnx", format="onnx", batch_size=0)
    with pytest.raises(ValueError, match="`batch_size` must be None for format='keras'"):
        serving.export_model(model, tmp_path / "m.keras", batch_size=2)
    with pytest.raises(TypeError, match="`overwrite` must be True or False"):
        serving.export_model(model, tmp_path / "m.keras", overwrite="no")
    with pytest.raises(TypeError, match="`verbose` must be True or False"):
        serving.export_model(model, tmp_path / "m.keras", verbose="yes")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        serving.export_model(model, tmp_path / "missing" / "m.keras")
    with pytest.raises(TypeError, match="keras.Model"):
        serving.export_model(object(), tmp_path / "m.keras")
    with pytest.raises(ValueError, match="`backend` must be one of"):
        serving.export_formats("numpy")
    with pytest.raises(ValueError, match="`format` must be one of"):
        serving.load_exported(tmp_path / "m.keras", "pickle")
    with pytest.raises(FileNotFoundError, match="No export"):
        serving.load_exported(tmp_path / "m.keras", "keras")
    assert os.listdir(tmp_path) == []


def test_litert_interpreter_falls_back_to_tensorflow(monkeypatch):
    # CI does not install ai-edge-litert: the loader must find TensorFlow's
    # interpreter (lazily loaded as tf.lite.Interpreter) instead.
    tf = pytest.importorskip("tensorflow")
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    assert serving._litert_interpreter() is tf.lite.Interpreter


def _dead_pid():
    """The id of a process that has exited (and been reaped)."""
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_scratch_folders_of_dead_processes_are_removed(tmp_path, trained, monkeypatch):
    from keras_vit import _files

    dead, live = _dead_pid(), os.getpid()
    # Left by an export killed mid-write: its process is gone.
    stale = tmp_path / f".keras_vit-export-{dead}-old.keras.abcd1234"
    stale.mkdir()
    (stale / "old.keras").write_bytes(b"half an export")
    kept = [
        f".keras_vit-export-{live}-other.keras.efgh5678",  # an export running now
        ".keras_vit-export-x1y2z3w4",  # no pid in the name (an older keras_vit)
        ".keras_vit-export-notes",  # not keras_vit's pattern
        f".keras_vit-tmp-{dead}-other.npz.ijkl9012",  # another kind
        "results.keras",
    ]
    for name in kept[:3]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "inside").write_bytes(b"keep")
    for name in kept[3:]:
        (tmp_path / name).write_bytes(b"keep")

    staged = []
    real_fsync_tree = _files.fsync_tree
    monkeypatch.setattr(_files, "fsync_tree", lambda path: staged.append(path) or real_fsync_tree(path))
    serving.export_model(trained[0], tmp_path / "model.keras")
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["model.keras"])
    for name in kept[:3]:
        assert (tmp_path / name / "inside").read_bytes() == b"keep"
    # This export's own scratch folder carried this process's id (and is gone).
    assert len(staged) == 1
    scratch = os.path.dirname(os.path.dirname(staged[0]))
    assert os.path.dirname(scratch) == str(tmp_path)
    assert os.path.basename(scratch).startswith(f".keras_vit-export-{live}-model.keras.")


def test_an_old_saved_model_caught_mid_swap_is_put_back(tmp_path, trained):
    # A kill between moving the old SavedModel aside and moving the new one
    # in leaves the old one in the scratch folder: the next export restores it.
    dead = _dead_pid()
    mid_swap = tmp_path / f".keras_vit-export-{dead}-saved_model.abcd1234"
    (mid_swap / "replaced").mkdir(parents=True)
    (mid_swap / "replaced" / "saved_model.pb").write_bytes(b"old graph")
    (mid_swap / "staged" / "saved_model").mkdir(parents=True)
    (mid_swap / "staged" / "saved_model" / "saved_model.pb").write_bytes(b"new graph")
    # A kill after the swap: the replaced export was meant to go.
    after_swap = tmp_path / f".keras_vit-export-{dead}-done.abcd1234"
    (after_swap / "replaced").mkdir(parents=True)
    (after_swap / "replaced" / "saved_model.pb").write_bytes(b"older graph")
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "saved_model.pb").write_bytes(b"newer graph")

    serving.export_model(trained[0], tmp_path / "model.keras")
    assert sorted(os.listdir(tmp_path)) == ["done", "model.keras", "saved_model"]
    assert (tmp_path / "saved_model" / "saved_model.pb").read_bytes() == b"old graph"
    assert (tmp_path / "done" / "saved_model.pb").read_bytes() == b"newer graph"
