"""What argparse cannot check (keras_vit/cli/checks.py): every problem is
reported before any work starts, and nothing is written."""

import os

import keras
import pytest

from keras_vit.cli import checks, flags
from tests.cli._train import train


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "flag_values, match",
    [
        (["--dataset", "imagenet"], "--dataset imagenet: must be one of the forms 'digits', 'tfds:NAME'"),
        (["--dataset", "tfds:"], "--dataset"),
        (["--model", "Q/16"], "--model"),
        (["--model", "B/16", "--image-size", "100"], r"--image-size \(100\) must be divisible by the patch size \(16\)"),
        (["--model", "B/16", "--patch-size", "8"], "--model/--patch-size"),
        (["--warmup-epochs", "9", "--epochs", "3"], "--warmup-epochs"),
        (["--hidden-dim", "30", "--num-heads", "4"], "--hidden-dim"),
        (["--crop-scale", "0.5", "0.2"], "--crop-scale"),
        (["--min-learning-rate", "0.1", "--learning-rate", "0.01"], "--min-learning-rate"),
    ],
)
def test_bad_flags_fail_before_any_work(tmp_path, flag_values, match):
    with pytest.raises(SystemExit, match=match):
        train(tmp_path / "bad", *flag_values)
    assert not os.path.exists(tmp_path / "bad")


@pytest.mark.backend_independent
def test_every_problem_is_reported_at_once():
    args = flags.parse_args(["--dataset", "imagenet", "--hidden-dim", "31", "--warmup-epochs", "200",
                             "--strategy", "jax-model-parallel", "--num-heads", "3", "--mlp-dim", "63"])
    errors = checks.check_flags(args)
    joined = "\n".join(errors)
    for flag in ("--dataset", "--hidden-dim", "--warmup-epochs", "--model-axis-size 2"):
        assert flag in joined, joined
    assert "needs `num_heads` divisible by 2" in joined, joined
    assert len(errors) == len(set(errors)) >= 4


def test_a_strategy_needs_its_backend(tmp_path):
    other = "jax-data-parallel" if keras.backend.backend() != "jax" else "mirrored"
    needs = "jax" if other.startswith("jax") else "tensorflow"
    with pytest.raises(SystemExit, match=f"--strategy: strategy='{other}' needs KERAS_BACKEND={needs}"):
        train(tmp_path / "bad", "--strategy", other)
    assert not os.path.exists(tmp_path / "bad")


@pytest.mark.backend_independent
def test_weights_flag_must_name_a_file_or_preset(tmp_path):
    with pytest.raises(SystemExit, match="--weights 'nowhere.npz' is neither a file nor a preset"):
        train(tmp_path / "bad", "--weights", "nowhere.npz")
    assert not os.path.exists(tmp_path / "bad")
