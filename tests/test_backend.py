"""keras_vit._backend: the selected backend, and the short error without it."""

import json

import pytest

from keras_vit import _backend
from tests._no_backend import run_without

pytestmark = pytest.mark.backend_independent

BACKENDS = ["tensorflow", "jax", "torch"]


def test_the_backend_comes_from_the_environment_then_the_config_then_the_default(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert _backend.selected_backend() == "jax"
    monkeypatch.delenv("KERAS_BACKEND")
    assert _backend.selected_backend() == "tensorflow"  # no keras.json
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "torch"}))
    assert _backend.selected_backend() == "torch"
    (tmp_path / "keras.json").write_text("{not json")
    assert _backend.selected_backend() == "tensorflow"


def test_no_message_when_the_backend_is_installed(monkeypatch):
    monkeypatch.setattr(_backend, "_installed", lambda module: True)
    for backend in BACKENDS:
        assert _backend.missing_backend_message(backend) is None


def test_the_message_names_the_backend_and_every_install_command(monkeypatch):
    monkeypatch.setattr(_backend, "_installed", lambda module: module != "jax")
    message = _backend.missing_backend_message("jax")
    assert "'jax'" in message
    for backend in BACKENDS:
        assert f'pip install "keras-vit-zoo[{backend}]"' in message
    with pytest.raises(ImportError, match="KERAS_BACKEND"):
        monkeypatch.setenv("KERAS_BACKEND", "jax")
        _backend.require_backend()


def test_missing_keras_and_unknown_backends_are_named(monkeypatch):
    monkeypatch.setattr(_backend, "_installed", lambda module: module != "keras")
    assert "Keras is not installed" in _backend.missing_backend_message("jax")
    monkeypatch.setattr(_backend, "_installed", lambda module: True)
    assert "'mxnet'" in _backend.missing_backend_message("mxnet")


@pytest.mark.parametrize("argv0, cli", [
    ("/venv/bin/keras-vit", True), ("-m", True), ("/venv/bin/pytest", False), ("script.py", False), ("", False),
])
def test_only_the_command_line_defers_the_check(monkeypatch, argv0, cli):
    monkeypatch.setattr("sys.argv", [argv0])
    assert _backend.running_cli() is cli


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_without_the_backend_is_one_short_error(tmp_path, backend):
    result = run_without(BACKENDS, "-c", "import keras_vit", tmp_path=tmp_path, env={"KERAS_BACKEND": backend})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    (error,) = [line for line in lines if line.startswith("ImportError:")]
    assert error.startswith("ImportError: keras_vit runs on the Keras backend"), result.stderr
    assert f"{backend!r}" in error and "KERAS_BACKEND" in error
    assert len(lines) <= 15, result.stderr  # not Keras's 40-line traceback
    assert "keras/" not in result.stderr.replace("keras_vit/", "")
