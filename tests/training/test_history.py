import math

import pytest

from keras_vit.training.history import plot_history, read_history, write_history

pytestmark = pytest.mark.backend_independent


def test_a_resumed_log_keeps_the_last_row_of_each_epoch(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,lr\n0,2.0,0.1\n1,1.5,0.2\n1,1.4,0.2\n2,1.0,\n")
    history = read_history(str(path))
    assert history["epoch"] == [0, 1, 2]
    assert history["loss"] == [2.0, 1.4, 1.0]
    assert history["lr"][:2] == [0.1, 0.2] and math.isnan(history["lr"][2])
    write_history(history, str(path))
    assert read_history(str(path))["loss"] == [2.0, 1.4, 1.0]
    assert read_history(str(tmp_path / "missing.csv")) == {}


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    history = {"epoch": [0, 1], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.3, 0.6], "lr": [1e-3, 5e-4]}
    assert plot_history(history, str(tmp_path / "curves.png"))
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
