"""Writes the example notebooks of this folder from the cells below.

The notebooks are generated so that they stay small, reviewable and
output-free: edit the cells here, then

    python examples/notebooks/_build.py          # rewrite the .ipynb files
    python examples/notebooks/_build.py --check  # exit 1 if one differs

(needs `nbformat`). Each notebook is standalone, as Kaggle wants it: it
imports only `keras_vit` and its dependencies, never a helper of this folder.
`tests/test_notebooks.py` executes them with `KERAS_VIT_SMALL=1`.
"""

import argparse
import os
import sys
import textwrap

HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------
# Cells shared by several notebooks (copied into each: no notebook imports
# another file).
# --------------------------------------------------------------------------

SMALL_AND_WORKDIR = '''
# KERAS_VIT_SMALL=1 picks the reduced setting (a tiny model, a few epochs: seconds on a
# CPU), which the tests run; otherwise the full setting, meant for a GPU or TPU.
SMALL = os.environ.get("KERAS_VIT_SMALL", "0") == "1"

# Where files go: $WORKDIR if set, else /kaggle/working on Kaggle, else the current folder.
# Each run writes into a new subfolder there and never replaces an existing file.
WORKDIR = os.environ.get("WORKDIR") or ("/kaggle/working" if os.path.isdir("/kaggle/working") else os.getcwd())
SEED = 0
'''

ANY_BACKEND = '''
import os

# The Keras backend: "tensorflow", "jax" or "torch". Keras reads it once, when it is first
# imported, so it is set here, before any import of keras.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
'''

SETUP_MARKDOWN = """
## Setup

Checks that `keras_vit` is installed, prints the backend and the accelerators
it can use, and creates this run's output folder.
"""

IMPORT_CHECK = '''
import glob
import importlib.util
import json

# keras_vit's distribution is `keras-vit-zoo`; `keras-vit` on the package index is another
# project that also installs a `keras_vit` module (without ViTBase).
INSTALL_HINT = (
    "With internet access: `%pip install 'keras-vit-zoo[tensorflow]'` (or [jax], [torch]). "
    "Offline (a Kaggle notebook with internet off): attach a dataset holding the wheel that "
    "`make wheel` writes to dist/ and `%pip install --no-deps /kaggle/input/<dataset>/keras_vit_zoo-*.whl`."
)
if importlib.util.find_spec("keras_vit") is None:
    raise ModuleNotFoundError("keras_vit is not installed. " + INSTALL_HINT)

import keras
import numpy as np

import keras_vit

if not hasattr(keras_vit, "ViTBase"):
    raise ImportError(
        f"The keras_vit module found at {keras_vit.__file__} is another project's (the `keras-vit` "
        "distribution on the package index), not keras-vit-zoo's. Remove it with "
        "`%pip uninstall -y keras-vit`, then install keras-vit-zoo. " + INSTALL_HINT
    )
'''

FIND_ACCELERATORS = '''

def find_accelerators():
    """The GPUs and TPUs the active backend sees (names only; nothing is allocated)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [f"{d.device_type} {d.name}" for d in tf.config.list_physical_devices() if d.device_type != "CPU"]
    if backend == "jax":
        import jax

        return [f"{d.platform.upper()} {d}" for d in jax.devices() if d.platform != "cpu"]
    import torch

    return [f"GPU {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]


# Signs of a Cloud TPU VM (Kaggle's TPU v3-8 / v5e-8) or a named TPU.
TPU_ATTACHED = bool(glob.glob("/dev/accel*")) or any(
    os.environ.get(key) for key in ("TPU_ACCELERATOR_TYPE", "TPU_NAME", "COLAB_TPU_ADDR")
)
ACCELERATORS = find_accelerators()
print(f"keras {keras.__version__}, {keras.backend.backend()} backend; keras_vit {keras_vit.__version__}")
print("accelerators:", ", ".join(ACCELERATORS) if ACCELERATORS else "none: this runs on the CPU")
'''

NEW_OUTPUT_DIR = '''

def new_output_dir(name):
    """A new folder `WORKDIR/name` (or `name-2`, `name-3`, ... when it exists): a run never
    writes over the files of an earlier one."""
    path, count = os.path.join(WORKDIR, name), 1
    while os.path.exists(path):
        count += 1
        path = os.path.join(WORKDIR, f"{name}-{count}")
    os.makedirs(path)
    return path


OUTPUT_DIR = new_output_dir("@NAME@")
print(f"{'reduced (KERAS_VIT_SMALL=1)' if SMALL else 'full'} setting; files go to {OUTPUT_DIR}")
'''

TPU_HINT = '''
if TPU_ATTACHED:
    print("A TPU is attached: distributed.ipynb trains on it with TPUStrategy.")
'''


def setup_cell(name, extra=""):
    return IMPORT_CHECK + FIND_ACCELERATORS + extra + NEW_OUTPUT_DIR.replace("@NAME@", name)


# --------------------------------------------------------------------------
# quickstart.ipynb
# --------------------------------------------------------------------------

