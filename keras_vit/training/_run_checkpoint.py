"""Per-epoch progress of a `keras-vit train` run, committed atomically.

At the end of every epoch `RunCheckpoint`:

1. saves the best model so far, when the monitored value improved, as
   `backup/best-<epoch>.keras`;
2. saves the weights and optimizer state as `backup/epoch-<n>.weights.h5`;
3. commits: writes `backup/state.json` (epochs done, which weights file,
   the history rows, the best value, the pending best model) atomically;
4. applies the commit: moves the pending best model onto `best.keras`,
   rewrites `history.csv`, deletes the previous epoch's weights.

Every file is written to a temporary name, fsynced and renamed. A kill
before step 3 leaves the previous commit in force (the epoch is re-run); a
kill after it is completed by the next run, which re-applies step 4. So
`best.keras`, `history.csv` and the backup always describe the same epoch,
and the backup is never half-written.
"""

import json
import math
import os
import time

import keras

from keras_vit import _files
from keras_vit.training.history import write_history

STATE = "backup/state.json"
BEST = "best.keras"
HISTORY = "history.csv"
# Event files TensorBoard writes under logs/ (recorded as the run's own).
_EVENT_PREFIX = "events.out.tfevents."


def _save_atomically(save, destination, suffix):
    # Keras picks the file format from the name, so the temporary file keeps
    # the destination's suffix.
    with _files.atomic_path(destination, suffix=suffix) as temporary:
        save(temporary)


def _columns(rows):
    # History rows (dicts with an `epoch`) as `write_history`'s dict of
    # lists: `epoch` first, then the other columns sorted.
    names = sorted({key for row in rows for key in row} - {"epoch"})
    return {name: [row.get(name, float("nan")) for row in rows] for name in ["epoch", *names]}


def read_state(run):
    """The committed progress of a run (`backup/state.json`), or None."""
    return run.read_json(STATE)


def steady_throughput(entries):
    """Median images/s over epochs that were not the first of their process
    (those include tracing and compilation); None if there are none."""
    rates = sorted(e["images_per_second"] for e in entries if not e["first"]) or sorted(
        e["images_per_second"] for e in entries)
    if not rates:
        return None
    middle = len(rates) // 2
    return rates[middle] if len(rates) % 2 else 0.5 * (rates[middle - 1] + rates[middle])


class RunCheckpoint(keras.callbacks.Callback):
    """Commits a run's progress at the end of every epoch (see the module
    docstring) and restores it when the run resumes.

    Args:
        run: `RunDirectory` holding the run (its manifest is current).
        monitor: str. Logged value whose maximum picks `best.keras`.
        watch_tensorboard: bool. Record TensorBoard's event files under
            `logs/` as the run's own.
    """

    def __init__(self, run, monitor="val_accuracy", watch_tensorboard=False):
        super().__init__()
        self.run = run
        self.monitor = monitor
        self.watch_tensorboard = watch_tensorboard
        self.state = read_state(run) or {
            "epoch": 0, "weights": None, "history": [], "best": None, "pending_best": None,
            "throughput": [], "seconds": 0.0,
        }
        self._mark = time.perf_counter()
        self._first_of_process = True
        self.apply()

    @property
    def epochs_done(self):
        return self.state["epoch"]

    def apply(self):
        """Completes the last commit: best model in place, history written,
        older weights deleted. Idempotent."""
        pending = self.state.get("pending_best")
        if pending and os.path.exists(self.run.join(pending)):
            self.run.record(BEST)
            os.replace(self.run.join(pending), self.run.join(BEST))
            self.run.forget(pending)
        if self.state["history"]:
            self.run.record(HISTORY)
            write_history(_columns(self.state["history"]), self.run.join(HISTORY))
        stale = [
            name for name in self.run.manifest["files"]
            if name.startswith("backup/") and name != self.state["weights"] and name != STATE
            and name != pending
        ]
        if stale:
            self.run.remove(*stale)

    def on_train_begin(self, logs=None):
        if not self.state["weights"]:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self.run.join(self.state["weights"]))

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        rate = logs.pop("images_per_second", None)
        row = {"epoch": int(epoch)}
        row.update({key: float(value) for key, value in sorted(logs.items())})
        value = row.get(self.monitor)
        best = self.state["best"]
        pending = None
        if value is not None and math.isfinite(value) and (best is None or value > best["value"]):
            pending = f"backup/best-{epoch:04d}.keras"
            self.run.record(pending)
            _save_atomically(self.model.save, self.run.join(pending), ".keras")
            best = {"value": value, "epoch": int(epoch)}
        weights = f"backup/epoch-{epoch + 1:04d}.weights.h5"
        self.run.record(weights)
        _save_atomically(self.model.save_weights, self.run.join(weights), ".weights.h5")
        if self.watch_tensorboard:
            self._record_event_files()
        now = time.perf_counter()
        throughput = list(self.state["throughput"])
        if rate is not None:
            throughput.append({"epoch": int(epoch), "images_per_second": float(rate),
                               "first": self._first_of_process})
        state = {
            "epoch": int(epoch) + 1,
            "weights": weights,
            "history": [r for r in self.state["history"] if r["epoch"] < epoch] + [row],
            "best": best,
            "pending_best": pending,
            "throughput": throughput,
            "seconds": self.state["seconds"] + (now - self._mark),
        }
        self._mark = now
        self._first_of_process = False
        self.run.write_text(STATE, json.dumps(state, indent=1) + "\n")  # the commit
        self.state = state
        self.apply()

    def _record_event_files(self):
        logs = self.run.join("logs")
        found = []
        for root, _, files in os.walk(logs):
            found += [os.path.join(root, name) for name in files if name.startswith(_EVENT_PREFIX)]
        if found:
            self.run.record(*found)
