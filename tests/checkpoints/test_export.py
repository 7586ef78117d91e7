import os

import numpy as np
import pytest

from keras_vit.checkpoints import export_weights, load_weights, sniff_format
from tests.checkpoints import _fixtures


@pytest.mark.parametrize("format, case", [("timm", "registers"), ("google", "plain")])
def test_exported_files_load_back_with_identical_outputs(tmp_path, format, case):
    model = _fixtures.model_for(case)
    load_weights(model, _fixtures.path(f"{case}.safetensors"), verbose=False)
    path = tmp_path / "exported"
    export_weights(model, path, format=format)
    assert sniff_format(path) == format
    again = _fixtures.model_for(case, approximate_gelu=model.approximate_gelu, weights=path)
    _, images, _ = _fixtures.reference(case)
    np.testing.assert_array_equal(_fixtures.logits(again, images), _fixtures.logits(model, images))


def test_existing_files_are_not_overwritten(tmp_path):
    model = _fixtures.model_for("plain")
    path = tmp_path / "mine.safetensors"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_weights(model, path)
    assert path.read_bytes() == b"precious"
    export_weights(model, path, overwrite=True)
    assert sniff_format(path) == "timm"


def test_bad_arguments_raise(tmp_path):
    import keras

    with pytest.raises(ValueError, match="`format` must be one of"):
        export_weights(_fixtures.model_for("plain"), tmp_path / "x", format="onnx")
    with pytest.raises(TypeError, match="VisionTransformer"):
        export_weights(keras.Sequential([keras.layers.Dense(1)]), tmp_path / "y")


# Exports over an existing file, but the writer stops half-way (as if the
# machine were slow) and says so; the test then SIGKILLs it. The numpy
# backend keeps the child's start-up short.
_KILLED_CHILD = r"""
import io, os, sys, time
import os

import numpy as np
import keras_vit.checkpoints.export as export
from keras_vit import VisionTransformer
from keras_vit.checkpoints import safetensors_io

format, path = sys.argv[1:]
model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=1, num_heads=2, mlp_dim=32,
                          input_shape=(8, 8, 3), classes=3)


def write_half_and_stall(handle, data):
    handle.write(data[: len(data) // 2])
    handle.flush()
    os.fsync(handle.fileno())
    print("half written", flush=True)
    time.sleep(600)


if format == "google":
    real_savez = np.savez

    def savez(file, **arrays):
        buffer = io.BytesIO()
        real_savez(buffer, **arrays)
        write_half_and_stall(file, buffer.getvalue())

    np.savez = savez
else:
    def write_safetensors(target, tensors, metadata=None):
        full = path + ".full-in-another-name"
        safetensors_io.write_safetensors(full, tensors, metadata)
        with open(full, "rb") as handle:
            data = handle.read()
        os.remove(full)
        with open(target, "wb") as handle:
            write_half_and_stall(handle, data)

    export.write_safetensors = write_safetensors
export.export_weights(model, path, format=format, overwrite=True)
"""


def _start_killable_export(format, path, log):
    import subprocess
    import sys

    import keras_vit

    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_vit.__file__)))
    env = {**os.environ, "KERAS_BACKEND": "numpy", "PYTHONPATH": root, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, format, str(path)],
                            stdout=subprocess.PIPE, stderr=log, env=env)


def _wait_for_line(child, log_path, seconds=120):
    import select

    ready, _, _ = select.select([child.stdout], [], [], seconds)
    line = child.stdout.readline() if ready else b""
    assert line == b"half written\n", f"the exporting child did not get half-way:\n{log_path.read_text()[-3000:]}"


@pytest.mark.backend_independent
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and select on pipes are POSIX")
def test_a_kill_mid_write_leaves_the_old_file_byte_identical(tmp_path):
    import signal

    from keras_vit import _files

    good = b"the user's good checkpoint " * 100
    folder = tmp_path / "exports"
    folder.mkdir()
    paths = {"google": folder / "mine.npz", "timm": folder / "mine.safetensors"}
    children = {}
    for format, path in paths.items():
        path.write_bytes(good)
        log = tmp_path / f"{format}.log"
        with open(log, "wb") as handle:
            children[format] = (_start_killable_export(format, path, handle), log)
    try:
        for child, log in children.values():
            _wait_for_line(child, log)
    finally:
        for child, _ in children.values():
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
    for format, path in paths.items():
        assert path.read_bytes() == good, f"format={format!r}: the killed export damaged the old file"
    # What the killed processes left is keras_vit's, named after them, and
    # removed by the next clean-up in that folder.
    leftovers = sorted(set(os.listdir(folder)) - {p.name for p in paths.values()})
    pids = {child.pid for child, _ in children.values()}
    assert leftovers and all(_files._owner_pid(name, "tmp") in pids for name in leftovers)
    _files.remove_stale(folder)
    assert sorted(os.listdir(folder)) == sorted(p.name for p in paths.values())


def test_export_removes_temporaries_of_dead_processes_only(tmp_path):
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = tmp_path / f".keras_vit-tmp-{child.pid}-old.safetensors.abc123"
    live = tmp_path / f".keras_vit-tmp-{os.getpid()}-other.npz.def456"
    users = tmp_path / ".keras_vit-tmp-notes"
    for path in (stale, live, users):
        path.write_bytes(b"x")
    export_weights(_fixtures.model_for("plain"), tmp_path / "new.safetensors")
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, users.name, "new.safetensors"])


def test_overwrite_must_be_a_bool(tmp_path):
    with pytest.raises(TypeError, match="`overwrite` must be True or False"):
        export_weights(_fixtures.model_for("plain"), tmp_path / "x.npz", format="google", overwrite="yes")
    assert os.listdir(tmp_path) == []
    import numpy

    export_weights(_fixtures.model_for("plain"), tmp_path / "x.npz", format="google", overwrite=numpy.bool_(False))
    assert os.listdir(tmp_path) == ["x.npz"]
