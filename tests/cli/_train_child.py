"""Runs `keras-vit train` and SIGKILLs itself at one chosen point.

    python tests/cli/_train_child.py POINT [train flags...]

The kill is real (SIGKILL: no cleanup, no `finally`), at a point a real
kill could hit; the hooks only choose the moment. Points:

- `none`: no kill (a plain run, for the lock test);
- `hold`: after epoch 1 starts, block until the file named by
  $KERAS_VIT_TEST_RELEASE exists (another run can then try the directory);
- `first-epoch`: in the first epoch, after batch 3;
- `epoch`: in the second epoch, after batch 3;
- `between-epochs`: after epoch 1 is committed, before epoch 2 starts;
- `best-model`: in the middle of saving the best model;
- `backup`: after the weights of epoch 2 are written, before the rename;
- `commit`: after epoch 2's state.json is committed, before it is applied;
- `trained`: after the training phase is recorded as done, before the
  backup is deleted;
- `evaluation`: while the test set is evaluated;
- `metrics`: with metrics.json written to its temporary name, before the
  rename;
- `curves`: the same for curves.png.
"""

import os
import signal
import sys
import time


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def install(point):
    import keras

    from keras_vit import _files
    from keras_vit.training import _run_checkpoint, _run_directory

    callbacks = []

    class KillInEpoch(keras.callbacks.Callback):
        def __init__(self, epoch):
            super().__init__()
            self.kill_epoch, self.epoch = epoch, None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == self.kill_epoch and batch == 3:
                die()

    class Hold(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            release = os.environ["KERAS_VIT_TEST_RELEASE"]
            print("holding", flush=True)
            while not os.path.exists(release):
                time.sleep(0.05)

    checkpoint = _run_checkpoint.RunCheckpoint
    if point == "hold":
        callbacks.append(Hold())
    elif point in ("first-epoch", "epoch"):
        callbacks.append(KillInEpoch(0 if point == "first-epoch" else 1))
    elif point == "between-epochs":
        original = checkpoint.on_epoch_end

        def on_epoch_end(self, epoch, logs=None):
            original(self, epoch, logs)
            if epoch == 0:
                die()

        checkpoint.on_epoch_end = on_epoch_end
    elif point in ("best-model", "backup"):
        original_save = _run_checkpoint._save_atomically

        def save(function, destination, suffix):
            name = os.path.basename(destination)
            if point == "best-model" and name == "best-0000.keras":
                def partial(path):  # a few bytes reach the disk, then the kill
                    with open(path, "wb") as handle:
                        handle.write(b"PK\x03\x04 partial")
                        handle.flush()
                    die()

                return original_save(partial, destination, suffix)
            if point == "backup" and name == "epoch-0002.weights.h5":
                def written_then_killed(path):
                    function(path)
                    die()

                return original_save(written_then_killed, destination, suffix)
            return original_save(function, destination, suffix)

        _run_checkpoint._save_atomically = save
    elif point == "commit":
        original_apply = checkpoint.apply

        def apply(self):
            if self.state["epoch"] == 2:
                die()
            original_apply(self)

        checkpoint.apply = apply
    elif point == "trained":
        original_state = _run_directory.RunDirectory.set_state

        def set_state(self, state, **values):
            original_state(self, state, **values)
            if state == "trained":
                die()

        _run_directory.RunDirectory.set_state = set_state
    elif point == "evaluation":
        original_evaluate = keras.Model.evaluate

        class KillInTest(keras.callbacks.Callback):
            def on_test_batch_end(self, batch, logs=None):
                die()

        def evaluate(self, *args, **kwargs):
            if "_use_cached_eval_dataset" not in kwargs:  # not fit's validation
                kwargs["callbacks"] = [KillInTest()]
            return original_evaluate(self, *args, **kwargs)

        keras.Model.evaluate = evaluate
    elif point in ("metrics", "curves"):
        target = "metrics.json" if point == "metrics" else "curves.png"
        original_replace = _files.os.replace

        def replace(source, destination):
            if os.path.basename(destination) == target:
                die()
            original_replace(source, destination)

        _files.os.replace = replace
    elif point != "none":
        raise SystemExit(f"unknown kill point {point!r}")
    return callbacks


def main():
    point, flag_values = sys.argv[1], sys.argv[2:]
    from keras_vit.cli import flags, run

    callbacks = install(point)
    run.run(flags.parse_args(flag_values), callbacks=callbacks)


if __name__ == "__main__":
    main()
