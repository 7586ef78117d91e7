"""The run of `keras-vit train`: checks, distribution, data, model, fit,
evaluation, and the files of the run directory (see `keras-vit train
--help` for what they are)."""

import importlib
import os
import shutil
import sys
import tempfile
import time

from keras_vit.cli import checks, run_directory


def run(args, callbacks=()):
    """Trains, evaluates and writes the run's files; returns the metrics dict.

    Args:
        args: the parsed flags (an `argparse.Namespace` from
            `keras_vit.cli.flags.parse_args`).
        callbacks: extra `keras.callbacks.Callback`s for `fit`.
    """
    from keras_vit import distribute
    from keras_vit.training import make_deterministic

    start = time.perf_counter()
    errors = checks.check_flags(args)
    if errors:
        raise SystemExit("error: " + "; ".join(errors))
    if args.output_dir is None:
        args.output_dir = run_directory.default_output_dir(args)
    try:
        setup = distribute.auto_distribute(
            args.strategy, tpu=args.tpu, model_axis_size=args.model_axis_size, cpu_devices=args.cpu_devices
        )
    except (ValueError, RuntimeError) as error:
        raise SystemExit(f"error: --strategy {args.strategy}: {error}") from None
    scratch = None
    if not setup.is_chief:
        # A multi-worker run's files are the chief's; the other workers
        # write theirs to a scratch directory that is removed at the end.
        scratch = tempfile.mkdtemp(prefix="keras-vit-worker-")
        args.output_dir = scratch
    try:
        # Seeds and deterministic ops (switched back after the run): the
        # same command on the same machine gives the same history.csv.
        with setup.scope(), make_deterministic(args.seed), run_directory.opened(args) as (run_dir, plan):
            return _execute(args, run_dir, plan, start, setup, callbacks)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _augmentation(args):
    """The per-image augmentation and the batch mixing the flags ask for."""
    from keras_vit import augmentation

    if args.no_augment:
        return None, None
    augment = augmentation.image_augmentation(
        crop_scale=None if args.no_crop else tuple(args.crop_scale),
        flip=not args.no_flip,
        rand_augment_ops=args.rand_augment_ops,
        rand_augment_magnitude=args.rand_augment_magnitude,
        erasing_probability=args.erasing,
        seed=args.seed,
    )
    if augment is not None and not augment.layers:
        augment = None
    mixing = augmentation.label_mixing(args.mixup, args.cutmix, args.mix_switch_probability, seed=args.seed + 10)
    return augment, mixing


def _load_data(args, image_size, global_batch, static_shapes):
    from keras_vit.data import load_dataset
    from keras_vit.data.sources import parse_source

    augment, mixing = _augmentation(args)
    kind, _ = parse_source(args.dataset)
    options = {}
    if kind == "tfds":
        options = dict(splits=(args.train_split, args.validation_split, args.test_split), data_dir=args.data_dir)
    elif kind == "folder":
        options = dict(bad_images=args.bad_images)
    return load_dataset(
        args.dataset,
        image_size=image_size,
        batch_size=global_batch,
        augmentation=augment,
        mixing=mixing,
        preprocessing=args.preprocessing,
        drop_remainder=True if static_shapes else None,  # TPUs compile for one batch shape
        seed=args.seed,
        **options,
    )


def _build_model(args, image_size, num_classes):
    from keras_vit import VisionTransformer
    from keras_vit.models.variants import get_variant_config
    from keras_vit.training import precision_policy

    if args.model == "custom":
        sizes = dict(
            patch_size=args.patch_size or 4,
            hidden_dim=args.hidden_dim,
            num_layers=args.num_layers,
            num_heads=args.num_heads,
            mlp_dim=args.mlp_dim,
        )
    else:
        sizes = get_variant_config(args.model, patch_size=args.patch_size)
    return VisionTransformer(
        **sizes,
        input_shape=(image_size[0], image_size[1], 3),
        classes=num_classes,
        classifier_activation=None,
        dropout_rate=args.dropout,
        drop_path_rate=args.drop_path,
        dtype=precision_policy(args.precision),
        weights=args.weights,
        name="vit",
    )


