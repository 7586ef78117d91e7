"""`auto_distribute`: the strategy or distribution for the running backend."""

import json
import os
import subprocess
import sys

import keras
import pytest

from keras_vit import distribute
from keras_vit.distribute.auto import check_strategy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(backend, strategy):
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    environment.pop("XLA_FLAGS", None)  # auto_distribute sets it
    environment.pop("TF_CONFIG", None)
    process = subprocess.run([sys.executable, "-m", "tests.distribute._scripts", "auto_distribute", strategy],
                             cwd=ROOT, env=environment, capture_output=True, text=True, timeout=240)
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, process.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_one_device_here(capsys):
    if keras.backend.backend() == "tensorflow" and distribute.tf_strategy.find_tpu() is not None:
        pytest.skip("this machine has a TPU")
    if keras.backend.backend() == "jax" and len(keras.distribution.list_devices()) > 1:
        pytest.skip("this process sees several devices")
    setup = distribute.auto_distribute()
    assert setup.name == "default" and setup.replicas == 1 and setup.is_chief
    assert setup.distribution is None
    assert (setup.strategy is not None) == (keras.backend.backend() == "tensorflow")
    with setup.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert model.count_params() == 8
    assert distribute.global_batch_size(32, setup.strategy or setup.distribution) == 32 * setup.replicas


def test_strategies_are_checked_against_the_backend():
    backend = keras.backend.backend()
    with pytest.raises(ValueError, match=r"`strategy` must be one of \('auto', 'mirrored'.*strategy='gloo'"):
        distribute.auto_distribute("gloo")
    for strategy in distribute.STRATEGY_CHOICES:
        if strategy == "auto" or strategy.startswith("jax") == (backend == "jax") and backend != "torch":
            assert check_strategy(strategy, backend) == strategy
        else:
            with pytest.raises(ValueError, match=f"strategy='{strategy}' needs KERAS_BACKEND="):
                distribute.auto_distribute(strategy)
    with pytest.raises(ValueError, match="model_axis_size"):
        distribute.auto_distribute(model_axis_size=0)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the refusal is PyTorch's")
def test_no_cpu_split_on_torch():
    with pytest.raises(ValueError, match="cpu_devices"):
        distribute.auto_distribute(cpu_devices=2)


def test_only_the_chief_of_a_cluster_writes(monkeypatch):
    if keras.backend.backend() != "tensorflow":
        assert distribute.auto_distribute(verbose=False).is_chief  # one process, always the chief
        return
    config = {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    # A named single-machine strategy does not join the cluster, but the role is read all the same.
    setup = distribute.auto_distribute("mirrored", verbose=False)
    assert setup.name == "mirrored" and not setup.is_chief


@pytest.mark.backend_independent  # each starts a process with its own backend
@pytest.mark.parametrize(
    "backend, strategy, name",
    [("tensorflow", "mirrored", "mirrored"), ("jax", "auto", "jax-data-parallel"),
     ("jax", "jax-model-parallel", "jax-model-parallel")],
)
def test_cpu_devices_split_the_host(backend, strategy, name):
    pytest.importorskip(backend)
    result = run_script(backend, strategy)
    assert result["name"] == name and result["is_chief"]
    if backend == "jax":
        assert result["devices"] == 2 and "--xla_force_host_platform_device_count=2" in result["xla_flags"]
        # Data parallel: two replicas of whole weights; model parallel: one replica, its weights on both devices.
        assert result["replicas"] == (1 if strategy == "jax-model-parallel" else 2)
        assert result["kernel_shards"] == 2
    else:
        assert result["replicas"] == 2
