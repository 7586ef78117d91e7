"""The example notebooks in examples/notebooks run top to bottom, in the reduced setting.

Each notebook runs in a fresh Jupyter kernel of this Python (nbclient and
ipykernel) with `KERAS_VIT_SMALL=1`, `WORKDIR` and the working directory set
to a temporary folder, and no `KERAS_BACKEND`: the notebooks pick the backend
they need. A failing cell fails the test with its source and traceback. Each
test then checks what the notebook promised: its files, its `results.json`,
and the figures it showed.
"""

import glob
import importlib.util
import json
import os
import re
import sys

import numpy as np
import pytest

nbclient = pytest.importorskip("nbclient", reason="the notebook tests need nbclient, nbformat and ipykernel (the test extra)")
nbformat = pytest.importorskip("nbformat", reason="the notebook tests need nbformat (the test extra)")
pytest.importorskip("ipykernel", reason="the notebook tests need ipykernel (the test extra)")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402 (comes with nbclient)
from jupyter_client.manager import AsyncKernelManager  # noqa: E402

pytestmark = pytest.mark.backend_independent

NOTEBOOK_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "notebooks")
NOTEBOOKS = ("quickstart.ipynb", "finetune.ipynb", "distributed.ipynb", "attention_maps.ipynb")
KERNEL_NAME = "keras-vit-tests"
CELL_TIMEOUT = 600  # seconds for one cell; the reduced settings take far less
# Settings the notebooks read from the environment: a developer's values must not leak in.
NOTEBOOK_VARIABLES = ("KERAS_BACKEND", "CHECKPOINT", "MODEL_PATH", "KERAS_VIT_CPU_DEVICES", "TF_CONFIG", "WORKDIR")
PNG = b"\x89PNG\r\n\x1a\n"


def _kernel_manager(tmp_path):
    """A kernel manager for a kernel of this very Python (the .venv), whatever
    kernels the machine has installed."""
    kernels = tmp_path / "jupyter" / "kernels"
    spec_dir = kernels / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "keras-vit tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    specs = KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)
    return AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)


def run_notebook(name, tmp_path, monkeypatch, **env):
    """Executes examples/notebooks/`name` in the reduced setting.

    Returns `(notebook, output_dir, results)`: the executed notebook, the one
    folder it created in its WORKDIR, and that folder's results.json.
    """
    workdir = tmp_path / "work"
    workdir.mkdir()
    # The kernel's connection file and IPython's profile go to tmp_path, not the home folder.
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "jupyter" / "runtime"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    kernel_env = {key: value for key, value in os.environ.items() if key not in NOTEBOOK_VARIABLES}
    # KERAS_HOME: a developer's ~/.keras/keras.json (floatx, image_data_format) must not leak in either.
    kernel_env.update(KERAS_VIT_SMALL="1", WORKDIR=str(workdir), IPYTHONDIR=str(tmp_path / "ipython"),
                      KERAS_HOME=str(tmp_path / "keras"), **env)

    notebook = nbformat.read(os.path.join(NOTEBOOK_DIR, name), as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        km=_kernel_manager(tmp_path),
        timeout=CELL_TIMEOUT,
        resources={"metadata": {"path": str(workdir)}},  # the kernel's working directory
    )
    try:
        client.execute(env=kernel_env)
    except nbclient.exceptions.CellExecutionError as error:
        message = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # the traceback without terminal colours
        pytest.fail(f"{name}: a cell failed.\n{message}", pytrace=False)
    except nbclient.exceptions.CellTimeoutError as error:
        pytest.fail(f"{name}: a cell ran past {CELL_TIMEOUT} s ({error}).", pytrace=False)
    except nbclient.exceptions.DeadKernelError as error:
        pytest.fail(f"{name}: the kernel died ({error}).", pytrace=False)

    created = sorted(os.listdir(workdir))
    assert len(created) == 1, f"{name} should create one output folder in WORKDIR, created {created}"
    output_dir = workdir / created[0]
    with open(output_dir / "results.json") as file:
        results = json.load(file)
    return notebook, output_dir, results


