"""Named pretrained checkpoints and how to fetch them.

Each preset names one published file: where it is downloaded from, its
SHA-256 (checked when pinned), the timm architecture it belongs to, its
model family and weight layout, the resolution it was trained at, the
number of classes of its head and the input scaling it expects
(`list_presets(family=...)` lists one family). Files are cached in the
Keras cache, `<root>/models/keras_vit/` where `<root>` is `cache_dir=`, else
`$KERAS_HOME`, else `~/.keras` (`/tmp/.keras` when that is not writable, as
for `keras.utils.get_file`), or read from a local directory for offline
machines and Kaggle datasets.

Downloads use `urllib` with a timeout on connecting and on each read
(`fetch_preset(timeout=)`, else `$KERAS_VIT_DOWNLOAD_TIMEOUT`, else 60 s),
so a server that stops answering raises `TimeoutError` instead of hanging.
A download is written to a temporary name in the cache directory and moved
to its final name only when complete (its size matches the server's
`Content-Length`, its SHA-256 the pinned one), so an interrupted or
truncated download never lands in the cache.

Hashes: a preset's `sha256` is None until it is pinned from a download of
the published file (no preset of this version has a pinned hash yet). An
unpinned download is accepted and its SHA-256 printed so it can be pinned;
pass `file_hash=` to check one yourself.
"""

import contextlib
import dataclasses
import hashlib
import http.client
import math
import numbers
import os
import pathlib
import re
import sys
import tempfile
import time
import urllib.error
import urllib.request

from keras_vit import _files

_HF = "https://huggingface.co/timm/{name}/resolve/main/model.safetensors"
_AUGREG = "https://storage.googleapis.com/vit_models/augreg/{file}.npz"

# Model families, as `Preset.family` and `list_presets(family=)` name them.
FAMILIES = ("vit", "deit", "deit_distilled", "deit3", "dinov2", "clip", "siglip")
# Weight layouts of the published files (see keras_vit.checkpoints.registry).
LAYOUTS = ("timm", "google")


@dataclasses.dataclass(frozen=True)
class Preset:
    """One pretrained checkpoint.

    The architecture is named as timm names it (`vit_base_patch16_224`,
    `deit_small_distilled_patch16_224`, `vit_base_patch16_clip_quickgelu_224`,
    ...); `keras_vit.vit(preset.architecture)` builds it, and
    `keras_vit.from_preset` does so and loads the file.

    Attributes:
        name: str. The preset name (timm's `architecture.tag` naming).
        url: str. Download address.
        filename: str. Name of the file in the cache or a local directory.
        architecture: str. timm architecture name the file belongs to (the
            preset name before the dot for the timm files).
        family: str. One of `FAMILIES`: `"vit"` (original ViT and AugReg),
            `"deit"`, `"deit_distilled"`, `"deit3"`, `"dinov2"`, `"clip"`,
            `"siglip"`.
        layout: str. Weight layout of the file: `"timm"` (Hugging Face
            `.safetensors`) or `"google"` (original `.npz`).
        variant: str. Width/depth of the encoder: `"tiny"`, `"small"`,
            `"base"`, `"large"` or `"huge"` (the `keras_vit.models.VARIANTS`
            row), read from the architecture name.
        patch_size: int. Side of the square patches, read from the
            architecture name.
        image_size: int. Training resolution.
        classes: int or None. Output width of the checkpoint's head (the
            image-text projection for CLIP); None: no head in the file.
        preprocessing: str. `keras_vit.preprocess_input` mode the weights
            expect: `"vit"` (`[-1, 1]`), `"imagenet"` or `"clip"` (mean/std
            scaling) or `"siglip"` (`[-1, 1]`).
        sha256: str or None. Expected SHA-256 of the file, None if not yet
            pinned.
        description: str.

    Example:
    >>> preset = get_preset("deit_small_distilled_patch16_224.fb_in1k")
    >>> preset.architecture, preset.family, preset.variant, preset.patch_size
    ('deit_small_distilled_patch16_224', 'deit_distilled', 'small', 16)
    """

    name: str
    url: str
    filename: str
    architecture: str
    family: str
    layout: str
    variant: str
    patch_size: int
    image_size: int
    classes: int | None
    preprocessing: str
    sha256: str | None = None
    description: str = ""

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"`family` must be one of {FAMILIES}. Received: family={self.family!r}")
        if self.layout not in LAYOUTS:
            raise ValueError(f"`layout` must be one of {LAYOUTS}. Received: layout={self.layout!r}")

    @property
    def approximate_gelu(self):
        """bool. Whether the file's layout implies tanh-approximated GELU.

        Read from the layout registry (`keras_vit.checkpoints.registry`):
        True for the Google `.npz` files, False for timm's. The activation
        of the model itself is set by `architecture` (e.g. CLIP's
        QuickGELU), not by this flag.

        Example:
        >>> get_preset("augreg_b16_224_in21k_ft_in1k").approximate_gelu
        True
        >>> get_preset("vit_base_patch16_clip_quickgelu_224.openai").approximate_gelu
        False
        """
        from keras_vit.checkpoints.registry import get_layout

        return get_layout(self.layout).approximate_gelu


