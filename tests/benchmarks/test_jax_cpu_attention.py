"""benchmarks/jax_cpu_attention.py: the two attention forms it times compute
the same thing, and its default run prints both, at tiny sizes. Runs once,
under TensorFlow (it imports JAX itself)."""


import numpy as np
import pytest

from tests.benchmarks import import_benchmark

pytestmark = pytest.mark.backend_independent



@pytest.fixture
def script(monkeypatch):
    pytest.importorskip("jax")
    return import_benchmark(monkeypatch, "jax_cpu_attention")


def test_the_two_forms_agree(script):
    q, k, v = (np.random.default_rng(s).standard_normal((2, 7, 3, 8)).astype("float32") for s in range(3))
    library, per_head = (np.asarray(fn(q, k, v)) for fn in script.forms().values())
    np.testing.assert_allclose(per_head, library, rtol=1e-5, atol=1e-6)


def test_a_run_prints_both_forms(script, capsys):
    script.main(["--heads", "2", "--batch-size", "1", "--repeats", "1"])
    out = capsys.readouterr().out
    assert out.startswith("CPU: ")
    assert "jax.nn.dot_product_attention" in out and "per head" in out
    assert "largest difference between the forms" in out
