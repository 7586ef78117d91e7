import pytest

from tests.cli._train import train


@pytest.fixture(scope="session")
def finished(tmp_path_factory):
    """A finished 6-epoch run (with gradient monitoring and TensorBoard
    logs) and its metrics; shared, so build it once per session."""
    output = tmp_path_factory.mktemp("runs") / "finished"
    metrics = train(output, "--epochs", "6", "--no-augment", "--drop-path", "0", "--monitor-gradients", "--tensorboard")
    return output, metrics