# Variant and patch size, from a timm architecture name such as
# vit_base_patch14_reg4_dinov2 or deit_tiny_distilled_patch16_224.
_ARCHITECTURE = re.compile(
    r"^(?:vit|deit|deit3)_(?P<variant>tiny|small|base|large|huge)(?:_distilled)?_patch(?P<patch>\d+)(?:_|$)"
)
_SIZE = re.compile(r"_(\d+)$")  # the resolution that ends most names


def _parse_architecture(architecture):
    match = _ARCHITECTURE.match(architecture)
    if match is None:
        raise ValueError(f"Not a timm ViT architecture name: {architecture!r}")
    size = _SIZE.search(architecture)
    return match["variant"], int(match["patch"]), int(size[1]) if size else None


def _row(name, url, filename, architecture, family, layout, size, classes, preprocessing, description):
    variant, patch, named_size = _parse_architecture(architecture)
    return Preset(name=name, url=url, filename=filename, architecture=architecture, family=family,
                  layout=layout, variant=variant, patch_size=patch, image_size=size or named_size,
                  classes=classes, preprocessing=preprocessing, description=description)


def _timm(name, family, classes, description, preprocessing="vit", size=None, repository=None):
    """A timm Hugging Face file; `repository` when timm's `hf_hub_id` is not the
    preset name, `size` when the architecture name carries none."""
    return _row(name, _HF.format(name=repository or name), f"{name}.safetensors",
                name.partition(".")[0], family, "timm", size, classes, preprocessing, description)


def _google(name, file, architecture, classes, description):
    """An original Google/AugReg `.npz` file."""
    return _row(name, _AUGREG.format(file=file), f"{file}.npz", architecture, "vit", "google", None,
                classes, "vit", description)


_IN1K = "AugReg: ImageNet-21k pretraining, ImageNet-1k fine-tuning (Steiner et al. 2021)"
_IN21K = "AugReg: ImageNet-21k pretraining only (21843-class head)"
_DINOV2 = "DINOv2 ViT-{}/14, self-supervised on LVD-142M (Oquab et al. 2023); no head"
_DINOV2_REG = ("DINOv2 ViT-{}/14 with 4 register tokens (Darcet et al. 2024), self-supervised on "
               "LVD-142M; no head")
_CLIP = ("CLIP ViT-{} image tower, OpenAI WIT-400M (Radford et al. 2021), QuickGELU; the head is "
         "the {}-d image-text projection")
_DEIT_DISTILLED = ("DeiT-{} distilled: class and distillation tokens, two heads averaged; ImageNet-1k "
                   "(Touvron et al. 2021)")
