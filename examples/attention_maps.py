"""What a small ViT looks at: attention maps and attention rollout on digits.

The script

1. trains a small `keras_vit.VisionTransformer` on the bundled digits
   (`keras_vit.data.load_digits`, 32x32x3, pixels scaled to [-1, 1]; patch 4,
   so each patch is one pixel of the original 8x8 digit), or loads one with
   `--checkpoint PATH` (a `.keras` file, e.g. the `model.keras` an earlier run
   of this script wrote, or a weights file for the same architecture);
2. computes every block's attention probabilities for a few test images with
   `keras_vit.visualization.attention_maps` (the model's own layers and
   weights, inference mode), and their attention rollout
   (`attention_rollout`, Abnar & Zuidema 2020);
3. writes `attention_maps.png`: one row per image with the digit, the
   rollout overlay and the last block's class-token attention (mean over the
   heads), plus `model.keras` when it trained the model.

On two CPU cores `--quick` runs in under a minute, on any backend:

    KERAS_BACKEND=jax python examples/attention_maps.py --quick

Files go to `--output` (default: a new `runs/attention-<time>` folder);
existing files are never overwritten.
"""

import argparse
import os
import sys
import time

ARCHITECTURE = dict(
    patch_size=4, hidden_dim=48, num_layers=3, num_heads=3, mlp_dim=96,
    input_shape=(32, 32, 3), classes=10, classifier_activation=None,
)
FIGURE_NAME = "attention_maps.png"
MODEL_NAME = "model.keras"


def _load_checkpoint(path):
    """A `.keras` model, or this script's architecture with weights from `path`."""
    import keras

    from keras_vit import VisionTransformer

    if path.endswith(".keras"):
        return keras.models.load_model(path, compile=False)  # any architecture
    # A weights file (.npz, .safetensors, .weights.h5) for this architecture.
    return VisionTransformer(**ARCHITECTURE, weights=path)


def _train(splits, epochs, batch_size, seed, max_train):
    import keras

    from keras_vit import VisionTransformer, preprocess_input

    x_train, y_train = splits.train
    x_train, y_train = x_train[:max_train], y_train[:max_train]
    model = VisionTransformer(**ARCHITECTURE)
    steps = epochs * -(-len(x_train) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=1e-5, decay_steps=max(steps - steps // 10, 1), alpha=0.01,
        warmup_target=3e-3, warmup_steps=steps // 10,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    print(f"training {model.count_params():,} parameters on {len(x_train)} images for {epochs} epochs")
    model.fit(
        preprocess_input(x_train), y_train, batch_size=batch_size, epochs=epochs,
        validation_data=(preprocess_input(splits.validation[0]), splits.validation[1]),
        shuffle=True, verbose=2,
    )
    return model


def _pick_images(x_test, y_test, count):
    """The first test image of each digit 0, 1, ... (up to `count` of them)."""
    indices = [int((y_test == digit).nonzero()[0][0]) for digit in range(10) if (y_test == digit).any()]
    return indices[:count]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short training run (under a minute on 2 CPU cores)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 40, or 8 with --quick)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--checkpoint", default=None, help="load this model (.keras) or weights file instead of training")
    parser.add_argument("--num-images", type=int, default=6, help="test images to show (1 to 10)")
    parser.add_argument("--head-fusion", default="mean", choices=("mean", "max", "min"))
    parser.add_argument("--discard-ratio", type=float, default=0.0)
    parser.add_argument("--output", default=None, help="output folder (default: a new runs/attention-<time>)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # Every argument is checked before anything is trained or written.
    epochs = args.epochs if args.epochs is not None else (8 if args.quick else 40)
    if epochs < 1 or args.batch_size < 1:
        parser.error("--epochs and --batch-size must be positive")
    if not 1 <= args.num_images <= 10:
        parser.error("--num-images must be between 1 and 10")
    if not 0.0 <= args.discard_ratio < 1.0:
        parser.error("--discard-ratio must be in [0, 1)")
    if args.checkpoint is not None and not os.path.isfile(args.checkpoint):
        parser.error(f"--checkpoint {args.checkpoint!r} is not a file")
    output = args.output or os.path.join("runs", time.strftime("attention-%Y%m%d-%H%M%S"))
    figure_path = os.path.join(output, FIGURE_NAME)
    model_path = os.path.join(output, MODEL_NAME)
    for path in (figure_path, model_path):
        if os.path.exists(path):
            parser.error(f"{path} exists; pick another --output")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("This example needs matplotlib: pip install matplotlib")

    import keras
    import numpy as np

    from keras_vit import preprocess_input
    from keras_vit.data import load_digits
    from keras_vit.visualization import attention_maps, attention_rollout, overlay_attention

    start = time.time()
    keras.utils.set_random_seed(args.seed)
    splits = load_digits(image_size=32, channels=3, seed=args.seed)
    if args.checkpoint is not None:
        model = _load_checkpoint(args.checkpoint)
    else:
        model = _train(splits, epochs, args.batch_size, args.seed, max_train=None)
    x_test, y_test = splits.test
    logits = model.predict(preprocess_input(x_test), batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=-1) == y_test))
    print(f"test accuracy: {accuracy:.4f} (chance 0.10)")

    chosen = _pick_images(x_test, y_test, args.num_images)
    images = x_test[chosen]
    maps = attention_maps(model, preprocess_input(images))
    rollout = attention_rollout(
        maps, head_fusion=args.head_fusion, discard_ratio=args.discard_ratio,
        num_prefix_tokens=model.num_prefix_tokens, grid_size=model.grid_size,
    )
    last = maps[max(maps)].mean(axis=1)[:, 0, model.num_prefix_tokens:]
    last = last.reshape((len(images),) + tuple(model.grid_size))

    # How much of the rollout falls on the digit's strokes (pixels above half
    # intensity), against the share of the image the strokes cover.
    strokes = images[..., 0].reshape(len(images), model.grid_size[0], 4, model.grid_size[1], 4).mean(axis=(2, 4)) > 127.5
    on_strokes = (rollout * strokes).sum(axis=(1, 2)) / rollout.sum(axis=(1, 2))
    print(f"rollout mass on stroke patches: {np.mean(on_strokes):.2f} "
          f"(strokes cover {np.mean(strokes):.2f} of the patches)")

    os.makedirs(output, exist_ok=True)
    figure, axes = plt.subplots(len(images), 3, figsize=(6.6, 2.2 * len(images)), squeeze=False)
    titles = ("digit", f"rollout ({args.head_fusion})", f"block {max(maps)} class-token attention")
    for row, index in enumerate(chosen):
        predicted = int(np.argmax(logits[index]))
        panels = (
            images[row].astype("uint8"),
            overlay_attention(images[row], rollout[row], alpha=0.5),
            overlay_attention(images[row], last[row], alpha=0.5),
        )
        for column, panel in enumerate(panels):
            axis = axes[row, column]
            axis.imshow(panel)
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(titles[column], fontsize=9)
        axes[row, 0].set_ylabel(f"label {y_test[index]}, predicted {predicted}", fontsize=8)
    figure.tight_layout()
    with open(figure_path, "xb") as file:
        figure.savefig(file, format="png", dpi=100)
    plt.close(figure)
    if args.checkpoint is None:
        model.save(model_path)
        print(f"wrote {model_path}")
    print(f"wrote {figure_path} in {time.time() - start:.0f} s")
    return figure_path


if __name__ == "__main__":
    main()