def _prepare(args, setup, evaluate_only):
    """Loads the data and builds the model (nothing is written yet); a bad
    input becomes a one-line error."""
    # The layers register themselves for `.keras` loading on import; an
    # evaluation-only run loads best.keras without building a model first.
    importlib.import_module("keras_vit.layers")

    side = run_directory.image_size(args)
    image_size = (side, side)
    global_batch = args.batch_size * setup.replicas
    try:
        data = _load_data(args, image_size, global_batch, static_shapes=setup.name == "tpu")
        model = None if evaluate_only else _build_model(args, image_size, data.num_classes)
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    # Full batches only (drop_remainder in training), so the count is exact.
    steps_per_epoch = int(data.train.cardinality())
    if steps_per_epoch == 0:
        raise SystemExit(f"error: the global batch {global_batch} exceeds the number of training images")
    if steps_per_epoch < 0:
        raise SystemExit("error: the training set's size is unknown (infinite or unknown cardinality)")
    return dict(data=data, model=model, image_size=image_size, replicas=setup.replicas,
                global_batch=global_batch, steps_per_epoch=steps_per_epoch)


def _execute(args, run_dir, plan, start, setup, callbacks):
    import keras

    from keras_vit.training._run_checkpoint import steady_throughput
    from keras_vit.training.history import plot_history, read_history

    keras.utils.set_random_seed(args.seed)
    prepared = _prepare(args, setup, evaluate_only=plan.action == "evaluate")
    # Everything is checked: only now is anything deleted or written.
    if plan.action == "fresh":
        if plan.manifest is not None:
            removed, kept = run_dir.remove_owned(plan.manifest)
            print(f"--overwrite: deleted {len(removed)} file(s) of the previous run in {run_dir.display}"
                  + (f"; kept (not written by keras-vit): {', '.join(kept)}" if kept else ""))
        run_dir.start()
        run_dir.write_json("config.json", run_directory.settings(args))
    else:
        run_dir.adopt(plan.manifest)
    if run_dir.state == "training":
        _fit(args, run_dir, prepared, callbacks)
    else:
        print(f"{run_dir.display}: training is complete; evaluating best.keras.")
    _drop_backup(run_dir)

    summary = run_dir.manifest["summary"]
    best_path = run_dir.join("best.keras")
    if not os.path.isfile(best_path):
        raise SystemExit(f"error: {best_path} is missing; the run cannot be evaluated. Pass --overwrite to start over.")
    best = keras.models.load_model(best_path)
    test_loss, test_accuracy = best.evaluate(prepared["data"].test, verbose=0)
    history = read_history(run_dir.join("history.csv"))
    val = history.get("val_accuracy", [])
    metrics = {
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "best_val_accuracy": max(val) if val else None,
        "best_epoch": (history["epoch"][val.index(max(val))] + 1) if val else None,
        "epochs": len(history.get("epoch", [])),
        "images_per_second": steady_throughput(summary["throughput"]),
        "images_per_second_per_epoch": [e["images_per_second"] for e in summary["throughput"]],
        "training_seconds": summary["seconds"],
        "wall_time_seconds": time.perf_counter() - start,
        "parameters": best.count_params(),
        "model": args.model,
        "dataset": args.dataset,
        "precision": args.precision,
        "backend": keras.backend.backend(),
        "replicas": prepared["replicas"],
        "global_batch_size": prepared["global_batch"],
    }
    run_dir.write_json("metrics.json", metrics)
    run_dir.record("curves.png")
    plotted = plot_history(history, run_dir.join("curves.png"))
    run_dir.set_state("finished")
    rate = metrics["images_per_second"]
    print(f"test accuracy: {metrics['test_accuracy']:.4f} (best validation epoch {metrics['best_epoch']})")
    print(f"training throughput: {rate:.0f} images/s" if rate else "training throughput: n/a (no timed epoch)")
    print(f"wall time: {metrics['wall_time_seconds']:.1f} s (training {metrics['training_seconds']:.1f} s)")
    if setup.is_chief:
        print(f"files: {run_dir.display}/ history.csv, best.keras, metrics.json"
              + (", curves.png" if plotted else " (no matplotlib: no curves.png)"))
    else:
        print("files: written by the chief (this worker's copies are discarded)")
    return metrics