_DEIT3 = "DeiT-III-{}, ImageNet-1k from scratch, LayerScale (Touvron et al. 2022)"
PRESETS = {
    p.name: p
    for p in [
        _timm("vit_tiny_patch16_224.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_tiny_patch16_384.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_small_patch16_224.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_small_patch16_384.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_small_patch32_224.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_base_patch16_224.augreg2_in21k_ft_in1k", "vit", 1000,
              "AugReg ImageNet-21k pretraining, ImageNet-1k fine-tuned again by timm (augreg2)"),
        _timm("vit_base_patch16_224.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_base_patch16_384.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_base_patch32_224.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_base_patch8_224.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_large_patch16_224.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_large_patch16_384.augreg_in21k_ft_in1k", "vit", 1000, _IN1K),
        _timm("vit_tiny_patch16_224.augreg_in21k", "vit", 21843, _IN21K),
        _timm("vit_small_patch16_224.augreg_in21k", "vit", 21843, _IN21K),
        _timm("vit_base_patch16_224.augreg_in21k", "vit", 21843, _IN21K),
        _timm("vit_large_patch16_224.augreg_in21k", "vit", 21843, _IN21K),
        _timm("vit_huge_patch14_224.orig_in21k", "vit", None,
              "Original ViT-H/14, ImageNet-21k pretraining (Dosovitskiy et al. 2021); no head"),
        _timm("deit_tiny_patch16_224.fb_in1k", "deit", 1000,
              "DeiT-Ti, ImageNet-1k from scratch (Touvron et al. 2021)", "imagenet"),
        _timm("deit_small_patch16_224.fb_in1k", "deit", 1000,
              "DeiT-S, ImageNet-1k from scratch (Touvron et al. 2021)", "imagenet"),
        _timm("deit_base_patch16_224.fb_in1k", "deit", 1000,
              "DeiT-B, ImageNet-1k from scratch (Touvron et al. 2021)", "imagenet"),
        _timm("deit_tiny_distilled_patch16_224.fb_in1k", "deit_distilled", 1000, _DEIT_DISTILLED.format("Ti"),
              "imagenet"),
        _timm("deit_small_distilled_patch16_224.fb_in1k", "deit_distilled", 1000, _DEIT_DISTILLED.format("S"),
              "imagenet"),
        _timm("deit_base_distilled_patch16_224.fb_in1k", "deit_distilled", 1000, _DEIT_DISTILLED.format("B"),
              "imagenet"),
        _timm("deit3_small_patch16_224.fb_in1k", "deit3", 1000, _DEIT3.format("S"), "imagenet"),
        _timm("deit3_base_patch16_224.fb_in1k", "deit3", 1000, _DEIT3.format("B"), "imagenet"),
        # DINOv2 architectures carry no size; they were trained at 518 px
        # (a 37 x 37 grid of 14-px patches).
        _timm("vit_small_patch14_dinov2.lvd142m", "dinov2", None, _DINOV2.format("S"), "imagenet", size=518),
        _timm("vit_base_patch14_dinov2.lvd142m", "dinov2", None, _DINOV2.format("B"), "imagenet", size=518),
        _timm("vit_large_patch14_dinov2.lvd142m", "dinov2", None, _DINOV2.format("L"), "imagenet", size=518),
        _timm("vit_small_patch14_reg4_dinov2.lvd142m", "dinov2", None, _DINOV2_REG.format("S"), "imagenet",
              size=518),
        _timm("vit_base_patch14_reg4_dinov2.lvd142m", "dinov2", None, _DINOV2_REG.format("B"), "imagenet",
              size=518),
        _timm("vit_large_patch14_reg4_dinov2.lvd142m", "dinov2", None, _DINOV2_REG.format("L"), "imagenet",
              size=518),
        # OpenAI's CLIP towers use QuickGELU, which timm's `_quickgelu_`
        # architectures select; timm's pretrained configs for them point to
        # the plain architecture's Hub repository (`hf_hub_id`), which holds
        # the same weights.
        _timm("vit_base_patch32_clip_quickgelu_224.openai", "clip", 512, _CLIP.format("B/32", 512), "clip",
              repository="vit_base_patch32_clip_224.openai"),
        _timm("vit_base_patch16_clip_quickgelu_224.openai", "clip", 512, _CLIP.format("B/16", 512), "clip",
              repository="vit_base_patch16_clip_224.openai"),
        _timm("vit_large_patch14_clip_quickgelu_224.openai", "clip", 768, _CLIP.format("L/14", 768), "clip",
              repository="vit_large_patch14_clip_224.openai"),
        _timm("vit_base_patch16_clip_224.laion2b", "clip", 512,
              "OpenCLIP ViT-B/16 image tower, LAION-2B (Cherti et al. 2023), exact GELU; the head is the "
              "512-d image-text projection", "clip"),
        _timm("vit_base_patch16_siglip_224.webli", "siglip", None,
              "SigLIP ViT-B/16 image tower, WebLI (Zhai et al. 2023): attention-pooled (MAP) embedding, "
              "no head", "siglip"),
        _google("augreg_ti16_224_in21k_ft_in1k",
                "Ti_16-i21k-300ep-lr_0.001-aug_none-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224",
                "vit_tiny_patch16_224", 1000, _IN1K + ", original .npz"),
        _google("augreg_s16_224_in21k_ft_in1k",
                "S_16-i21k-300ep-lr_0.001-aug_light1-wd_0.03-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.03-res_224",
                "vit_small_patch16_224", 1000, _IN1K + ", original .npz"),
        _google("augreg_b16_224_in21k_ft_in1k",
                "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.01-res_224",
                "vit_base_patch16_224", 1000, _IN1K + ", original .npz"),
        _google("augreg_b16_384_in21k_ft_in1k",
                "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0--imagenet2012-steps_20k-lr_0.01-res_384",
                "vit_base_patch16_384", 1000, _IN1K + ", original .npz"),
        _google("augreg_b16_224_in21k",
                "B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0",
                "vit_base_patch16_224", 21843, _IN21K + ", original .npz"),
        _google("augreg_l16_224_in21k_ft_in1k",
                "L_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.1-sd_0.1--imagenet2012-steps_20k-lr_0.01-res_224",
                "vit_large_patch16_224", 1000, _IN1K + ", original .npz"),
    ]
}


