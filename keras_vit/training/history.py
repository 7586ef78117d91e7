"""Reading a run's `history.csv` and drawing its curves."""

import csv
import os

from keras_vit import _files


def read_history(path):
    """Reads a `CSVLogger` file into a dict of lists, one row per epoch.

    A run that was interrupted and resumed may have logged an epoch twice
    (the interrupted attempt and the re-run); the last row of each epoch
    wins, and rows are sorted by epoch.

    Args:
        path: str. Path of the CSV file (with an `epoch` column).

    Returns:
        dict mapping each column to a list (`epoch` as ints, the rest as
        floats); empty if the file does not exist.
    """
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_epoch = {}
    for row in rows:
        by_epoch[int(row["epoch"])] = row
    history = {}
    for epoch in sorted(by_epoch):
        for key, value in by_epoch[epoch].items():
            history.setdefault(key, []).append(int(value) if key == "epoch" else float(value or "nan"))
    return history


def write_history(history, path):
    """Writes a dict of equal-length lists as CSV (the inverse of
    `read_history`), atomically: a kill leaves the old file or the new one."""
    keys = list(history)
    with _files.atomic_write(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(keys)
        for row in zip(*(history[key] for key in keys)):
            writer.writerow(row)


def plot_history(history, path):
    """Saves loss, accuracy and learning-rate curves as a PNG (atomically:
    a kill leaves the old file or the new one, never a partial PNG).

    Args:
        history: dict of lists as returned by `read_history` (keys `loss`,
            `val_loss`, `accuracy`, `val_accuracy`, `lr`, whichever exist).
        path: str. Output PNG path.

    Returns:
        True if the plot was written, False if matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = [e + 1 for e in history.get("epoch", range(len(history.get("loss", []))))]
    panels = [("loss", "loss"), ("accuracy", "accuracy"), ("learning rate", "lr")]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for axis, (title, key) in zip(axes, panels):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            if name in history:
                axis.plot(epochs, history[name], style, label=name)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend()
    figure.tight_layout()
    try:
        with _files.atomic_write(path, "wb") as handle:
            figure.savefig(handle, format="png", dpi=110)
    finally:
        plt.close(figure)
    return True