def _fit(args, run_dir, prepared, callbacks):
    """The training phase: compile, resume from the last commit, fit; then
    records the phase as done and deletes the backup."""
    import keras

    from keras_vit import training
    from keras_vit.training._run_checkpoint import RunCheckpoint

    model, steps_per_epoch, global_batch = prepared["model"], prepared["steps_per_epoch"], prepared["global_batch"]
    data = prepared["data"]
    effective_batch = global_batch * args.accumulation_steps
    peak = args.learning_rate * (effective_batch / 512 if args.scale_learning_rate else 1.0)
    schedule = training.WarmupCosine(
        peak_learning_rate=peak,
        total_steps=args.epochs * steps_per_epoch,
        warmup_steps=int(round(args.warmup_epochs * steps_per_epoch)),
        initial_learning_rate=min(args.warmup_learning_rate, peak),
        final_learning_rate=min(args.min_learning_rate, peak),
    )
    model.compile(
        optimizer=training.create_adamw(
            learning_rate=0.0,  # set every batch by WarmupCosineScheduler
            weight_decay=args.weight_decay,
            global_clipnorm=args.clipnorm,
            gradient_accumulation_steps=args.accumulation_steps,
        ),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=args.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        steps_per_execution=args.steps_per_execution,
    )
    image_size = prepared["image_size"]
    print(
        f"keras-vit train: {args.model} ({model.count_params():,} parameters) on {args.dataset} "
        f"{image_size[0]}x{image_size[1]}, {args.epochs} epochs x {steps_per_epoch} steps, batch "
        f"{global_batch} ({args.batch_size} x {prepared['replicas']} replicas), peak lr {peak:.3g}, {args.precision}, "
        f"backend {keras.backend.backend()}, "
        f"output {args.output_dir}"
    )
    checkpoint = RunCheckpoint(run_dir, monitor="val_accuracy", watch_tensorboard=args.tensorboard)
    done = checkpoint.epochs_done
    if done >= args.epochs:
        print(f"{run_dir.display}: all {args.epochs} epochs are done.")
    elif done:
        print(f"Resuming {run_dir.display} at epoch {done + 1}.")
    fit_callbacks = [training.WarmupCosineScheduler(schedule, steps_per_epoch=steps_per_epoch),
                     training.ThroughputMeter(global_batch)]
    if args.monitor_gradients:
        probe = next(iter(data.validation))
        fit_callbacks.append(training.GradientNormMonitor(probe_data=(probe[0].numpy(), probe[1].numpy())))
    if args.tensorboard:
        fit_callbacks.append(keras.callbacks.TensorBoard(run_dir.join("logs")))
    fit_callbacks.append(checkpoint)
    fit_callbacks += list(callbacks)
    if done < args.epochs:
        model.fit(
            data.train,
            validation_data=data.validation,
            epochs=args.epochs,
            initial_epoch=done,
            callbacks=fit_callbacks,
            shuffle=False,  # the dataset shuffles itself
            verbose=args.verbose,
        )
    state = checkpoint.state
    run_dir.set_state("trained", summary={"throughput": state["throughput"], "seconds": state["seconds"]})


def _drop_backup(run_dir):
    """Deletes the backup once the training phase is recorded as done."""
    run_dir.remove(*[name for name in run_dir.manifest["files"] if name.startswith("backup/")])
    run_dir.remove_empty_dirs("backup")


def run_command(args):
    """Runs `keras-vit train` for parsed flags; returns the exit status
    (130 after Ctrl-C, with how to resume)."""
    try:
        run(args)
    except KeyboardInterrupt:
        print(f"\ninterrupted: run the same command again to resume the run in {args.output_dir}.",
              file=sys.stderr)
        return 130
    return 0