QUICKSTART = [
    ("markdown", """
# keras_vit quickstart: a Vision Transformer on handwritten digits

This notebook trains a small Vision Transformer (ViT) from scratch with
`keras_vit`, evaluates it and plots its training curves. The data are
the 1,797 handwritten digits (8x8 pixels, ten classes) of the UCI optical
recognition data set, shipped inside `keras_vit.data`: nothing is downloaded.

Steps: settings → setup → data (`keras_vit.data.load_digits`, `make_dataset`)
→ model (`keras_vit.VisionTransformer`) → training (`keras_vit.training`:
AdamW without weight decay on biases and norms, warmup + cosine learning rate)
→ evaluation → curves.

The full setting is `make demo`'s recipe (60 epochs, about 99% test accuracy,
about 3 minutes on two CPU cores; a GPU is faster). The reduced setting
(`KERAS_VIT_SMALL=1`) trains a tiny model for a few epochs in seconds: its
accuracy is well above chance (10%) but far from the full one.
"""),
    ("code", ANY_BACKEND + SMALL_AND_WORKDIR + '''
IMAGE_SIZE = 16 if SMALL else 32  # the 8x8 digits are upsampled to this size
if SMALL:
    ARCHITECTURE = dict(patch_size=4, hidden_dim=32, num_layers=2, num_heads=2, mlp_dim=64)
else:  # make demo's model: 4x4 patches of 32x32 images, one patch per original pixel
    ARCHITECTURE = dict(patch_size=4, hidden_dim=64, num_layers=4, num_heads=4, mlp_dim=128)
EPOCHS = 12 if SMALL else 60
WARMUP_EPOCHS = 1 if SMALL else 5
BATCH_SIZE = 64
PEAK_LEARNING_RATE = 4e-3 if SMALL else 2e-3
# Augmentation (random resized crop, random erasing, MixUp) and drop path pay off over many
# epochs; the reduced setting leaves them out.
AUGMENT = not SMALL
DROP_PATH_RATE = 0.0 if SMALL else 0.1
'''),
    ("markdown", SETUP_MARKDOWN),
    ("code", setup_cell("quickstart", TPU_HINT) + '''
%matplotlib inline
import matplotlib.pyplot as plt
'''),
    ("markdown", """
## Data

`load_digits` returns a fixed, stratified train / validation / test split as
NumPy arrays (pixels in [0, 255], three identical channels). `make_dataset`
turns each split into a `tf.data` pipeline (it feeds `fit` on every backend):
shuffling and augmentation for training, one-hot labels, scaling to [-1, 1].
"""),
    ("code", '''
from keras_vit.augmentation import image_augmentation, label_mixing
from keras_vit.data import load_digits, make_dataset

keras.utils.set_random_seed(SEED)
splits = load_digits(image_size=IMAGE_SIZE, seed=SEED)
NUM_CLASSES = len(splits.class_names)
for split_name, (images, labels) in zip(("train", "validation", "test"), splits):
    print(f"{split_name:>10}: {len(labels)} images of shape {images.shape[1:]}")

augmentation = mixing = None
if AUGMENT:
    augmentation = image_augmentation(crop_scale=(0.6, 1.0), flip=False, rand_augment_ops=0,
                                      erasing_probability=0.1, seed=SEED)
    mixing = label_mixing(mixup_alpha=0.2, cutmix_alpha=0.0, seed=SEED)
train = make_dataset(splits.train, BATCH_SIZE, NUM_CLASSES, training=True,
                     augmentation=augmentation, mixing=mixing, seed=SEED)
validation = make_dataset(splits.validation, 256, NUM_CLASSES)
test = make_dataset(splits.test, 256, NUM_CLASSES)

x_train, y_train = splits.train
figure, axes = plt.subplots(1, NUM_CLASSES, figsize=(NUM_CLASSES, 1.3))
for digit, axis in enumerate(axes):
    axis.imshow(x_train[np.flatnonzero(y_train == digit)[0]].astype("uint8"))
    axis.set_title(splits.class_names[digit])
    axis.axis("off")
plt.show()
'''),
    ("markdown", """
## Model

`VisionTransformer` builds a ViT from its hyperparameters (the `ViTTiny` ...
`ViTHuge` builders and `keras_vit.vit("B/16")` build the published sizes).
`classifier_activation=None` gives logits; the loss applies the softmax.
"""),
    ("code", '''
from keras_vit import VisionTransformer

model = VisionTransformer(
    **ARCHITECTURE, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), classes=NUM_CLASSES,
    classifier_activation=None, drop_path_rate=DROP_PATH_RATE,
)
model.summary()
'''),
    ("markdown", """
## Training

`create_adamw` is Keras's AdamW with no weight decay on biases, LayerNorm
parameters, the class token and the position embedding. `WarmupCosine` is a
linear warmup followed by a cosine decay, and `WarmupCosineScheduler` sets the
optimizer's rate before every batch and logs it as `lr`. The checkpoint of the
best validation epoch is kept as `best.keras`, the history as `history.csv`.
"""),
    ("code", '''
import time

from keras_vit.training import WarmupCosine, WarmupCosineScheduler, create_adamw

steps_per_epoch = int(train.cardinality())
schedule = WarmupCosine(
    PEAK_LEARNING_RATE, total_steps=EPOCHS * steps_per_epoch, warmup_steps=WARMUP_EPOCHS * steps_per_epoch,
    initial_learning_rate=1e-6, final_learning_rate=1e-5,
)
model.compile(
    optimizer=create_adamw(learning_rate=0.0, weight_decay=0.05),  # the scheduler sets the rate
    loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
    metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
)
best_path = os.path.join(OUTPUT_DIR, "best.keras")
started = time.time()
history = model.fit(
    train, validation_data=validation, epochs=EPOCHS, shuffle=False,  # make_dataset shuffles
    callbacks=[
        WarmupCosineScheduler(schedule, steps_per_epoch=steps_per_epoch),
        keras.callbacks.ModelCheckpoint(best_path, monitor="val_accuracy", mode="max", save_best_only=True),
        keras.callbacks.CSVLogger(os.path.join(OUTPUT_DIR, "history.csv")),
    ],
    verbose=2,
)
training_seconds = time.time() - started
print(f"{training_seconds:.0f} s of training")
'''),
    ("markdown", """
## Evaluation

The best validation checkpoint, reloaded from `best.keras`, on the test split
(never seen in training or model selection). The results go to
`results.json`.
"""),
    ("code", '''
best = keras.models.load_model(best_path)
test_loss, test_accuracy = best.evaluate(test, verbose=0)
best_epoch = int(np.argmax(history.history["val_accuracy"])) + 1
print(f"test accuracy {test_accuracy:.4f} (chance {1 / NUM_CLASSES:.2f}), best validation epoch {best_epoch} of {EPOCHS}")

results = {
    "notebook": "quickstart",
    "small": SMALL,
    "backend": keras.backend.backend(),
    "parameters": int(model.count_params()),
    "epochs": EPOCHS,
    "best_epoch": best_epoch,
    "test_accuracy": float(test_accuracy),
    "test_loss": float(test_loss),
    "training_seconds": training_seconds,
    "files": ["best.keras", "history.csv", "curves.png", "results.json"],
}
with open(os.path.join(OUTPUT_DIR, "results.json"), "x") as file:
    json.dump(results, file, indent=2)
'''),
    ("markdown", """
## Curves

Loss and accuracy per epoch on the training and validation splits, and the
learning rate. With augmentation on, training accuracy is measured on cropped,
erased, MixUp-blended images with smoothed labels, so it stays below the
validation accuracy.
"""),
    ("code", '''
logs = history.history
epochs = np.arange(1, len(logs["loss"]) + 1)
figure, (loss_axis, accuracy_axis, lr_axis) = plt.subplots(1, 3, figsize=(13, 3.5))
for key, label in (("loss", "train"), ("val_loss", "validation")):
    loss_axis.plot(epochs, logs[key], label=label)
for key, label in (("accuracy", "train"), ("val_accuracy", "validation")):
    accuracy_axis.plot(epochs, logs[key], label=label)
accuracy_axis.axhline(test_accuracy, color="gray", linestyle="--", label=f"test (best epoch): {test_accuracy:.3f}")
lr_axis.plot(epochs, logs["lr"])
for axis, title in ((loss_axis, "loss"), (accuracy_axis, "accuracy"), (lr_axis, "learning rate (end of epoch)")):
    axis.set_title(title)
    axis.set_xlabel("epoch")
loss_axis.legend()
accuracy_axis.legend()
figure.tight_layout()
figure.savefig(os.path.join(OUTPUT_DIR, "curves.png"), dpi=100)
plt.show()
'''),
    ("markdown", """
A few test images with the model's prediction (red: wrong).
"""),
    ("code", '''
from keras_vit import preprocess_input

x_test, y_test = splits.test
predicted = np.argmax(best.predict(preprocess_input(x_test[:20]), verbose=0), axis=-1)
figure, axes = plt.subplots(2, 10, figsize=(10, 2.6))
for index, axis in enumerate(axes.flat):
    axis.imshow(x_test[index].astype("uint8"))
    axis.set_title(f"{predicted[index]}", color="black" if predicted[index] == y_test[index] else "red")
    axis.axis("off")
plt.show()
print(f"files in {OUTPUT_DIR}: {sorted(os.listdir(OUTPUT_DIR))}")
'''),
    ("markdown", """
## Next

- `finetune.ipynb`: start from a pretrained checkpoint instead of from scratch.
- `distributed.ipynb`: the same training on a TPU or several GPUs.
- `attention_maps.ipynb`: what the model attends to.
- Your own images: `keras_vit.data.load_image_folder("/kaggle/input/<dataset>", ...)`
  or `keras_vit.data.load_tfds("cifar10", ...)` give the same pipelines, and
  `keras-vit train` runs the whole recipe from the command line.
"""),
]

