"""Which directory a `keras-vit train` run writes to, and what it may do
there: the flags that define a run, the default directory (the newest
unfinished run of the same command), and the directory opened, locked and
planned (start, resume, evaluate, or refuse) with the rules of
`keras_vit.training._run_directory`."""

import contextlib
import os
import time

from keras_vit.training import _run_directory

# Flags that change where or how loudly a run goes, not what it computes:
# left out of config.json, so changing them still resumes the same run.
IGNORED_FLAGS = ("output_dir", "overwrite", "verbose", "tpu")


def image_size(args):
    """`--image-size`, or the dataset's default (32 for digits, 224 otherwise)."""
    from keras_vit.data.sources import default_image_size

    return args.image_size or default_image_size(args.dataset)


def settings(args):
    """The flags that define a run, as `config.json` stores them and
    resuming compares them: after a JSON round trip (tuples are lists
    there), with defaults that depend on other flags resolved (so
    `--image-size 32` on digits is the same run as no `--image-size`)."""
    values = {key: value for key, value in sorted(vars(args).items()) if key not in IGNORED_FLAGS}
    values["image_size"] = image_size(args)
    if args.model == "custom":
        values["patch_size"] = args.patch_size or 4
    return _run_directory.canonical(values)


def default_output_dir(args, parent="runs"):
    """`runs/<dataset>-<model>-<time>`, or the newest unfinished run of the
    same command there (so running a command again resumes it)."""
    name = args.dataset.replace(":", "-").replace("/", "_").strip("-_.")
    prefix = f"{name}-{args.model.replace('/', '')}-"
    unfinished = _run_directory.find_unfinished(parent, prefix, settings(args))
    if unfinished:
        return unfinished
    path = os.path.join(parent, prefix + time.strftime("%Y%m%d-%H%M%S"))
    suffix = 1
    while os.path.lexists(path if suffix == 1 else f"{path}-{suffix}"):
        suffix += 1
    return path if suffix == 1 else f"{path}-{suffix}"


@contextlib.contextmanager
def opened(args):
    """Locks `args.output_dir` and plans the run in it; yields
    `(run_dir, plan)` and unlocks on exit. A directory the run must not use
    (or damaged run files) ends the command with a one-line error."""
    run_dir = _run_directory.RunDirectory(args.output_dir)
    try:
        run_dir.open()
        yield run_dir, _run_directory.plan_run(run_dir, settings(args), args.overwrite)
    except _run_directory.RunDirectoryError as error:
        raise SystemExit(f"error: {error}") from None
    finally:
        run_dir.close()
