"""Named pretrained checkpoints and how to fetch them.

Each preset names one published file: where it is downloaded from, its
SHA-256 (checked by `keras.utils.get_file` when pinned), the architecture and
resolution it was trained at, the number of classes of its head and the
input scaling it expects. Files are cached in the Keras cache
(`~/.keras/models/keras_vit/`, or under `$KERAS_HOME`), or read from a
local directory for offline machines and Kaggle datasets.

Hashes: a preset's `sha256` is None until it has been pinned from a
download (this release was prepared on a machine without access to the
Hugging Face Hub or Google Cloud Storage). An unpinned download is accepted
and its SHA-256 printed so it can be pinned; pass `file_hash=` to check one
yourself.
"""

import dataclasses
import hashlib
import os
import pathlib

import keras

_HF = "https://huggingface.co/timm/{name}/resolve/main/model.safetensors"
_AUGREG = "https://storage.googleapis.com/vit_models/augreg/{file}.npz"


@dataclasses.dataclass(frozen=True)
class Preset:
    """One pretrained checkpoint.

    Attributes:
        name: str. The preset name (timm's `model.tag` naming).
        url: str. Download address.
        filename: str. Name of the file in the cache or a local directory.
        variant: str. `"tiny"`, `"small"`, `"base"`, `"large"` or `"huge"`.
        patch_size: int.
        image_size: int. Training resolution.
        classes: int or None. Classes of the checkpoint's head (None: no
            head in the file).
        preprocessing: str. `keras_vit.preprocess_input` mode the weights
            expect (`"vit"`: `[-1, 1]`; `"imagenet"`: mean/std).
        approximate_gelu: bool. GELU form the checkpoint's layout implies
            for this library (see `keras_vit.checkpoints`).
        sha256: str or None. Expected SHA-256 of the file, None if not yet
            pinned.
        description: str.
    """

    name: str
    url: str
    filename: str
    variant: str
    patch_size: int
    image_size: int
    classes: int | None
    preprocessing: str
    approximate_gelu: bool
    sha256: str | None = None
    description: str = ""


def _timm(name, variant, patch, size, classes, description, preprocessing="vit"):
    return Preset(name, _HF.format(name=name), f"{name}.safetensors", variant, patch, size,
                  classes, preprocessing, False, None, description)


def _augreg(name, file, variant, patch, size, classes, description):
    return Preset(name, _AUGREG.format(file=file), f"{file}.npz", variant, patch, size,
                  classes, "vit", True, None, description)


_IN1K = "AugReg: ImageNet-21k pretraining, ImageNet-1k fine-tuning (Steiner et al. 2021)"
_IN21K = "AugReg: ImageNet-21k pretraining only (21843-class head)"
PRESETS = {
    p.name: p
    for p in [
        _timm("vit_tiny_patch16_224.augreg_in21k_ft_in1k", "tiny", 16, 224, 1000, _IN1K),
        _timm("vit_tiny_patch16_384.augreg_in21k_ft_in1k", "tiny", 16, 384, 1000, _IN1K),
        _timm("vit_small_patch16_224.augreg_in21k_ft_in1k", "small", 16, 224, 1000, _IN1K),
        _timm("vit_small_patch16_384.augreg_in21k_ft_in1k", "small", 16, 384, 1000, _IN1K),
        _timm("vit_small_patch32_224.augreg_in21k_ft_in1k", "small", 32, 224, 1000, _IN1K),
        _timm("vit_base_patch16_224.augreg2_in21k_ft_in1k", "base", 16, 224, 1000,
              "AugReg ImageNet-21k pretraining, ImageNet-1k fine-tuned again by timm (augreg2)"),
        _timm("vit_base_patch16_224.augreg_in21k_ft_in1k", "base", 16, 224, 1000, _IN1K),
        _timm("vit_base_patch16_384.augreg_in21k_ft_in1k", "base", 16, 384, 1000, _IN1K),
        _timm("vit_base_patch32_224.augreg_in21k_ft_in1k", "base", 32, 224, 1000, _IN1K),
        _timm("vit_base_patch8_224.augreg_in21k_ft_in1k", "base", 8, 224, 1000, _IN1K),
        _timm("vit_large_patch16_224.augreg_in21k_ft_in1k", "large", 16, 224, 1000, _IN1K),
        _timm("vit_large_patch16_384.augreg_in21k_ft_in1k", "large", 16, 384, 1000, _IN1K),
        _timm("vit_tiny_patch16_224.augreg_in21k", "tiny", 16, 224, 21843, _IN21K),
        _timm("vit_small_patch16_224.augreg_in21k", "small", 16, 224, 21843, _IN21K),
        _timm("vit_base_patch16_224.augreg_in21k", "base", 16, 224, 21843, _IN21K),
        _timm("vit_large_patch16_224.augreg_in21k", "large", 16, 224, 21843, _IN21K),
        _timm("vit_huge_patch14_224.orig_in21k", "huge", 14, 224, None,
              "Original ViT-H/14, ImageNet-21k pretraining (Dosovitskiy et al. 2021); no head"),
        _timm("deit_tiny_patch16_224.fb_in1k", "tiny", 16, 224, 1000,
              "DeiT-Ti, ImageNet-1k from scratch (Touvron et al. 2021)", "imagenet"),
        _timm("deit_small_patch16_224.fb_in1k", "small", 16, 224, 1000,
              "DeiT-S, ImageNet-1k from scratch (Touvron et al. 2021)", "imagenet"),
        _timm("deit_base_patch16_224.fb_in1k", "base", 16, 224, 1000,
              "DeiT-B, ImageNet-1k from scratch (Touvron et al. 2021)", "imagenet"),
        _augreg("augreg_ti16_224_in21k_ft_in1k",
                "Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224",
                "tiny", 16, 224, 1000, _IN1K + ", original .npz"),
        _augreg("augreg_s16_224_in21k_ft_in1k",
                "S_16-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224",
                "small", 16, 224, 1000, _IN1K + ", original .npz"),
        _augreg("augreg_b16_224_in21k_ft_in1k",
                "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.01-res_224",
                "base", 16, 224, 1000, _IN1K + ", original .npz"),
        _augreg("augreg_b16_384_in21k_ft_in1k",
                "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.01-res_384",
                "base", 16, 384, 1000, _IN1K + ", original .npz"),
        _augreg("augreg_b16_224_in21k",
                "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0",
                "base", 16, 224, 21843, _IN21K + ", original .npz"),
        _augreg("augreg_l16_224_in21k_ft_in1k",
                "L_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.1-sd_0.1--imagenet2012-steps_20k-lr_0.01-res_224",
                "large", 16, 224, 1000, _IN1K + ", original .npz"),
    ]
}


