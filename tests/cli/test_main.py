"""The `keras-vit` command (keras_vit/cli/__init__.py, __main__.py): help
without a backend or Keras, and one short error when the backend is missing."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from keras_vit import cli
from tests._no_backend import run_without

pytestmark = pytest.mark.backend_independent  # each starts its own process, or parses flags only

BACKENDS = ["tensorflow", "jax", "torch"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGS = ("--model", "--precision", "--mixup", "--accumulation-steps", "--clipnorm", "--monitor-gradients",
         "--strategy", "--dataset", "--bad-images")


def _console_script():
    """The installed `keras-vit` script of this Python's environment."""
    script = os.path.join(os.path.dirname(sys.executable), "keras-vit")
    if not os.path.isfile(script):
        script = shutil.which("keras-vit")
    if script is None:
        pytest.skip("the keras-vit console script is not installed (pip install -e .)")
    return script


def test_console_script_has_a_train_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in FLAGS:
        assert flag in out


@pytest.mark.parametrize("command", [["--help"], ["train", "--help"]])
def test_help_works_without_any_backend(tmp_path, command):
    result = run_without(BACKENDS, *command, tmp_path=tmp_path, executable=_console_script(), timeout=60)
    assert result.returncode == 0, result.stderr
    if command == ["--help"]:
        assert "train" in result.stdout and "usage: keras-vit" in result.stdout
    else:
        for flag in FLAGS:
            assert flag in result.stdout, flag
    assert not result.stderr


def test_help_imports_neither_keras_nor_a_backend(tmp_path):
    # A script named like the console script, calling main() as it does.
    script = tmp_path / "keras-vit"
    script.write_text(textwrap.dedent("""
        import json, sys
        from keras_vit.cli import main
        try:
            main(["train", "--help"])
        except SystemExit as exit:
            code = exit.code
        print("MODULES " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
    """))
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    line = [line for line in result.stdout.splitlines() if line.startswith("MODULES ")]
    assert result.returncode == 0 and line, result.stderr
    report = json.loads(line[-1][len("MODULES "):])
    assert report["code"] == 0
    imported = {name.partition(".")[0] for name in report["modules"]}
    assert "keras_vit" in imported
    assert not imported & {"keras", "tensorflow", "jax", "torch"}, sorted(imported & {"keras", "tensorflow", "jax", "torch"})


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_without_its_backend_is_one_short_error(tmp_path, backend):
    result = run_without(BACKENDS, "train", "--epochs", "1", "--output-dir", str(tmp_path / "run"),
                         tmp_path=tmp_path, executable=_console_script(), env={"KERAS_BACKEND": backend}, timeout=60)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("keras-vit: error: keras_vit runs on the Keras backend"), result.stderr
    assert f"{backend!r}" in result.stderr and "KERAS_BACKEND" in result.stderr
    for name in BACKENDS:
        assert f'pip install "keras-vit-zoo[{name}]"' in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 6, result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("module, command", [("keras_vit.cli", ["train", "--help"]), ("keras_vit.train", ["--help"])])
def test_python_dash_m_runs_the_command(tmp_path, module, command):
    # keras_vit.train is the command's former module, kept for scripts that run it.
    result = run_without(BACKENDS, "-m", module, *command, tmp_path=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "usage: keras-vit train" in result.stdout and "--epochs" in result.stdout