def shown_images(notebook):
    """How many PNG images the notebook's cells displayed inline."""
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.outputs
    )


def stream_text(notebook):
    return "".join(
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.outputs if output.output_type == "stream"
    )


def assert_png(path):
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG, path


def test_the_notebooks_are_generated_output_free_and_all_tested():
    assert sorted(glob.glob(os.path.join(NOTEBOOK_DIR, "*.ipynb"))) == sorted(
        os.path.join(NOTEBOOK_DIR, name) for name in NOTEBOOKS
    ), "a notebook was added or removed: test it here"
    for name in NOTEBOOKS:
        notebook = nbformat.read(os.path.join(NOTEBOOK_DIR, name), as_version=4)
        nbformat.validate(notebook)
        assert notebook.metadata.kernelspec.name == "python3", name  # Kaggle's and Jupyter's default kernel
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: commit it without outputs"
        first = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
        assert 'os.environ.get("KERAS_VIT_SMALL"' in first and "WORKDIR" in first, f"{name}: settings cell first"
    spec = importlib.util.spec_from_file_location("_build", os.path.join(NOTEBOOK_DIR, "_build.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.main(["--check"]) == 0, "edit the cells in examples/notebooks/_build.py and run it"


def _import_check():
    spec = importlib.util.spec_from_file_location("_build", os.path.join(NOTEBOOK_DIR, "_build.py"))
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build.IMPORT_CHECK


def test_the_setup_cell_names_the_other_projects_keras_vit(tmp_path):
    # The distribution named keras-vit on the package index is another project; it installs
    # a keras_vit module without ViTBase. Found first on the path, the setup cell must say so.
    import subprocess

    (tmp_path / "keras_vit").mkdir()
    (tmp_path / "keras_vit" / "__init__.py").write_text('__version__ = "1.0.0"\n')
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", "import os\n" + _import_check()], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "another project's (the `keras-vit` distribution" in result.stderr, result.stderr
    assert "pip uninstall -y keras-vit`" in result.stderr and "keras-vit-zoo" in result.stderr


def test_quickstart(tmp_path, monkeypatch):
    notebook, output_dir, results = run_notebook("quickstart.ipynb", tmp_path, monkeypatch)
    assert results["small"] is True and results["backend"] == "tensorflow"
    # Chance is 0.10 (+-0.02 on the 270 test images); 12 epochs of the tiny model give about 0.85.
    assert results["test_accuracy"] > 0.3, results
    assert 1 <= results["best_epoch"] <= results["epochs"] == 12
    assert sorted(os.listdir(output_dir)) == sorted(results["files"])
    assert (output_dir / "best.keras").stat().st_size > 0
    rows = (output_dir / "history.csv").read_text().strip().splitlines()
    header = rows[0].split(",")
    assert len(rows) == 1 + results["epochs"], rows
    for column in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert column in header, header
    assert_png(output_dir / "curves.png")
    assert shown_images(notebook) == 3  # sample digits, curves, predictions


def test_finetune_makes_its_checkpoint_then_freezes_and_unfreezes(tmp_path, monkeypatch):
    from keras_vit.checkpoints import read_checkpoint, sniff_format

    notebook, output_dir, results = run_notebook("finetune.ipynb", tmp_path, monkeypatch)
    # No CHECKPOINT and no /kaggle/input: the notebook pretrained and wrote one itself, in its folder.
    assert results["checkpoint_source"] == "pretrained in this notebook"
    checkpoint = results["checkpoint"]
    assert os.path.dirname(checkpoint) == str(output_dir) and checkpoint.endswith(".safetensors")
    assert sniff_format(checkpoint) == "timm" == results["checkpoint_format"]
    _, arrays = read_checkpoint(checkpoint)
    assert "head.weight" not in arrays and "blocks.1.attn.qkv.weight" in arrays  # an encoder, 2 blocks
    assert results["source_test_accuracy"] > 0.4, results  # digits 0-4: chance is 0.2
    # Every encoder weight came from the file.
    assert results["weights_loaded"] == results["encoder_weights"] > 0
    # Stage 1 trains the head alone (32 features x 5 classes + 5), stage 2 everything.
    assert results["trainable_parameters_head_only"] == 32 * 5 + 5
    assert results["trainable_parameters_unfrozen"] == results["parameters"]
    # The first block stays exactly at the checkpoint's values while frozen, then moves.
    change = results["block_0_change"]
    assert len(change) == results["head_epochs"] + results["finetune_epochs"]
    assert change[: results["head_epochs"]] == [0.0] * results["head_epochs"], change
    assert change[-1] > 0.0, change
    assert 0.0 <= results["test_accuracy"] <= 1.0 and results["from_scratch_test_accuracy"] is None
    assert "unfroze the model" in stream_text(notebook)  # UnfreezeCallback's message
    assert sorted(os.listdir(output_dir)) == sorted(
        ["vit_digits0-4.safetensors", "history.csv", "curves.png", "results.json"]
    )
    assert_png(output_dir / "curves.png")
    assert shown_images(notebook) == 1


def test_distributed(tmp_path, monkeypatch):
    # Without a GPU or TPU (as in CI), auto_strategy picks the default strategy, one replica.
    # (KERAS_VIT_CPU_DEVICES=2 runs MirroredStrategy over a split CPU instead; it takes about
    # twice as long, so the suite leaves it to tests/distribute.)
    notebook, output_dir, results = run_notebook("distributed.ipynb", tmp_path, monkeypatch)
    assert (results["strategy"], results["strategy_class"], results["replicas"]) == (
        "default", "_DefaultDistributionStrategy", 1)
    assert "keras_vit.distribute: default strategy, 1 replica(s) (one device)" in stream_text(notebook)
    assert results["global_batch_size"] == results["per_replica_batch_size"] * results["replicas"]
    assert results["steps_per_epoch"] == 1257 // results["global_batch_size"]  # full batches of the training split
    # DeiT's rule: 0.04 per 512 images, scaled to the global batch.
    assert results["peak_learning_rate"] == pytest.approx(0.04 * results["global_batch_size"] / 512)
    assert results["precision"] == "float32"
    assert results["test_accuracy"] > 0.2, results  # chance 0.10; about 0.6 after 6 epochs
    assert results["images_per_second"] > 0
    assert sorted(os.listdir(output_dir)) == ["curves.png", "model.keras", "results.json"]
    assert_png(output_dir / "curves.png")
    assert shown_images(notebook) == 1


def test_attention_maps(tmp_path, monkeypatch):
    notebook, output_dir, results = run_notebook("attention_maps.ipynb", tmp_path, monkeypatch)
    assert results["model"] == "trained here" and results["test_accuracy"] > 0.3, results
    assert sorted(os.listdir(output_dir)) == ["attention_maps.npz", "attention_maps.png", "model.keras", "results.json"]
    assert_png(output_dir / "attention_maps.png")
    assert shown_images(notebook) == 1
    grid = tuple(results["grid_size"])
    assert grid == (4, 4)  # 16x16 images, 4x4 patches
    with np.load(output_dir / "attention_maps.npz") as saved:
        count = results["num_images"]
        assert saved["labels"].tolist() == list(range(count))  # the first test image of each digit
        blocks = sorted(key for key in saved.files if key.startswith("block_"))
        assert blocks == ["block_0", "block_1"]
        tokens = 1 + grid[0] * grid[1]
        for key in blocks:
            maps = saved[key]
            assert maps.shape == (count, 2, tokens, tokens)  # images, heads, tokens, tokens
            assert np.all(maps >= 0) and np.allclose(maps.sum(axis=-1), 1.0, atol=1e-4)  # softmax rows
        rollout = saved["rollout"]
        assert rollout.shape == (count, *grid) and np.all(np.isfinite(rollout)) and np.all(rollout >= 0)
        assert np.all(rollout.sum(axis=(1, 2)) <= 1.0 + 1e-5)  # the class token keeps the rest
    assert 0.0 < results["rollout_on_strokes"] < 1.0 and 0.0 < results["stroke_fraction"] < 1.0
