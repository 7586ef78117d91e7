"""benchmarks/gpu_check.sh: the whole check on the CPU with tiny sizes, the
batch search's next step, the GPU's name and the never-overwritten
results. Plain Python driving its own processes: runs once, under
TensorFlow."""

import importlib.util
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.benchmarks import BENCHMARKS, import_benchmark

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gpu_check(monkeypatch):
    return import_benchmark(monkeypatch, "gpu_check")


def test_the_batch_search_jumps_once_along_the_memory_line(gpu_check):
    assert gpu_check.next_batch([(1, 1000.0)], 512, None, False) == (4, False)
    # 100 MB per image over 1300 MB at batch 4: 81 images fill 90% of 10 GB.
    points = [(1, 1000.0), (4, 1300.0)]
    assert gpu_check.next_batch(points, 512, 10_000.0, False) == (64, True)
    assert gpu_check.next_batch(points + [(64, 7300.0)], 512, 10_000.0, True) == (128, True)
    assert gpu_check.next_batch(points, 512, None, False) == (8, False)  # no known limit: doubles
    assert gpu_check.next_batch(points, 16, 10_000.0, False) == (16, True)  # never past the cap
    assert gpu_check.next_batch([(1, 1.0), (4, 2.0)], 4, None, False) == (None, False)


def test_a_report_never_takes_an_existing_name(gpu_check, tmp_path):
    now = time.time()
    first = gpu_check.output_path(tmp_path, "gpu", False, now)
    assert first.name == time.strftime("gpu-%Y%m%d-%H%M%S.json", time.gmtime(now))
    first.write_text("kept")
    second = gpu_check.write_new(tmp_path, {"a": 1}, "gpu", False, now)
    assert second.name == first.name.replace(".json", "-2.json")
    assert first.read_text() == "kept" and json.loads(second.read_text()) == {"a": 1}
    assert gpu_check.output_path(tmp_path, "cpu", True, now).name.startswith("gpu-check-cpu-smoke-")


def test_the_gpu_comes_from_nvidia_smi(gpu_check, monkeypatch):
    def run(command, **kwargs):
        assert command[0] == "nvidia-smi"
        return subprocess.CompletedProcess(command, 0, "NVIDIA H200, 580.159.03, 143771\n", "")

    monkeypatch.setattr(gpu_check.subprocess, "run", run)
    assert gpu_check.gpu_info(sys.executable, "gpu") == dict(
        source="nvidia-smi", gpus=[dict(name="NVIDIA H200", driver="580.159.03", memory_mb=143771.0)])

    def missing(command, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", command[0])

    monkeypatch.setattr(gpu_check.subprocess, "run", missing)
    info = gpu_check.gpu_info(sys.executable, "cpu")
    assert info["source"] == "none" and info["gpus"] == [] and "nvidia-smi" in info["note"]


def _check(*args, out=None, env=None):
    environment = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    command = ["bash", str(BENCHMARKS / "gpu_check.sh"), "--device", "cpu", "--smoke", *args]
    return subprocess.run(command, cwd=out, env=environment, capture_output=True, text=True, timeout=600)


def _runs(report, part):
    return report["parts"][part]["runs"]


# Six worker processes, each importing Keras and compiling with XLA: about
# 1.5 minutes on two shared cores.
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="the smoke run measures on JAX")
def test_the_smoke_check_runs_every_part_on_the_cpu(tmp_path):
    empty = tmp_path / "no-wheels"
    empty.mkdir()  # the installed Keras, never a .whl/ left in the checkout
    out = tmp_path / "results"
    done = _check("--backends", "jax", "--wheels", str(empty), "--out", str(out), out=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "has Keras already" in done.stdout
    (path,) = out.iterdir()
    assert path.name.startswith("gpu-check-cpu-smoke-") and path.suffix == ".json"
    report = json.loads(path.read_text())
    assert report["kind"] == "gpu_check" and report["settings"]["smoke"] is True
    assert set(report["parts"]) == {"a_training", "b_flash", "c_max_batch", "d_fit"}
    for name, part in report["parts"].items():
        assert part["status"] == "ok", (name, part)
        for run in part["runs"]:
            status = run["status"]
            assert status == "ok" or (status.startswith("skipped: ") and len(status) > 12), (name, run)
    assert set(report["machine"]["cpu"]) >= {"model", "cores", "avx2", "avx512f", "amx_tile"}
    assert report["wall_s"] < report["settings"]["budget_s"]

    (ours,) = [r for r in _runs(report, "a_training") if r["contender"] == "keras_vit"]
    assert ours["status"] == "ok" and ours["batch_size"] == 4 and ours["images_per_s"] > 0
    assert 0 < ours["mfu"] < 1
    for peer in ("timm", "timm-compile", "keras_hub"):
        (run,) = [r for r in _runs(report, "a_training") if r["contender"] == peer]
        assert run["status"] == "ok" or run["status"].endswith("is not installed"), run
    flash = {(r["backend"], r["flash"]): r["status"] for r in _runs(report, "b_flash")}
    assert flash[("jax", "off")] == "ok"
    assert flash[("jax", "on")] == "ok" or flash[("jax", "on")].startswith("skipped: flash attention cannot run")
    assert flash[("torch", "on")].startswith("skipped: torch is not")
    searches = {(r["backend"], r["config"]): r for r in _runs(report, "c_max_batch")}
    for config in ("default", "remat"):
        run = searches[("jax", config)]
        assert run["status"] == "ok" and run["max_batch"] == 4, run
        assert [t["batch_size"] for t in run["trials"]] == [1, 4]
    (fit, mirrored) = _runs(report, "d_fit")
    assert fit["strategy"] == "data-parallel" and fit["status"] == "ok" and fit["loss_finite"]
    assert fit["devices"] == ["cpu:0"] and fit["batch_size"] == 4 and len(fit["step_times_s"]) == 4
    assert mirrored["status"].startswith("skipped: tensorflow is not")

    # An existing report is never overwritten.
    before = path.read_bytes()
    again = _check("--wheels", str(empty), "--output", str(path), out=tmp_path)
    assert again.returncode != 0 and "never overwritten" in again.stderr
    assert path.read_bytes() == before and len(list(out.iterdir())) == 1


def test_the_wheels_go_to_a_temporary_folder_that_is_removed(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "gpu_check_probe-0.1-py3-none-any.whl", "w") as wheel:
        wheel.writestr("gpu_check_probe/__init__.py", "")
        info = "gpu_check_probe-0.1.dist-info"
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: gpu_check_probe\nVersion: 0.1\n")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                        "Tag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", f"gpu_check_probe/__init__.py,,\n{info}/METADATA,,\n"
                                         f"{info}/WHEEL,,\n{info}/RECORD,,\n")
    done = _check("--wheels", str(wheels), "--help", out=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("gpu_check.sh: installed into"))
    assert line.endswith(": gpu_check_probe-0.1-py3-none-any.whl")
    site = line.split()[3].rstrip(":")
    assert not os.path.exists(site)  # removed on exit
    assert "--budget-s" in done.stdout  # gpu_check.py's help


def test_without_wheels_or_keras_it_says_what_to_run(tmp_path):
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    bare = tmp_path / "python"  # this interpreter without its site-packages: no Keras
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    done = _check("--wheels", str(empty), env={"PYTHON": str(bare)}, out=tmp_path)
    assert done.returncode == 2
    assert "run 'make gpu-wheels'" in done.stderr