# --------------------------------------------------------------------------
# finetune.ipynb
# --------------------------------------------------------------------------

FINETUNE = [
    ("markdown", """
# Fine-tuning a pretrained ViT from a checkpoint file

Transfer learning in two stages, in one `fit`:

1. **head only**: `keras_vit.training.freeze_backbone` freezes the encoder, so
   the new, randomly initialised head learns first without sending large
   gradients into the pretrained weights;
2. **everything**: `UnfreezeCallback` unfreezes the encoder at a chosen epoch,
   at a lower learning rate, with layer-wise learning-rate decay
   (`create_layer_decay_adamw`: block *i* of *L* trains at
   `lr × decay^(L − i)`, so the layers near the input move least).

The checkpoint is a **file**: a Google `.npz`, a timm `.safetensors` or a
keras_vit `.weights.h5`, loaded by the builders' `weights=` argument (the
layout is told from the contents; a head for other classes is left out). It
is looked for, in order, in

- the `CHECKPOINT` setting below (or the `CHECKPOINT` environment variable);
- the datasets attached to this Kaggle notebook (`/kaggle/input/**`);
- otherwise this notebook **makes one itself**: it pretrains a small ViT on
  the digits 0–4 and writes it with `keras_vit.checkpoints.export_weights`
  (see *Making a checkpoint here*). Nothing is downloaded.

The new task is the digits 5–9 with only a few labelled images per class.
"""),
    ("code", ANY_BACKEND + SMALL_AND_WORKDIR + '''
# A pretrained checkpoint file (.npz, .safetensors, .weights.h5). Empty: look in /kaggle/input,
# then make one here.
CHECKPOINT = os.environ.get("CHECKPOINT", "")
# For a checkpoint found or given: its architecture (a keras_vit.vit name, e.g. "Ti/16", "S/16",
# "B/16"), the resolution to fine-tune at, and the pixel scaling it was trained with ("vit": [-1, 1]
# for Google/AugReg and most timm ViTs, "imagenet": mean/std).
CHECKPOINT_MODEL = "Ti/16"
CHECKPOINT_IMAGE_SIZE = 224
CHECKPOINT_PREPROCESSING = "vit"

# The checkpoint made here when there is none: its layout ("timm": .safetensors, or "google": .npz).
EXPORT_FORMAT = "timm"
SOURCE_DIGITS = (0, 1, 2, 3, 4)  # what it is pretrained on
SOURCE_IMAGE_SIZE = 16 if SMALL else 32
if SMALL:
    SOURCE_ARCHITECTURE = dict(patch_size=4, hidden_dim=32, num_layers=2, num_heads=2, mlp_dim=64)
else:
    SOURCE_ARCHITECTURE = dict(patch_size=4, hidden_dim=64, num_layers=4, num_heads=4, mlp_dim=128)
PRETRAIN_EPOCHS = 20 if SMALL else 30

TARGET_DIGITS = (5, 6, 7, 8, 9)  # the new task
PER_CLASS = 10 if SMALL else 20  # labelled training images per class
HEAD_EPOCHS = 3 if SMALL else 10  # stage 1: head only
FINETUNE_EPOCHS = 5 if SMALL else 40  # stage 2: everything, layer-wise decay
LEARNING_RATE = 1e-3  # stage 2's rate of the head (stage 1: 3x)
LAYER_DECAY = 0.75
BATCH_SIZE = 16
# The same architecture trained from scratch on the same images, for comparison (full setting).
COMPARE_FROM_SCRATCH = not SMALL
'''),
    ("markdown", SETUP_MARKDOWN),
    ("code", setup_cell("finetune") + '''
%matplotlib inline
import matplotlib.pyplot as plt
'''),
    ("markdown", """
## Finding the checkpoint

On Kaggle, attach a dataset holding a ViT checkpoint (*Add Input*); it appears
under `/kaggle/input/<dataset>/`. Every `*.npz`, `*.safetensors` and
`*.weights.h5` file there is a candidate; the first that holds a ViT
checkpoint (told by its contents: other `.npz` files are skipped) is used
unless `CHECKPOINT` names one. Set `CHECKPOINT_MODEL` and
`CHECKPOINT_IMAGE_SIZE` to match it.
"""),
    ("code", '''
from keras_vit.checkpoints import sniff_format

CHECKPOINT_PATTERNS = ("*.npz", "*.safetensors", "*.weights.h5")


def attached_checkpoint(root="/kaggle/input"):
    """The first file under `root` that holds a ViT checkpoint (told by its contents: an .npz of
    other arrays is skipped), or "" when there is none."""
    candidates = set()
    for pattern in CHECKPOINT_PATTERNS:
        candidates.update(glob.glob(os.path.join(root, "**", pattern), recursive=True))
    for path in sorted(candidates):
        try:
            layout = sniff_format(path)
        except ValueError as error:
            print(f"skipped {path}: {error}")
            continue
        others = len(candidates) - 1
        print(f"found {path} ({layout} layout)" + (f"; {others} other candidate file(s): set CHECKPOINT to pick one"
                                                   if others else ""))
        return path
    return ""


if CHECKPOINT:
    if not os.path.isfile(CHECKPOINT):
        raise FileNotFoundError(f"CHECKPOINT={CHECKPOINT!r} is not a file.")
    CHECKPOINT_SOURCE = "the CHECKPOINT setting"
else:
    CHECKPOINT = attached_checkpoint()
    CHECKPOINT_SOURCE = "an attached dataset" if CHECKPOINT else "pretrained in this notebook"
MAKE_CHECKPOINT = not CHECKPOINT
if MAKE_CHECKPOINT:
    print("No checkpoint given or attached: the next cell pretrains one on digits 0-4 and writes it.")
else:
    print(f"checkpoint: {CHECKPOINT} (from {CHECKPOINT_SOURCE}); architecture {CHECKPOINT_MODEL} "
          f"at {CHECKPOINT_IMAGE_SIZE} px")
'''),
    ("markdown", """
## Making a checkpoint here (only when none was found)

Without a checkpoint file this notebook makes a real one, so that the rest runs
exactly as it would on a downloaded file: a small ViT is **trained here** on
the digits 0–4 (the stand-in for ImageNet pretraining), and its encoder (every
weight but the head, as a backbone checkpoint) is written with
`keras_vit.checkpoints.export_weights` in the timm (`.safetensors`) or Google
(`.npz`) layout into this run's output folder. No file is downloaded and no
pretrained weights are claimed: the digits 5–9 of the new task were never
seen by it. With a checkpoint found above, this cell does nothing.
"""),
    ("code", '''
from keras_vit import VisionTransformer
from keras_vit.checkpoints import export_weights
from keras_vit.data import load_digits, make_dataset
from keras_vit.training import WarmupCosine, create_adamw


def select(data, digits, per_class=None, seed=SEED):
    """The images of `digits`, relabelled 0, 1, ...; `per_class` of each drawn at random if given."""
    images, labels = data
    rng = np.random.default_rng(seed)
    keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == d))[:per_class] for d in digits]))
    return images[keep], np.array([digits.index(label) for label in labels[keep]], "int32")


def compile_model(model, optimizer):
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


keras.utils.set_random_seed(SEED)
source_accuracy = None
if MAKE_CHECKPOINT:
    splits = load_digits(image_size=SOURCE_IMAGE_SIZE, seed=SEED)
    source_train = make_dataset(select(splits.train, SOURCE_DIGITS), 64, len(SOURCE_DIGITS), training=True, seed=SEED)
    source_test = make_dataset(select(splits.test, SOURCE_DIGITS), 256, len(SOURCE_DIGITS))
    source = VisionTransformer(**SOURCE_ARCHITECTURE, input_shape=(SOURCE_IMAGE_SIZE, SOURCE_IMAGE_SIZE, 3),
                               classes=len(SOURCE_DIGITS), classifier_activation=None)
    steps = int(source_train.cardinality())
    compile_model(source, create_adamw(
        WarmupCosine(3e-3, total_steps=PRETRAIN_EPOCHS * steps, warmup_steps=steps, final_learning_rate=1e-5),
        weight_decay=0.05))
    print(f"pretraining on digits {SOURCE_DIGITS} for {PRETRAIN_EPOCHS} epochs")
    source.fit(source_train, epochs=PRETRAIN_EPOCHS, shuffle=False, verbose=2)
    source_accuracy = float(source.evaluate(source_test, verbose=0)[1])
    print(f"test accuracy on digits {SOURCE_DIGITS}: {source_accuracy:.3f}")

    # The checkpoint holds the encoder only (the new task gets a new head anyway).
    backbone = VisionTransformer(**SOURCE_ARCHITECTURE, input_shape=(SOURCE_IMAGE_SIZE, SOURCE_IMAGE_SIZE, 3),
                                 include_top=False)
    for layer in backbone.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
    extension = {"timm": ".safetensors", "google": ".npz"}[EXPORT_FORMAT]
    CHECKPOINT = os.path.join(OUTPUT_DIR, f"vit_digits0-4{extension}")
    export_weights(backbone, CHECKPOINT, format=EXPORT_FORMAT)  # overwrite=False: never replaces a file
    print(f"wrote {CHECKPOINT} ({os.path.getsize(CHECKPOINT):,} bytes, {sniff_format(CHECKPOINT)} layout)")
else:
    print("skipped: using", CHECKPOINT)
'''),
    ("markdown", """
## The new task and the pretrained model

The digits 5–9, `PER_CLASS` training images each, and all their test images.
The builder reads the checkpoint (`weights=`), converts it to keras_vit's
layers and reports what it loaded; the head, for 5 classes, is new.
"""),
    ("code", '''
if MAKE_CHECKPOINT:
    IMAGE_SIZE, PREPROCESSING = SOURCE_IMAGE_SIZE, "vit"
else:
    IMAGE_SIZE, PREPROCESSING = CHECKPOINT_IMAGE_SIZE, CHECKPOINT_PREPROCESSING
CLASSES = len(TARGET_DIGITS)
splits = load_digits(image_size=min(IMAGE_SIZE, 32), seed=SEED)  # make_dataset resizes larger
target_train = select(splits.train, TARGET_DIGITS, per_class=PER_CLASS)
target_test = select(splits.test, TARGET_DIGITS)
print(f"digits {TARGET_DIGITS}: {len(target_train[1])} training images, {len(target_test[1])} test images")


def dataset(data, training):
    augmentation = None
    if training:
        augmentation = keras_vit.augmentation.image_augmentation(
            crop_scale=(0.6, 1.0), flip=False, rand_augment_ops=0, erasing_probability=0.1, seed=SEED)
    return make_dataset(data, BATCH_SIZE if training else 256, CLASSES, training=training,
                        image_size=IMAGE_SIZE, preprocessing=PREPROCESSING, augmentation=augmentation, seed=SEED)


train, test = dataset(target_train, True), dataset(target_test, False)
steps_per_epoch = int(train.cardinality())


def build(weights):
    """The model for the new task, from `weights` (None: random initialisation)."""
    common = dict(input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), classes=CLASSES, classifier_activation=None,
                  drop_path_rate=0.1)
    if MAKE_CHECKPOINT:
        # Trained here with the exact GELU (Google-layout files would otherwise get the tanh form).
        return VisionTransformer(**SOURCE_ARCHITECTURE, weights=weights, approximate_gelu=False, **common)
    return keras_vit.vit(CHECKPOINT_MODEL, weights=weights, **common)


model = build(CHECKPOINT)
report = model.load_report
backbone_weights = [v.path for v in model.weights if not v.path.startswith("head/")]
print(f"{len(report.assigned)} of {len(backbone_weights)} encoder weights loaded from the {report.format} file")
'''),
    ("markdown", """
## Stage 1 then stage 2, in one `fit`

`freeze_backbone` leaves only the head trainable. The optimizer is
`create_layer_decay_adamw` at 3× the stage-2 rate; `UnfreezeCallback`
unfreezes the encoder at epoch `HEAD_EPOCHS` and sets the stage-2 rate (the
same as `keras_vit.training.unfreeze(model)` between two `fit` calls, which
works too). A small callback records how far the first transformer block moved
from the checkpoint: nothing during stage 1, something after.
"""),
    ("code", '''
import time

from keras_vit.training import UnfreezeCallback, create_layer_decay_adamw, freeze_backbone


def trainable_parameters(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


class BlockChange(keras.callbacks.Callback):
    """Logs `block_0_change`: the largest absolute change of transformer_block_0's weights
    since the start of training."""

    def on_train_begin(self, logs=None):
        self.start = [np.array(w) for w in self.model.get_layer("transformer_block_0").get_weights()]

    def on_epoch_end(self, epoch, logs=None):
        now = self.model.get_layer("transformer_block_0").get_weights()
        logs["block_0_change"] = max(float(np.max(np.abs(a - b))) for a, b in zip(now, self.start))


frozen = freeze_backbone(model)
head_only_parameters = trainable_parameters(model)
print(f"stage 1: {len(frozen)} layers frozen, {head_only_parameters:,} of {model.count_params():,} parameters train")
compile_model(model, create_layer_decay_adamw(model, 3 * LEARNING_RATE, layer_decay=LAYER_DECAY, weight_decay=0.05))
started = time.time()
history = model.fit(
    train, epochs=HEAD_EPOCHS + FINETUNE_EPOCHS, shuffle=False, verbose=2,
    callbacks=[
        UnfreezeCallback(epoch=HEAD_EPOCHS, learning_rate=LEARNING_RATE),
        BlockChange(),  # before CSVLogger, which then records its value
        keras.callbacks.CSVLogger(os.path.join(OUTPUT_DIR, "history.csv")),
    ],
)
fine_tune_seconds = time.time() - started
unfrozen_parameters = trainable_parameters(model)
test_accuracy = float(model.evaluate(test, verbose=0)[1])
print(f"stage 2: {unfrozen_parameters:,} parameters train; test accuracy {test_accuracy:.3f} "
      f"(chance {1 / CLASSES:.2f}) after {fine_tune_seconds:.0f} s")
'''),
    ("markdown", """
## For comparison: the same model from scratch (full setting)

The same architecture and epochs from a random initialisation, with the usual
warmup + cosine schedule: what the checkpoint is worth on so few images.
"""),
    ("code", '''
scratch_accuracy = None
if COMPARE_FROM_SCRATCH:
    epochs = HEAD_EPOCHS + FINETUNE_EPOCHS
    scratch = build(None)
    compile_model(scratch, create_adamw(
        WarmupCosine(2e-3, total_steps=epochs * steps_per_epoch, warmup_steps=min(5, epochs - 1) * steps_per_epoch,
                     initial_learning_rate=1e-6, final_learning_rate=1e-5), weight_decay=0.05))
    scratch.fit(train, epochs=epochs, shuffle=False, verbose=0)
    scratch_accuracy = float(scratch.evaluate(test, verbose=0)[1])
    print(f"from scratch: {scratch_accuracy:.3f}; fine-tuned from the checkpoint: {test_accuracy:.3f}")
else:
    print("skipped in the reduced setting (COMPARE_FROM_SCRATCH = False)")
'''),
    ("markdown", """
## Curves and results

Training loss and accuracy (on augmented images) per epoch, and the change of
the first block's weights; the dashed line marks the unfreezing.
"""),
    ("code", '''
logs = history.history
epochs = np.arange(1, len(logs["loss"]) + 1)
figure, axes = plt.subplots(1, 3, figsize=(13, 3.5))
for axis, key in zip(axes, ("loss", "accuracy", "block_0_change")):
    axis.plot(epochs, logs[key], marker="o")
    axis.axvline(HEAD_EPOCHS + 0.5, color="gray", linestyle="--", label="unfrozen")
    axis.set_title(key.replace("_", " "))
    axis.set_xlabel("epoch")
axes[0].legend()
figure.tight_layout()
figure.savefig(os.path.join(OUTPUT_DIR, "curves.png"), dpi=100)
plt.show()

results = {
    "notebook": "finetune",
    "small": SMALL,
    "backend": keras.backend.backend(),
    "checkpoint": CHECKPOINT,
    "checkpoint_source": CHECKPOINT_SOURCE,
    "checkpoint_format": report.format,
    "weights_loaded": len(report.assigned),
    "encoder_weights": len(backbone_weights),
    "source_test_accuracy": source_accuracy,
    "head_epochs": HEAD_EPOCHS,
    "finetune_epochs": FINETUNE_EPOCHS,
    "trainable_parameters_head_only": head_only_parameters,
    "trainable_parameters_unfrozen": unfrozen_parameters,
    "parameters": int(model.count_params()),
    "block_0_change": [float(value) for value in logs["block_0_change"]],
    "test_accuracy": test_accuracy,
    "from_scratch_test_accuracy": scratch_accuracy,
}
with open(os.path.join(OUTPUT_DIR, "results.json"), "x") as file:
    json.dump(results, file, indent=2)
print(json.dumps({k: v for k, v in results.items() if k != "block_0_change"}, indent=1))
print(f"files in {OUTPUT_DIR}: {sorted(os.listdir(OUTPUT_DIR))}")
'''),
]

