"""tf.distribute strategies: the choice, the TPU branch, and real runs on
two logical CPUs and two worker processes (in fresh processes)."""

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_vit import distribute
from keras_vit.distribute import tf_strategy

pytestmark = pytest.mark.backend_independent  # TensorFlow only, whatever Keras runs on
tf = pytest.importorskip("tensorflow")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(name, *args, env=None, timeout=240):
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", **(env or {})}
    process = subprocess.run(
        [sys.executable, "-m", "tests.distribute._scripts", name, *args],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout,
    )
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, process.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.parametrize(
    "tpu, tf_config, gpus, expected",
    [
        (True, {"cluster": {"worker": ["a:1", "b:1"]}}, 8, "tpu"),
        (False, {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, 8, "multiworker"),
        (False, {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}}, 0, "multiworker"),
        (False, {"cluster": {"worker": ["a:1"]}}, 2, "mirrored"),
        (False, {}, 1, "default"),
        (False, {}, 0, "default"),
    ],
)
def test_the_choice(tpu, tf_config, gpus, expected):
    name, reason = tf_strategy.choose_strategy(tpu, tf_config, gpus)
    assert name == expected and reason


def test_tf_config_and_the_chief():
    assert tf_strategy.read_tf_config({}) == {}
    config = {"cluster": {"worker": ["h:1", "h:2", "h:3"]}, "task": {"type": "worker", "index": 2}}
    assert tf_strategy.read_tf_config({"TF_CONFIG": json.dumps(config)}) == config
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        tf_strategy.read_tf_config({"TF_CONFIG": "{cluster"})
    assert tf_strategy.cluster_size(config) == 3
    assert not tf_strategy.is_chief(config)
    assert tf_strategy.is_chief({**config, "task": {"type": "worker", "index": 0}})
    with_chief = {"cluster": {"chief": ["c:1"], "worker": ["w:1"]}, "task": {"type": "worker", "index": 0}}
    assert not tf_strategy.is_chief(with_chief)
    assert tf_strategy.is_chief({**with_chief, "task": {"type": "chief", "index": 0}})
    assert tf_strategy.is_chief({})


class FakeResolver:
    created = []

    def __init__(self, tpu=None):
        if tpu == "missing":
            raise ValueError("Please provide a TPU Name to connect to.")
        self.tpu = tpu
        FakeResolver.created.append(tpu)


def test_the_tpu_branch(monkeypatch, capsys):
    # No TPU here: the resolver and TPU calls are stand-ins that record what
    # auto_strategy asks of them.
    calls = []
    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", FakeResolver)
    monkeypatch.setattr(tf.config, "experimental_connect_to_cluster", lambda r: calls.append(("connect", r.tpu)))
    monkeypatch.setattr(tf.tpu.experimental, "initialize_tpu_system", lambda r: calls.append(("initialize", r.tpu)))

    class FakeTPUStrategy:
        num_replicas_in_sync = 8

        def __init__(self, resolver):
            calls.append(("strategy", resolver.tpu))

    monkeypatch.setattr(tf.distribute, "TPUStrategy", FakeTPUStrategy)
    for key in ("TPU_NAME", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_ID", "TPU_WORKER_HOSTNAMES"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(tf_strategy.glob, "glob", lambda pattern: [])
    assert tf_strategy.find_tpu() is None  # nothing says there is a TPU: the resolver is not even asked
    assert FakeResolver.created == []
    monkeypatch.setenv("TPU_ACCELERATOR_TYPE", "v5litepod-8")  # a Kaggle / Cloud TPU VM
    strategy = distribute.auto_strategy()
    assert isinstance(strategy, FakeTPUStrategy)
    assert calls == [("connect", "local"), ("initialize", "local"), ("strategy", "local")]
    assert "tpu strategy, 8 replica(s)" in capsys.readouterr().out
    # auto_distribute makes the same choice (this module runs under the TensorFlow backend), and names it.
    setup = distribute.auto_distribute(verbose=False)
    assert isinstance(setup.strategy, FakeTPUStrategy) and setup.name == "tpu" and setup.replicas == 8
    assert tf_strategy.find_tpu("missing") is None  # the resolver's "no TPU" error means no TPU
    with pytest.raises(RuntimeError, match="No TPU is reachable"):
        distribute.make_strategy("tpu", tpu="missing")


def test_auto_strategy_here_is_the_default(capsys):
    if tf_strategy.find_tpu() is not None:
        pytest.skip("this machine has a TPU")
    strategy = distribute.auto_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert "default strategy, 1 replica(s)" in capsys.readouterr().out
    with pytest.raises(ValueError, match="name='gloo'"):
        distribute.make_strategy("gloo")


def test_mirrored_on_two_cpus_aggregates_gradients():
    result = run_script("mirrored_step")
    assert result["replicas"] == 2
    assert result["moved"] > 1e-4  # the step changed the weights...
    assert result["max_difference"] < 1e-5  # ...exactly as one device with the whole batch


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_worker_processes_train_the_same_model(tmp_path):
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    try:
        for index in range(2):
            env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
                   "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "tests.distribute._scripts", "multiworker", str(tmp_path / f"w{index}.npz")],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ))
        deadline = time.monotonic() + 240
        outputs = [process.communicate(timeout=max(1, deadline - time.monotonic())) for process in processes]
    finally:
        for process in processes:  # never leave a worker behind
            if process.poll() is None:
                process.kill()
                process.wait()
    results = []
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
        results.append(json.loads([line for line in out.splitlines() if line.startswith("RESULT ")][-1][7:]))
    assert [r["replicas"] for r in results] == [2, 2] and results[0]["global_batch"] == 16
    assert results[0]["loss"] == results[1]["loss"]
    first, second = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert len(first.files) == len(second.files) > 0
    for key in first.files:
        np.testing.assert_array_equal(first[key], second[key])
