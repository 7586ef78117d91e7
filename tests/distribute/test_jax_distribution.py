"""keras.distribution layouts for a ViT: the rules here, real sharding on two
host devices in a fresh JAX process."""

import json
import os
import subprocess
import sys

import keras
import pytest

from keras_vit import distribute
from keras_vit.distribute import jax_distribution

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.backend_independent  # it starts its own JAX process
def test_data_and_model_parallel_on_two_host_devices():
    pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    process = subprocess.run([sys.executable, "-m", "tests.distribute._scripts", "jax_parallel"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, process.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["devices"] == 2
    # fit ran, and the batch entering the model was split over both devices.
    assert len(result["loss"]) == 1
    assert result["batch_specs"] and all(spec == "P('batch',)" for spec in result["batch_specs"])
    assert all(count == 2 for count in result["batch_devices"])
    # Kernels are sharded: the MLP's hidden units and the attention heads halved.
    assert result["mlp_kernel_shards"] == [[16, 16], [16, 16]]  # (hidden 16, mlp 32 / 2)
    assert result["query_kernel_shards"] == [[16, 1, 8], [16, 1, 8]]  # (hidden, heads 2 / 2, head_dim)
    assert result["model_parallel_max_difference"] < 1e-5


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="keras.distribution has no PyTorch implementation")
def test_the_layout_rules_follow_the_variable_names():
    mesh = keras.distribution.DeviceMesh((1, 1), ("batch", "model"), keras.distribution.list_devices()[:1])
    layout_map = distribute.vit_layout_map(mesh)
    axes = lambda path: getattr(layout_map[path], "axes", None)  # noqa: E731
    assert axes("transformer_block_3/attention/query/kernel") == (None, "model", None)
    assert axes("transformer_block_11/attention/value/bias") == ("model", None)
    assert axes("transformer_block_0/attention/attention_output/kernel") == ("model", None, None)
    assert axes("transformer_block_0/mlp/dense_1/kernel") == (None, "model")
    assert axes("transformer_block_0/mlp/dense_2/kernel") == ("model", None)
    for replicated in ("patch_embedding/projection/kernel", "head/kernel", "transformer_block_0/layer_norm_1/gamma"):
        assert axes(replicated) is None, replicated


def test_model_parallel_checks():
    with pytest.raises(ValueError, match="model_axis_size"):
        distribute.model_parallel(model_axis_size=3, devices=["cpu:0", "cpu:1"])
    with pytest.raises(ValueError, match="num_heads"):
        jax_distribution.check_model_parallel(num_heads=3, mlp_dim=768, model_axis_size=2)
    jax_distribution.check_model_parallel(num_heads=16, mlp_dim=4096, model_axis_size=4)  # ViT-L on 4 devices