# --------------------------------------------------------------------------
# distributed.ipynb
# --------------------------------------------------------------------------

DISTRIBUTED = [
    ("markdown", """
# Training on a TPU or several GPUs with `tf.distribute`

The same `fit` on one device or many, through TensorFlow's own engine:

- `keras_vit.distribute.auto_distribute()` picks the strategy: **TPUStrategy**
  when a TPU is attached (Kaggle's *TPU VM v3-8* / *v5e-8* are found on their
  own), **MirroredStrategy** with several GPUs (Kaggle's *GPU T4 x2*), else
  the **default strategy** (one GPU or the CPU);
- the model is built and compiled inside `strategy.scope()`;
- the `tf.data` pipeline is batched with the **global batch** = per-replica
  batch × replicas, every training batch full (static shapes, as TPUs need),
  and DeiT's rule scales the learning rate to that global batch.

On Kaggle: *Settings → Accelerator → TPU VM v3-8* (or *GPU T4 x2*), then run
all. The reduced setting (`KERAS_VIT_SMALL=1`) trains a tiny model for a few
epochs. No GPU at hand? `KERAS_VIT_CPU_DEVICES=2` splits the CPU into two
devices to try the MirroredStrategy path (slowly).

The data are the bundled digits, so that the notebook runs offline: they show
the mechanics, not what a TPU is for. For a real run, feed the same pipeline
from `keras_vit.data.load_tfds(...)` or `load_image_folder("/kaggle/input/...")`
(batched with `GLOBAL_BATCH_SIZE` in the same way), or use `keras-vit train
--strategy auto`.

This notebook needs the TensorFlow backend (on JAX, `keras_vit.distribute`
offers `data_parallel()` / `model_parallel()` with `keras.distribution`
instead).
"""),
    ("code", '''
import os

# tf.distribute strategies exist only on the TensorFlow backend. Keras reads KERAS_BACKEND
# once, when it is first imported, so it is set here, before any import of keras.
os.environ["KERAS_BACKEND"] = "tensorflow"
''' + SMALL_AND_WORKDIR + '''
# The digits are 1,797 images: a small per-replica batch keeps several steps per epoch even
# at 8 TPU cores (global batch 128). With a large data set, 64 to 128 per replica suits a TPU.
PER_REPLICA_BATCH_SIZE = 32 if SMALL else 16
IMAGE_SIZE = 16 if SMALL else 64
if SMALL:
    ARCHITECTURE = dict(patch_size=4, hidden_dim=32, num_layers=2, num_heads=2, mlp_dim=64)
else:  # ViT-S/16 (keras_vit.get_variant_config), on the digits upsampled to 64x64: 4x4 patches
    ARCHITECTURE = "S/16"
EPOCHS = 6 if SMALL else 30
WARMUP_EPOCHS = 1 if SMALL else 5
# Per 512 images: DeiT's rule scales it to the global batch (x 128/512 on an 8-core TPU, x 32/512
# for the reduced setting's single CPU replica). Tiny models take large rates.
BASE_LEARNING_RATE = 0.04 if SMALL else 2e-3
# No accelerator: split the CPU into this many devices and use MirroredStrategy (0: one device).
CPU_DEVICES = int(os.environ.get("KERAS_VIT_CPU_DEVICES", "0"))
'''),
    ("markdown", SETUP_MARKDOWN),
    ("code", setup_cell("distributed", '''
if keras.backend.backend() != "tensorflow":
    raise RuntimeError(
        f"Keras was imported with the {keras.backend.backend()} backend before the first cell ran: "
        "restart the kernel and run the notebook from the top."
    )
import tensorflow as tf
''') + '''
%matplotlib inline
import matplotlib.pyplot as plt
'''),
    ("markdown", """
## The strategy

`auto_distribute` tells why it chose what it chose. A TPU is initialised once
per kernel: to run this cell again, restart the kernel.
"""),
    ("code", '''
from keras_vit import distribute

if CPU_DEVICES > 1 and not ACCELERATORS and not TPU_ATTACHED:
    # MirroredStrategy over the CPU split into devices (done before TensorFlow starts them).
    setup = distribute.auto_distribute("mirrored", cpu_devices=CPU_DEVICES)
else:
    setup = distribute.auto_distribute()  # a TPU, a TF_CONFIG cluster, several GPUs, or one device
strategy, STRATEGY_NAME = setup.strategy, setup.name
REPLICAS = setup.replicas
GLOBAL_BATCH_SIZE = PER_REPLICA_BATCH_SIZE * REPLICAS
print(f"{type(strategy).__name__}: {REPLICAS} replica(s); global batch {GLOBAL_BATCH_SIZE} "
      f"= {PER_REPLICA_BATCH_SIZE} per replica x {REPLICAS}")

# The TPU computes in bfloat16; T4/P100 GPUs in float16 (with loss scaling); the CPU in float32.
if STRATEGY_NAME == "tpu":
    PRECISION, STEPS_PER_EXECUTION = "mixed_bfloat16", 32  # 32 steps per call from Python
elif any(name.startswith("GPU") for name in ACCELERATORS):
    PRECISION, STEPS_PER_EXECUTION = "mixed_float16", 1
else:
    PRECISION, STEPS_PER_EXECUTION = "float32", 1
print(f"precision {PRECISION}, steps per execution {STEPS_PER_EXECUTION}")
'''),
    ("markdown", """
## Data with the global batch

`make_dataset` batches with the global batch and drops the last incomplete
training batch (on a TPU, the last evaluation batch too); `fit` splits each
batch between the replicas. Augmentation runs inside `tf.data` on the host.
"""),
    ("code", '''
from keras_vit.augmentation import image_augmentation, label_mixing
from keras_vit.data import load_digits, make_dataset

keras.utils.set_random_seed(SEED)
splits = load_digits(image_size=min(IMAGE_SIZE, 32), seed=SEED)  # make_dataset resizes larger
NUM_CLASSES = len(splits.class_names)
augmentation = mixing = None
if not SMALL:
    augmentation = image_augmentation(crop_scale=(0.6, 1.0), flip=False, rand_augment_ops=0,
                                      erasing_probability=0.1, seed=SEED)
    mixing = label_mixing(mixup_alpha=0.2, cutmix_alpha=0.0, seed=SEED)
train = make_dataset(splits.train, GLOBAL_BATCH_SIZE, NUM_CLASSES, training=True, image_size=IMAGE_SIZE,
                     augmentation=augmentation, mixing=mixing, seed=SEED)
# A TPU compiles for one batch shape: there evaluation also drops the last incomplete batch.
STATIC_SHAPES = STRATEGY_NAME == "tpu"
validation = make_dataset(splits.validation, GLOBAL_BATCH_SIZE, NUM_CLASSES, image_size=IMAGE_SIZE,
                          drop_remainder=STATIC_SHAPES)
test = make_dataset(splits.test, GLOBAL_BATCH_SIZE, NUM_CLASSES, image_size=IMAGE_SIZE, drop_remainder=STATIC_SHAPES)
steps_per_epoch = int(train.cardinality())
print(f"{steps_per_epoch} steps of {GLOBAL_BATCH_SIZE} images per epoch")
'''),
    ("markdown", """
## Model and optimizer inside `strategy.scope()`

Variables created in the scope are mirrored on every replica (or placed on
the TPU) and kept in sync. The learning rate follows DeiT:
`base × global batch / 512`, warmup then cosine (`scale_learning_rate`,
`WarmupCosine`).
"""),
    ("code", '''
from keras_vit import VisionTransformer, get_variant_config
from keras_vit.training import ThroughputMeter, WarmupCosine, create_adamw, precision_policy, scale_learning_rate

sizes = get_variant_config(ARCHITECTURE) if isinstance(ARCHITECTURE, str) else ARCHITECTURE
schedule = scale_learning_rate(
    WarmupCosine(BASE_LEARNING_RATE, total_steps=EPOCHS * steps_per_epoch,
                 warmup_steps=WARMUP_EPOCHS * steps_per_epoch, final_learning_rate=1e-5),
    GLOBAL_BATCH_SIZE,
)
with strategy.scope():
    model = VisionTransformer(**sizes, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), classes=NUM_CLASSES,
                              classifier_activation=None, drop_path_rate=0.0 if SMALL else 0.1,
                              dtype=precision_policy(PRECISION))
    # The schedule goes into the optimizer, which evaluates it at every step inside the compiled
    # function: a per-batch callback (WarmupCosineScheduler) would run only once per
    # STEPS_PER_EXECUTION steps on the TPU.
    model.compile(
        optimizer=create_adamw(learning_rate=schedule, weight_decay=0.05),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
print(f"{model.count_params():,} parameters; peak learning rate {schedule.peak_learning_rate:.3g} "
      f"for the global batch of {GLOBAL_BATCH_SIZE}")
'''),
    ("markdown", """
## Training

Nothing distribution-specific here: `fit` runs each step on every replica and
reduces the gradients. `ThroughputMeter` logs training images per second.
"""),
    ("code", '''
import time

meter = ThroughputMeter(GLOBAL_BATCH_SIZE)
started = time.time()
history = model.fit(
    train, validation_data=validation, epochs=EPOCHS, shuffle=False, verbose=2,
    callbacks=[meter],
)
training_seconds = time.time() - started
test_loss, test_accuracy = model.evaluate(test, verbose=0)
print(f"test accuracy {test_accuracy:.4f} (chance {1 / NUM_CLASSES:.2f}); "
      f"{meter.steady_images_per_second() or 0:,.0f} images/s after the first epoch")
'''),
    ("markdown", """
## Results

With several machines (`TF_CONFIG`), only the chief writes files.
"""),
    ("code", '''
logs = history.history
epochs = np.arange(1, len(logs["loss"]) + 1)
figure, axes = plt.subplots(1, 3, figsize=(13, 3.5))
for axis, (key, title) in zip(axes, (("loss", "loss"), ("accuracy", "accuracy"), ("images_per_second", "images/s"))):
    axis.plot(epochs, logs[key], label="train")
    if f"val_{key}" in logs:
        axis.plot(epochs, logs[f"val_{key}"], label="validation")
    axis.set_title(title)
    axis.set_xlabel("epoch")
axes[0].legend()
figure.tight_layout()

if setup.is_chief:
    figure.savefig(os.path.join(OUTPUT_DIR, "curves.png"), dpi=100)
    model.save(os.path.join(OUTPUT_DIR, "model.keras"))
    results = {
        "notebook": "distributed",
        "small": SMALL,
        "strategy": STRATEGY_NAME,
        "strategy_class": type(strategy).__name__,
        "replicas": REPLICAS,
        "per_replica_batch_size": PER_REPLICA_BATCH_SIZE,
        "global_batch_size": GLOBAL_BATCH_SIZE,
        "steps_per_epoch": steps_per_epoch,
        "precision": PRECISION,
        "peak_learning_rate": float(schedule.peak_learning_rate),
        "parameters": int(model.count_params()),
        "epochs": EPOCHS,
        "test_accuracy": float(test_accuracy),
        "images_per_second": meter.steady_images_per_second(),
        "training_seconds": training_seconds,
    }
    with open(os.path.join(OUTPUT_DIR, "results.json"), "x") as file:
        json.dump(results, file, indent=2)
    print(f"files in {OUTPUT_DIR}: {sorted(os.listdir(OUTPUT_DIR))}")
plt.show()
'''),
]