def list_presets(family=None):
    """Names of the available presets, sorted.

    Args:
        family: str or None. Only the presets of this family (one of
            `FAMILIES`: `"vit"`, `"deit"`, `"deit_distilled"`, `"deit3"`,
            `"dinov2"`, `"clip"`, `"siglip"`); None lists them all.

    Returns:
        list of str.

    Raises:
        ValueError: `family` is not one of `FAMILIES`.

    Example:
    >>> "vit_base_patch16_224.augreg2_in21k_ft_in1k" in list_presets()
    True
    >>> list_presets(family="deit3")
    ['deit3_base_patch16_224.fb_in1k', 'deit3_small_patch16_224.fb_in1k']
    """
    if family is None:
        return sorted(PRESETS)
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(f"`family` must be None or one of {FAMILIES}. Received: family={family!r}")
    return sorted(name for name, preset in PRESETS.items() if preset.family == family)


def get_preset(name):
    """Returns the `Preset` called `name`.

    Args:
        name: str. A preset name (`list_presets()`).

    Returns:
        A `Preset`.

    Raises:
        ValueError: unknown name; the message lists the available ones.

    Example:
    >>> get_preset("vit_small_patch14_dinov2.lvd142m").image_size
    518
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Available presets: {', '.join(list_presets())}")
    return PRESETS[name]


# Seconds a download may wait to connect or for each read from the server.
DEFAULT_DOWNLOAD_TIMEOUT = 60.0
_TIMEOUT_VARIABLE = "KERAS_VIT_DOWNLOAD_TIMEOUT"
_CACHE_SUBDIR = os.path.join("models", "keras_vit")
_CHUNK_BYTES = 1 << 20
# Downloads at least this large (or of unknown size, once this much has
# arrived) show a progress line.
_PROGRESS_MIN_BYTES = 8 << 20


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_timeout(timeout):
    """Seconds per connect/read: `timeout`, else the environment variable,
    else `DEFAULT_DOWNLOAD_TIMEOUT`; a ValueError/TypeError for bad values."""
    if timeout is None:
        raw = os.environ.get(_TIMEOUT_VARIABLE, "").strip()
        if not raw:
            return DEFAULT_DOWNLOAD_TIMEOUT
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"${_TIMEOUT_VARIABLE} must be a number of seconds > 0. "
                f"Received: {_TIMEOUT_VARIABLE}={raw!r}"
            )
        return value
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(f"`timeout` must be a number of seconds > 0 or None. Received: timeout={timeout!r}")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"`timeout` must be a number of seconds > 0 or None. Received: timeout={timeout!r}")
    return float(timeout)


def _check_hash(file_hash):
    if file_hash is None:
        return None
    if not isinstance(file_hash, str):
        raise TypeError(f"`file_hash` must be a SHA-256 hex string or None. Received: file_hash={file_hash!r}")
    value = file_hash.strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(
            "`file_hash` must be a SHA-256 as 64 hexadecimal digits, or None. "
            f"Received: file_hash={file_hash!r}"
        )
    return value


def _check_directory(value, argument):
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"`{argument}` must be a str, a path-like object or None. Received: {argument}={value!r}")


def _keras_home():
    # What keras.src.backend.config computes at import, read here at call
    # time: $KERAS_HOME if set, else ~/.keras, or /tmp/.keras when the home
    # directory is not writable.
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def cache_directory(cache_dir=None):
    """The folder where `fetch_preset` caches downloaded presets.

    `<root>/models/keras_vit`, where `<root>` is `cache_dir`, else
    `$KERAS_HOME`, else `~/.keras`. As `keras.utils.get_file` does, a root
    that cannot be created or written to is replaced by `/tmp/.keras`.
    The root is created if missing; the folder itself is not.

    Args:
        cache_dir: str, path-like or None. The cache root.

    Returns:
        str. The folder's path.

    Example:
    >>> import os, tempfile
    >>> root = tempfile.mkdtemp()
    >>> cache_directory(root) == os.path.join(root, "models", "keras_vit")
    True
    """
    _check_directory(cache_dir, "cache_dir")
    root = os.path.expanduser(os.fspath(cache_dir) if cache_dir is not None else _keras_home())
    with contextlib.suppress(OSError):
        if root:
            os.makedirs(root, exist_ok=True)
    if not os.access(root, os.W_OK):
        root = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return os.path.join(root, _CACHE_SUBDIR)


class _Progress:
    """A download progress line on stderr: redrawn in place on a terminal,
    one line every 10 s otherwise; silent for small downloads and when Keras's
    interactive logging is off."""

    def __init__(self, total, label, stream=None):
        self.stream = stream or sys.stderr
        self.total = total
        self.label = label
        keras = sys.modules.get("keras")  # not imported just for this
        self.enabled = keras is None or keras.config.is_interactive_logging_enabled()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.last = -math.inf  # the first update is drawn at once
        self.drawn = False

    def update(self, received, final=False):
        if not self.enabled:
            return
        if not self.drawn and max(self.total or 0, received) < _PROGRESS_MIN_BYTES:
            return
        now = time.monotonic()
        if not final and now - self.last < (0.25 if self.tty else 10.0):
            return
        self.last = now
        self.drawn = True
        rate = received / 1e6 / max(now - self.start, 1e-6)
        if self.total:
            amount = f"{received / 1e6:.1f}/{self.total / 1e6:.1f} MB ({100 * received / self.total:.0f}%)"
        else:
            amount = f"{received / 1e6:.1f} MB"
        line = f"keras_vit: {self.label}: {amount}, {rate:.1f} MB/s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class _Truncated(OSError):
    pass


def _download(url, target, expected, timeout):
    """Downloads `url` to `target` through a temporary sibling; returns the
    SHA-256. Raises `_Truncated` when fewer bytes than the server's
    `Content-Length` arrived and ValueError on a hash mismatch, leaving
    nothing at `target`."""
    from keras_vit import __version__

    request = urllib.request.Request(url, headers={"User-Agent": f"keras_vit/{__version__}"})
    print(f"keras_vit: downloading {url}", file=sys.stderr)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None and length.strip().isdigit() else None
        progress = _Progress(total, os.path.basename(target))
        read = getattr(response, "read1", None) or response.read
        digest = hashlib.sha256()
        received = 0
        with _files.atomic_write(target, "wb") as handle:
            while True:
                chunk = read(_CHUNK_BYTES)
                if not chunk:
                    break
                handle.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                progress.update(received)
            progress.update(received, final=True)
            if total is not None and received != total:
                raise _Truncated(f"the connection closed after {received} of {total} bytes")
            if expected is not None and digest.hexdigest() != expected:
                raise ValueError(
                    f"The file downloaded from {url} has SHA-256 {digest.hexdigest()}, not the "
                    f"expected {expected} (hash mismatch): it is corrupt or a different file. "
                    "Nothing was saved."
                )
    return digest.hexdigest()


def fetch_preset(name, local_dir=None, cache_dir=None, file_hash=None, timeout=None):
    """Returns a local path to a preset's file, downloading it if needed.

    Looks first in `local_dir` (or `$KERAS_VIT_WEIGHTS_DIR`) for the
    preset's `filename`, then in the cache (`cache_directory(cache_dir)`:
    `<cache_dir or $KERAS_HOME or ~/.keras>/models/keras_vit/`), and
    otherwise downloads the file there. The download goes to a temporary
    name and is moved into the cache only when complete and, when a SHA-256
    is known, verified; it shows a progress line on stderr for large files.

    Args:
        name: str. A preset name (see `list_presets()`).
        local_dir: str or None. A directory holding the file (e.g. an
            attached Kaggle dataset); nothing is downloaded if it is found.
        cache_dir: str or None. Cache root; defaults to `$KERAS_HOME`, else
            `~/.keras`.
        file_hash: str or None. Expected SHA-256 (64 hex digits),
            overriding the preset's.
        timeout: float or None. Seconds to wait to connect and for each
            read from the server before giving up with `TimeoutError`;
            None reads `$KERAS_VIT_DOWNLOAD_TIMEOUT`, else 60.

    Returns:
        str. Path of the checkpoint file.

    Raises:
        ValueError: unknown preset, a bad argument, or a hash mismatch (of
            the download, or of a file found in `local_dir` or the cache).
        TimeoutError: the server did not answer within `timeout`; the
            message says how to allow more time and how to work offline.
        OSError: the download failed or was cut short; nothing was saved,
            and the message says which file to put where to work offline.

    Example:
    >>> import os
    >>> path = fetch_preset("deit_tiny_patch16_224.fb_in1k")  # doctest: +SKIP
    >>> os.path.basename(path)  # doctest: +SKIP
    'deit_tiny_patch16_224.fb_in1k.safetensors'
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a preset name (str). Received: name={name!r}")
    preset = get_preset(name)
    _check_directory(local_dir, "local_dir")
    _check_directory(cache_dir, "cache_dir")
    expected = _check_hash(file_hash) or preset.sha256
    timeout = _check_timeout(timeout)
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
    directory = cache_directory(cache_dir)
    target = os.path.join(directory, preset.filename)
    if os.path.isfile(target):
        if expected is not None and _sha256(target) != expected:
            raise ValueError(
                f"The cached file {target} does not have the SHA-256 of preset {name!r} "
                f"({expected}): it is corrupt or a different checkpoint. Delete the cached file "
                f"at {target} to download it again."
            )
        return target
    offline = (
        f"To work offline, download {preset.url} elsewhere and put it at {target}, or in a "
        f"directory passed as `local_dir=` (or $KERAS_VIT_WEIGHTS_DIR) under the name "
        f"{preset.filename!r}."
    )
    try:
        os.makedirs(directory, exist_ok=True)
        _files.remove_stale(directory)  # downloads of killed processes
        digest = _download(preset.url, target, expected, timeout)
    except (TimeoutError, urllib.error.URLError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(error, TimeoutError) or isinstance(reason, TimeoutError):
            raise TimeoutError(
                f"Downloading preset {name!r} from {preset.url} timed out: the server sent nothing "
                f"for {timeout:g} s; nothing was saved. Allow more time with "
                f"fetch_preset(..., timeout=SECONDS) or the environment variable "
                f"{_TIMEOUT_VARIABLE}=SECONDS. {offline}"
            ) from error
        raise OSError(f"Could not download preset {name!r} from {preset.url} ({error}); "
                      f"nothing was saved. {offline}") from error
    except (OSError, http.client.HTTPException) as error:
        raise OSError(f"Could not download preset {name!r} from {preset.url} ({error}); "
                      f"nothing was saved. {offline}") from error
    if expected is None:
        print(f"keras_vit: preset {name!r} has no pinned SHA-256; the downloaded file's is "
              f"{digest} (pass file_hash= to check it next time).")
    return target