def list_presets():
    """Names of the available presets, sorted.

    Example:
    >>> "vit_base_patch16_224.augreg2_in21k_ft_in1k" in list_presets()
    True
    """
    return sorted(PRESETS)


def get_preset(name):
    """Returns the `Preset` called `name`; ValueError listing the names otherwise."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Available presets: {', '.join(list_presets())}")
    return PRESETS[name]


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_preset(name, local_dir=None, cache_dir=None, file_hash=None):
    """Returns a local path to a preset's file, downloading it if needed.

    Looks first in `local_dir` (or `$KERAS_VIT_WEIGHTS_DIR`) for the
    preset's `filename`, then downloads through `keras.utils.get_file` into
    the Keras cache (`<cache_dir or ~/.keras>/models/keras_vit/`), which
    verifies the SHA-256 when one is known and skips the download when a
    verified copy is already there.

    Args:
        name: str. A preset name (see `list_presets()`).
        local_dir: str or None. A directory holding the file (e.g. an
            attached Kaggle dataset); nothing is downloaded if it is found.
        cache_dir: str or None. Keras cache root; defaults to `~/.keras`.
        file_hash: str or None. Expected SHA-256, overriding the preset's.

    Returns:
        str. Path of the checkpoint file.

    Raises:
        ValueError: unknown preset, or a hash mismatch.
        OSError: the download failed; the message says which file to put
            where to work offline.
    """
    preset = get_preset(name)
    expected = file_hash or preset.sha256
    local_dir = local_dir or os.environ.get("KERAS_VIT_WEIGHTS_DIR")
    if local_dir is not None:
        candidate = pathlib.Path(local_dir) / preset.filename
        if candidate.is_file():
            if expected is not None and _sha256(candidate) != expected:
                raise ValueError(
                    f"{candidate} does not have the SHA-256 of preset {name!r} ({expected}); "
                    "the file is corrupt or a different checkpoint."
                )
            return str(candidate)
    if cache_dir is not None:
        # get_file falls back to /tmp/.keras when the directory is missing.
        os.makedirs(cache_dir, exist_ok=True)
    try:
        path = keras.utils.get_file(
            fname=preset.filename,
            origin=preset.url,
            file_hash=expected,
            hash_algorithm="sha256",
            cache_dir=cache_dir,
            cache_subdir="models/keras_vit",
        )
    except Exception as error:  # noqa: BLE001 - re-raised with the offline recipe
        if isinstance(error, ValueError) and "hash" in str(error).lower():
            raise
        where = os.path.join(cache_dir or os.path.join(os.path.expanduser("~"), ".keras"),
                             "models", "keras_vit", preset.filename)
        raise OSError(
            f"Could not download preset {name!r} from {preset.url} ({error}). To work offline, "
            f"download that file elsewhere and put it at {where}, or in a directory passed as "
            f"`local_dir=` (or $KERAS_VIT_WEIGHTS_DIR) under the name {preset.filename!r}."
        ) from error
    if expected is None:
        print(f"keras_vit: preset {name!r} has no pinned SHA-256; the downloaded file's is "
              f"{_sha256(path)} (pass file_hash= to check it next time).")
    return path