# --------------------------------------------------------------------------
# attention_maps.ipynb
# --------------------------------------------------------------------------

ATTENTION = [
    ("markdown", """
# What a ViT looks at: attention maps and attention rollout

A small Vision Transformer is trained on the bundled digits (or a trained one
is loaded), then

- `keras_vit.visualization.attention_maps` returns every block's attention
  probabilities for a few test images (the model's own layers and weights, in
  inference mode, on any backend);
- `attention_rollout` (Abnar & Zuidema, 2020) multiplies them through the
  blocks, adding the residual path, into one map of how much the class token
  draws on each patch;
- `overlay_attention` blends a map over its image.

With 4-pixel patches on 32×32 digits (full setting) each patch is one pixel
of the original 8×8 image. The reduced setting (`KERAS_VIT_SMALL=1`) uses
16×16 images and a tiny model trained for a few epochs: its maps are coarse.
"""),
    ("code", ANY_BACKEND + SMALL_AND_WORKDIR + '''
# A trained model to look at instead of training one: a .keras file for 3-channel digits, e.g. the
# best.keras that quickstart.ipynb writes (on Kaggle, attach it as a dataset). Empty: train here.
MODEL_PATH = os.environ.get("MODEL_PATH", "")
IMAGE_SIZE = 16 if SMALL else 32
if SMALL:
    ARCHITECTURE = dict(patch_size=4, hidden_dim=32, num_layers=2, num_heads=2, mlp_dim=64)
else:
    ARCHITECTURE = dict(patch_size=4, hidden_dim=48, num_layers=3, num_heads=3, mlp_dim=96)
EPOCHS = 12 if SMALL else 40
NUM_IMAGES = 4 if SMALL else 8  # test images to show, one per digit 0, 1, ...
HEAD_FUSION = "mean"  # how rollout fuses the heads: "mean", "max" or "min"
DISCARD_RATIO = 0.0  # share of each row's smallest attention weights dropped before rollout
'''),
    ("markdown", SETUP_MARKDOWN),
    ("code", setup_cell("attention_maps", TPU_HINT) + '''
%matplotlib inline
import matplotlib.pyplot as plt
'''),
    ("markdown", """
## A trained model

Loaded from `MODEL_PATH`, or trained here: AdamW with a warmup + cosine
schedule, plain `fit` on NumPy arrays scaled by `preprocess_input`.
"""),
    ("code", '''
from keras_vit import VisionTransformer, preprocess_input
from keras_vit.data import load_digits
from keras_vit.training import WarmupCosine, create_adamw

keras.utils.set_random_seed(SEED)
if MODEL_PATH:
    model = keras.models.load_model(MODEL_PATH, compile=False)
    IMAGE_SIZE = model.input_shape[1]
    print(f"loaded {MODEL_PATH}: {model.count_params():,} parameters, {IMAGE_SIZE}x{IMAGE_SIZE} images")
splits = load_digits(image_size=IMAGE_SIZE, seed=SEED)
(x_train, y_train), (x_val, y_val), (x_test, y_test) = splits
if not MODEL_PATH:
    model = VisionTransformer(**ARCHITECTURE, input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), classes=10,
                              classifier_activation=None)
    batch_size = 64
    steps = EPOCHS * -(-len(y_train) // batch_size)
    model.compile(
        optimizer=create_adamw(WarmupCosine(4e-3 if SMALL else 3e-3, total_steps=steps, warmup_steps=steps // 10,
                                            final_learning_rate=1e-5), weight_decay=0.05),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(preprocess_input(x_train), y_train, batch_size=batch_size, epochs=EPOCHS,
              validation_data=(preprocess_input(x_val), y_val), verbose=2)
    model.save(os.path.join(OUTPUT_DIR, "model.keras"))
logits = model.predict(preprocess_input(x_test), batch_size=256, verbose=0)
test_accuracy = float(np.mean(np.argmax(logits, axis=-1) == y_test))
print(f"test accuracy {test_accuracy:.4f} (chance 0.10)")
'''),
    ("markdown", """
## Attention maps

One array per block, `(images, heads, tokens, tokens)`: token 0 is the class
token, then the patches row by row. Each row is a softmax (it sums to 1).
"""),
    ("code", '''
from keras_vit.visualization import attention_maps, attention_rollout, overlay_attention

chosen = [int(np.flatnonzero(y_test == digit)[0]) for digit in range(NUM_IMAGES)]  # the first test 0, 1, ...
images = x_test[chosen]
maps = attention_maps(model, preprocess_input(images))
prefix, grid = model.num_prefix_tokens, tuple(model.grid_size)
for block, array in maps.items():
    print(f"block {block}: {array.shape}; rows sum to 1 within {np.max(np.abs(array.sum(-1) - 1)):.1e}")

rollout = attention_rollout(maps, head_fusion=HEAD_FUSION, discard_ratio=DISCARD_RATIO,
                            num_prefix_tokens=prefix, grid_size=grid)
last_block = max(maps)
# The class token's attention over the patches in the last block, per head and head-averaged.
class_attention = maps[last_block][:, :, 0, prefix:].reshape((len(images), -1) + grid)
print(f"rollout: {rollout.shape} (images, grid rows, grid columns)")
'''),
    ("markdown", """
## Overlays

Per image: the digit, the rollout over all blocks, and the last block's
class-token attention (mean over the heads), then each head of that block.
"""),
    ("code", '''
num_heads = class_attention.shape[1]
columns = 3 + num_heads
figure, axes = plt.subplots(len(images), columns, figsize=(2 * columns, 2.1 * len(images)), squeeze=False)
titles = ["digit", f"rollout ({HEAD_FUSION})", f"block {last_block}, mean"] + [f"head {h}" for h in range(num_heads)]
for row, index in enumerate(chosen):
    panels = [images[row].astype("uint8"), overlay_attention(images[row], rollout[row]),
              overlay_attention(images[row], class_attention[row].mean(axis=0))]
    panels += [overlay_attention(images[row], class_attention[row, head]) for head in range(num_heads)]
    for column, panel in enumerate(panels):
        axis = axes[row, column]
        axis.imshow(panel)
        axis.set_xticks([])
        axis.set_yticks([])
        if row == 0:
            axis.set_title(titles[column], fontsize=9)
    axes[row, 0].set_ylabel(f"{y_test[index]}, predicted {np.argmax(logits[index])}", fontsize=9)
figure.tight_layout()
figure.savefig(os.path.join(OUTPUT_DIR, "attention_maps.png"), dpi=100)
plt.show()
'''),
    ("markdown", """
## How much of the rollout falls on the strokes?

The share of each image's rollout on patches covered by the digit's strokes
(mean pixel above half intensity), against the share of patches the strokes
cover: a model that looks at the digit puts more than that share there. The
arrays and the numbers are saved for later use.
"""),
    ("code", '''
patch = ARCHITECTURE["patch_size"] if not MODEL_PATH else IMAGE_SIZE // grid[0]
strokes = images[..., 0].reshape(len(images), grid[0], patch, grid[1], patch).mean(axis=(2, 4)) > 127.5
on_strokes = (rollout * strokes).sum(axis=(1, 2)) / rollout.sum(axis=(1, 2))
print(f"rollout on stroke patches: {np.mean(on_strokes):.2f}; strokes cover {np.mean(strokes):.2f} of the patches")

np.savez(os.path.join(OUTPUT_DIR, "attention_maps.npz"), images=images, labels=y_test[chosen], rollout=rollout,
         **{f"block_{block}": array for block, array in maps.items()})
results = {
    "notebook": "attention_maps",
    "small": SMALL,
    "backend": keras.backend.backend(),
    "model": MODEL_PATH or "trained here",
    "test_accuracy": test_accuracy,
    "grid_size": list(grid),
    "num_images": len(images),
    "rollout_on_strokes": float(np.mean(on_strokes)),
    "stroke_fraction": float(np.mean(strokes)),
}
with open(os.path.join(OUTPUT_DIR, "results.json"), "x") as file:
    json.dump(results, file, indent=2)
print(f"files in {OUTPUT_DIR}: {sorted(os.listdir(OUTPUT_DIR))}")
'''),
]

NOTEBOOKS = {
    "quickstart.ipynb": QUICKSTART,
    "finetune.ipynb": FINETUNE,
    "distributed.ipynb": DISTRIBUTED,
    "attention_maps.ipynb": ATTENTION,
}


def build(name, cells):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    stem = name.split(".")[0].replace("_", "-")
    for index, (kind, source) in enumerate(cells):
        source = textwrap.dedent(source).strip("\n")
        cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
        cell.id = f"{stem}-{index:02d}"  # stable ids: the files change only when a cell does
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return nbformat.writes(notebook) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if a notebook differs")
    args = parser.parse_args(argv)
    stale = []
    for name, cells in NOTEBOOKS.items():
        path = os.path.join(HERE, name)
        text = build(name, cells)
        current = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            with open(path, "w", encoding="utf-8") as file:
                file.write(text)
            print(f"wrote {path}")
    if args.check and stale:
        print(f"out of date with {os.path.basename(__file__)}: {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
