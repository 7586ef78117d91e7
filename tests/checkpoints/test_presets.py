"""Presets: the table, and fetching files from local servers (tests never
touch the network): timeouts, hashes, truncated and killed downloads, the
cache location."""

import contextlib
import dataclasses
import functools
import hashlib
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from keras_vit import _files
from keras_vit.checkpoints import PRESETS, fetch_preset, get_preset, list_presets, presets
from keras_vit.models.variants import VARIANTS
from keras_vit.models.preprocessing import _MODES

# Plain Python, urllib and local servers: runs once, under TensorFlow.
pytestmark = pytest.mark.backend_independent


# The architectures timm 1.0.31 registers with pretrained weights, per
# family (a static copy, so these tests need no timm): from
# sorted({n.split(".")[0] for n in timm.list_pretrained()}) filtered by the
# family's naming pattern.
TIMM_ARCHITECTURES = {
    "vit": {
        "vit_base_patch16_224", "vit_base_patch16_384", "vit_base_patch32_224", "vit_base_patch32_384",
        "vit_base_patch8_224", "vit_huge_patch14_224", "vit_large_patch16_224", "vit_large_patch16_384",
        "vit_large_patch32_224", "vit_large_patch32_384", "vit_small_patch16_224", "vit_small_patch16_384",
        "vit_small_patch32_224", "vit_small_patch32_384", "vit_small_patch8_224", "vit_tiny_patch16_224",
        "vit_tiny_patch16_384",
    },
    "deit": {"deit_base_patch16_224", "deit_base_patch16_384", "deit_small_patch16_224", "deit_tiny_patch16_224"},
    "deit_distilled": {
        "deit_base_distilled_patch16_224", "deit_base_distilled_patch16_384", "deit_small_distilled_patch16_224",
        "deit_tiny_distilled_patch16_224",
    },
    "deit3": {
        "deit3_base_patch16_224", "deit3_base_patch16_384", "deit3_huge_patch14_224", "deit3_large_patch16_224",
        "deit3_large_patch16_384", "deit3_medium_patch16_224", "deit3_small_patch16_224", "deit3_small_patch16_384",
    },
    "dinov2": {
        "vit_base_patch14_dinov2", "vit_base_patch14_reg4_dinov2", "vit_giant_patch14_dinov2",
        "vit_giant_patch14_reg4_dinov2", "vit_large_patch14_dinov2", "vit_large_patch14_reg4_dinov2",
        "vit_small_patch14_dinov2", "vit_small_patch14_reg4_dinov2",
    },
    "clip": {
        "vit_base_patch16_clip_224", "vit_base_patch16_clip_384", "vit_base_patch16_clip_quickgelu_224",
        "vit_base_patch32_clip_224", "vit_base_patch32_clip_256", "vit_base_patch32_clip_384",
        "vit_base_patch32_clip_448", "vit_base_patch32_clip_quickgelu_224", "vit_huge_patch14_clip_224",
        "vit_huge_patch14_clip_336", "vit_huge_patch14_clip_378", "vit_huge_patch14_clip_quickgelu_224",
        "vit_huge_patch14_clip_quickgelu_378", "vit_large_patch14_clip_224", "vit_large_patch14_clip_336",
        "vit_large_patch14_clip_quickgelu_224", "vit_large_patch14_clip_quickgelu_336",
    },
    "siglip": {
        "vit_base_patch16_siglip_224", "vit_base_patch16_siglip_256", "vit_base_patch16_siglip_384",
        "vit_base_patch16_siglip_512", "vit_base_patch32_siglip_256", "vit_large_patch16_siglip_256",
        "vit_large_patch16_siglip_384", "vit_large_patch16_siglip_512",
    },
}

# The DeiT-III, DINOv2, CLIP and SigLIP presets as timm 1.0.31's pretrained configs give
# them (get_pretrained_cfg: hf_hub_id, input_size, num_classes with 0 as
# None, mean/std -> mode): (hub repository, image size, classes, mode).
NEW_PRESETS = {
    **{f"vit_{size}_patch14_{reg}dinov2.lvd142m": (f"vit_{size}_patch14_{reg}dinov2.lvd142m", 518, None, "imagenet")
       for size in ("small", "base", "large") for reg in ("", "reg4_")},
    "vit_base_patch32_clip_quickgelu_224.openai": ("vit_base_patch32_clip_224.openai", 224, 512, "clip"),
    "vit_base_patch16_clip_quickgelu_224.openai": ("vit_base_patch16_clip_224.openai", 224, 512, "clip"),
    "vit_large_patch14_clip_quickgelu_224.openai": ("vit_large_patch14_clip_224.openai", 224, 768, "clip"),
    "vit_base_patch16_clip_224.laion2b": ("vit_base_patch16_clip_224.laion2b", 224, 512, "clip"),
    "vit_base_patch16_siglip_224.webli": ("vit_base_patch16_siglip_224.webli", 224, None, "siglip"),
    **{f"deit_{size}_distilled_patch16_224.fb_in1k": (f"deit_{size}_distilled_patch16_224.fb_in1k", 224, 1000,
                                                      "imagenet") for size in ("tiny", "small", "base")},
    **{f"deit3_{size}_patch16_224.fb_in1k": (f"deit3_{size}_patch16_224.fb_in1k", 224, 1000, "imagenet")
       for size in ("small", "base")},
}


def test_table_is_consistent():
    assert len(PRESETS) >= 42
    filenames = [p.filename for p in PRESETS.values()]
    assert len(set(filenames)) == len(filenames)
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert preset.variant in VARIANTS
        assert preset.url.startswith("https://") and preset.url.endswith(preset.filename.split(".")[-1])
        assert preset.preprocessing in _MODES
        assert preset.image_size % preset.patch_size == 0
        assert preset.sha256 is None or len(preset.sha256) == 64
        assert preset.family in presets.FAMILIES
        assert preset.layout == ("google" if preset.filename.endswith(".npz") else "timm")
        # The architecture names the variant, the patch size and (mostly) the size.
        arch = preset.architecture
        assert f"_{preset.variant}_" in arch and f"_patch{preset.patch_size}" in arch
        assert arch.endswith(f"_{preset.image_size}") or preset.family == "dinov2"
        if preset.layout == "timm":  # timm names are `architecture.tag`
            assert name.partition(".")[0] == arch and name.count(".") == 1
            assert preset.url.startswith("https://huggingface.co/timm/")
        if preset.family in ("vit", "siglip") or preset.layout == "google":
            assert preset.preprocessing in ("vit", "siglip")
        if preset.family in ("deit", "deit_distilled", "deit3", "dinov2"):
            assert preset.preprocessing == "imagenet"
        if preset.family == "clip":
            assert preset.preprocessing == "clip"


def test_every_architecture_is_one_timm_lists_for_its_family():
    for name, preset in PRESETS.items():
        assert preset.architecture in TIMM_ARCHITECTURES[preset.family], name
    assert {p.family for p in PRESETS.values()} == set(presets.FAMILIES)


def test_the_new_presets_match_timm():
    for name, (repository, size, classes, mode) in NEW_PRESETS.items():
        preset = get_preset(name)
        assert preset.url == f"https://huggingface.co/timm/{repository}/resolve/main/model.safetensors", name
        assert (preset.image_size, preset.classes, preset.preprocessing) == (size, classes, mode), name
        assert preset.layout == "timm" and preset.sha256 is None
    dino = get_preset("vit_large_patch14_reg4_dinov2.lvd142m")
    assert (dino.architecture, dino.family, dino.variant, dino.patch_size) == (
        "vit_large_patch14_reg4_dinov2", "dinov2", "large", 14)
    clip = get_preset("vit_base_patch32_clip_quickgelu_224.openai")
    assert (clip.architecture, clip.family, clip.variant, clip.patch_size) == (
        "vit_base_patch32_clip_quickgelu_224", "clip", "base", 32)
    # The Google files keep their own names but name timm's architecture.
    google = get_preset("augreg_b16_384_in21k_ft_in1k")
    assert (google.architecture, google.family, google.layout, google.image_size) == (
        "vit_base_patch16_384", "vit", "google", 384)


def test_families_filter_the_list():
    assert list_presets() == list_presets(family=None) == sorted(PRESETS)
    by_family = {family: list_presets(family=family) for family in presets.FAMILIES}
    assert sorted(sum(by_family.values(), [])) == sorted(PRESETS)
    assert by_family["deit3"] == ["deit3_base_patch16_224.fb_in1k", "deit3_small_patch16_224.fb_in1k"]
    assert len(by_family["dinov2"]) == 6 and len(by_family["clip"]) == 4 and len(by_family["siglip"]) == 1
    assert by_family["deit"] == [f"deit_{s}_patch16_224.fb_in1k" for s in ("base", "small", "tiny")]
    assert len(by_family["deit_distilled"]) == 3
    assert all(get_preset(n).family == "vit" for n in by_family["vit"]) and len(by_family["vit"]) == 23
    for bad in ("DINOv2", "vit_base", "", 3, ["clip"]):
        with pytest.raises(ValueError, match=r"`family` must be None or one of .*'deit_distilled'.*'siglip'"
                                             r".*Received: family="):
            list_presets(family=bad)


def test_approximate_gelu_is_read_from_the_layout_not_stored():
    fields = {field.name for field in dataclasses.fields(presets.Preset)}
    assert {"architecture", "family", "layout", "variant", "patch_size"} <= fields
    assert "approximate_gelu" not in fields
    with pytest.raises(TypeError):
        presets.Preset(**_fields(approximate_gelu=True))
    for bad in (dict(family="convnext"), dict(layout="big_vision")):
        with pytest.raises(ValueError, match=f"`{next(iter(bad))}` must be one of"):
            presets.Preset(**_fields(**bad))


def test_approximate_gelu_follows_the_layout_registry():
    # Needs keras_vit.checkpoints.registry (the layout registry).
    for preset in PRESETS.values():
        assert preset.approximate_gelu is (preset.layout == "google"), preset.name


def test_unknown_preset_lists_the_names():
    with pytest.raises(ValueError, match="vit_base_patch16_224.augreg2_in21k_ft_in1k"):
        get_preset("vit_base_patch16_225")
    assert list_presets() == sorted(PRESETS)


BODY = b"checkpoint bytes"
# Large enough that a partial download reaches the disk before the kill.
BIG = os.urandom(1 << 20)


def _fields(**overrides):
    """Keyword arguments of a ViT-Ti/16 test preset at 32 px."""
    return {**dict(name="test_preset", url="https://example.invalid/tiny.safetensors", filename="tiny.safetensors",
                   architecture="vit_tiny_patch16_224", family="vit", layout="timm", variant="tiny",
                   patch_size=16, image_size=32, classes=10, preprocessing="vit"), **overrides}


def _preset(monkeypatch, url, sha256=None):
    preset = presets.Preset(**_fields(url=url, sha256=sha256))
    monkeypatch.setitem(PRESETS, "test_preset", preset)
    return preset


def _cache(root):
    return root / "models" / "keras_vit"


def _listing(folder):
    return sorted(os.listdir(folder)) if folder.exists() else []


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def _serve(handler):
    """An HTTP server on 127.0.0.1 in a thread; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextlib.contextmanager
def _serve_files(folder):
    with _serve(functools.partial(_Quiet, directory=str(folder))) as url:
        yield url


@pytest.fixture
def served(tmp_path):
    """`(folder, url)`: a local HTTP server of a folder holding tiny.safetensors."""
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "tiny.safetensors").write_bytes(BODY)
    with _serve_files(folder) as url:
        yield folder, url


def _handler(body, send=None, length=True, stall=None):
    """A handler sending `body[:send]` (all by default) with a Content-Length
    of the whole body (or none), then waiting for `stall` (an Event) or
    closing the connection."""

    class Handler(_Quiet):
        def do_GET(self):
            self.send_response(200)
            if length:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[:send])
            self.wfile.flush()
            if stall is not None:
                stall.wait(60)
            self.close_connection = True

    return Handler


@contextlib.contextmanager
def _silent_server(give_up_after=20.0):
    """Accepts connections and never answers (closing them only after
    `give_up_after` s, so that a downloader without a timeout fails the test
    instead of hanging it); yields its URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    stop = threading.Event()
    held = []

    def run():
        while not stop.is_set():
            with contextlib.suppress(socket.timeout):
                held.append((listener.accept()[0], time.monotonic()))
            for connection, since in held:
                if time.monotonic() - since > give_up_after:
                    connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/tiny.safetensors"
    finally:
        stop.set()
        thread.join(10)
        for connection, _ in held:
            connection.close()
        listener.close()


def _closed_port_url():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
    return f"http://127.0.0.1:{port}/tiny.safetensors"


def test_download_from_a_local_server_checks_the_hash(monkeypatch, tmp_path, served):
    _, url = served
    _preset(monkeypatch, url + "/tiny.safetensors", hashlib.sha256(BODY).hexdigest())
    path = fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"))
    assert path == str(_cache(tmp_path / "cache") / "tiny.safetensors")
    assert open(path, "rb").read() == BODY
    assert _listing(_cache(tmp_path / "cache")) == ["tiny.safetensors"]


def test_a_wrong_hash_is_refused_and_nothing_is_cached(monkeypatch, tmp_path, served):
    _, url = served
    _preset(monkeypatch, url + "/tiny.safetensors", "0" * 64)
    with pytest.raises(ValueError, match="(?i)hash") as error:
        fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"))
    assert _listing(_cache(tmp_path / "cache")) == []
    assert "hash mismatch" in str(error.value) and "Nothing was saved" in str(error.value)
    # file_hash= overrides the preset's.
    path = fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"),
                        file_hash=hashlib.sha256(BODY).hexdigest().upper())
    assert open(path, "rb").read() == BODY


def test_unpinned_download_prints_its_hash(monkeypatch, tmp_path, capsys, served):
    _, url = served
    _preset(monkeypatch, url + "/tiny.safetensors")
    fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"))
    assert hashlib.sha256(BODY).hexdigest() in capsys.readouterr().out


def test_a_cached_file_is_used_without_network_and_checked(monkeypatch, tmp_path, served):
    folder, url = served
    _preset(monkeypatch, url + "/tiny.safetensors")
    path = fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"))
    _preset(monkeypatch, _closed_port_url(), hashlib.sha256(BODY).hexdigest())
    assert fetch_preset("test_preset", cache_dir=str(tmp_path / "cache")) == path
    # A cached file that does not match a pinned hash is reported, not
    # silently replaced (it may be one the user put there).
    with pytest.raises(ValueError, match="Delete the cached file at .*tiny.safetensors"):
        fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"), file_hash="1" * 64)
    assert open(path, "rb").read() == BODY


def test_a_server_that_never_answers_times_out(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    with _silent_server() as url:
        _preset(monkeypatch, url)
        start = time.monotonic()
        with pytest.raises(TimeoutError) as error:
            fetch_preset("test_preset", cache_dir=str(cache), timeout=0.5)
        assert time.monotonic() - start < 5
        message = str(error.value)
        assert "timed out" in message and "0.5 s" in message
        assert "timeout=SECONDS" in message and "KERAS_VIT_DOWNLOAD_TIMEOUT=SECONDS" in message
        assert f"put it at {_cache(cache) / 'tiny.safetensors'}" in message and "local_dir" in message

        # Without the argument, the environment variable sets it.
        monkeypatch.setenv("KERAS_VIT_DOWNLOAD_TIMEOUT", "0.5")
        start = time.monotonic()
        with pytest.raises(TimeoutError, match="timed out"):
            fetch_preset("test_preset", cache_dir=str(cache))
        assert time.monotonic() - start < 5
    assert _listing(_cache(cache)) == []


def test_a_server_that_stalls_mid_file_times_out_and_nothing_is_cached(monkeypatch, tmp_path):
    stall = threading.Event()
    try:
        with _serve(_handler(BIG, send=len(BIG) // 2, stall=stall)) as url:
            _preset(monkeypatch, url + "/tiny.safetensors")
            start = time.monotonic()
            with pytest.raises(TimeoutError, match="timed out"):
                fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"), timeout=0.5)
            assert time.monotonic() - start < 5
    finally:
        stall.set()
    assert _listing(_cache(tmp_path / "cache")) == []


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "no-content-length"])
def test_a_download_cut_short_leaves_nothing_in_the_cache(monkeypatch, tmp_path, length):
    with _serve(_handler(BIG, send=len(BIG) // 2, length=length)) as url:
        # Told by the Content-Length when the server sends one, else by the
        # pinned hash (without either a short file cannot be told).
        _preset(monkeypatch, url + "/tiny.safetensors", None if length else hashlib.sha256(BIG).hexdigest())
        with pytest.raises((OSError, ValueError)) as error:
            fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"))
    if length:
        assert isinstance(error.value, OSError)
        assert f"closed after {len(BIG) // 2} of {len(BIG)} bytes" in str(error.value)
        assert "nothing was saved" in str(error.value)
    else:
        assert isinstance(error.value, ValueError) and "hash" in str(error.value)
    assert _listing(_cache(tmp_path / "cache")) == []


# Loads keras_vit.checkpoints.presets without the package's __init__ (which
# imports Keras), for a quick start.
_KILLED_CHILD = """
import os, sys, types
url, cache, root = sys.argv[1:]
for name in ("keras_vit", "keras_vit.checkpoints"):
    sys.modules[name] = types.ModuleType(name)
    sys.modules[name].__path__ = [os.path.join(root, *name.split("."))]
sys.modules["keras_vit"].__version__ = "test"
import keras_vit.checkpoints.presets as presets
presets.PRESETS["test_preset"] = presets.Preset(
    name="test_preset", url=url, filename="tiny.safetensors", architecture="vit_tiny_patch16_224", family="vit",
    layout="timm", variant="tiny", patch_size=16, image_size=32, classes=10, preprocessing="vit")
presets.fetch_preset("test_preset", cache_dir=cache)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_a_download_killed_midway_never_lands_in_the_cache(monkeypatch, tmp_path):
    import keras_vit

    cache = tmp_path / "cache"
    stall = threading.Event()
    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_vit.__file__)))
    try:
        with _serve(_handler(BIG, send=len(BIG) // 2, stall=stall)) as url, open(tmp_path / "child.log", "wb") as log:
            child = subprocess.Popen([sys.executable, "-c", _KILLED_CHILD, url + "/tiny.safetensors", str(cache), root],
                                     stdout=log, stderr=log)
            try:
                deadline = time.monotonic() + 120
                while not any((_cache(cache) / name).stat().st_size >= len(BIG) // 4
                              for name in _listing(_cache(cache))):
                    assert child.poll() is None and time.monotonic() < deadline, (
                        (tmp_path / "child.log").read_text()[-3000:])
                    time.sleep(0.05)
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait()
    finally:
        stall.set()
    left = _listing(_cache(cache))
    assert "tiny.safetensors" not in left
    assert left and all(_files._owner_pid(name, "tmp") == child.pid for name in left)

    # The next fetch downloads the whole file and clears the dead process's part.
    served = tmp_path / "served"
    served.mkdir()
    (served / "tiny.safetensors").write_bytes(BIG)
    with _serve_files(served) as url:
        _preset(monkeypatch, url + "/tiny.safetensors", hashlib.sha256(BIG).hexdigest())
        path = fetch_preset("test_preset", cache_dir=str(cache))
    assert open(path, "rb").read() == BIG
    assert _listing(_cache(cache)) == ["tiny.safetensors"]


def test_the_cache_follows_keras_home(monkeypatch, tmp_path, served):
    _, url = served
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    _preset(monkeypatch, _closed_port_url())
    with pytest.raises(OSError, match="put it at " + str(_cache(home) / "tiny.safetensors")):
        fetch_preset("test_preset")
    _preset(monkeypatch, url + "/tiny.safetensors")
    assert fetch_preset("test_preset") == str(_cache(home) / "tiny.safetensors")
    assert presets.cache_directory() == str(_cache(home))
    # cache_dir= wins over KERAS_HOME.
    assert fetch_preset("test_preset", cache_dir=str(tmp_path / "other")).startswith(str(tmp_path / "other"))


def test_an_unwritable_cache_root_falls_back_to_tmp_as_keras_does(monkeypatch, tmp_path):
    monkeypatch.setattr(presets.os, "access", lambda path, mode: False)
    assert presets.cache_directory(str(tmp_path / "read_only")) == os.path.join("/tmp", ".keras", "models", "keras_vit")


def test_progress_is_shown_for_large_downloads_only():
    import io

    stream = io.StringIO()
    progress = presets._Progress(16 << 20, "big.safetensors", stream)
    progress.update(1 << 20)
    progress.update(2 << 20)  # within 10 s of the last line: not drawn
    progress.update(16 << 20, final=True)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "1.0/16.8 MB (6%)" in lines[0] and "16.8/16.8 MB (100%)" in lines[1]

    stream = io.StringIO()
    progress = presets._Progress(1000, "small.safetensors", stream)
    progress.update(1000, final=True)
    assert stream.getvalue() == ""
    # Of unknown size: shown once it is large.
    progress = presets._Progress(None, "unknown.safetensors", stream)
    progress.update(1000)
    progress.update(9 << 20, final=True)
    assert len(stream.getvalue().splitlines()) == 1
    assert "9.4 MB," in stream.getvalue()


def test_local_directory_is_used_without_download(monkeypatch, tmp_path):
    _preset(monkeypatch, _closed_port_url())  # a download would fail
    local = tmp_path / "kaggle_input"
    local.mkdir()
    (local / "tiny.safetensors").write_bytes(BODY)
    assert fetch_preset("test_preset", local_dir=str(local)) == str(local / "tiny.safetensors")
    monkeypatch.setenv("KERAS_VIT_WEIGHTS_DIR", str(local))
    assert fetch_preset("test_preset") == str(local / "tiny.safetensors")


def test_offline_error_says_which_file_to_put_where(monkeypatch, tmp_path):
    _preset(monkeypatch, _closed_port_url())  # the server is unreachable
    with pytest.raises(OSError, match=r"put it at .*models/keras_vit/tiny\.safetensors.*local_dir") as error:
        fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"))
    assert not isinstance(error.value, TimeoutError)
    assert _listing(_cache(tmp_path / "cache")) == []


def test_bad_arguments_raise_before_any_work(monkeypatch, tmp_path):
    _preset(monkeypatch, _closed_port_url())
    cache = str(tmp_path / "cache")
    for timeout in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="`timeout` must be a number of seconds > 0 or None"):
            fetch_preset("test_preset", cache_dir=cache, timeout=timeout)
    for timeout in ("5", True):
        with pytest.raises(TypeError, match="`timeout` must be a number of seconds > 0 or None"):
            fetch_preset("test_preset", cache_dir=cache, timeout=timeout)
    for value in ("soon", "0", "-3"):
        monkeypatch.setenv("KERAS_VIT_DOWNLOAD_TIMEOUT", value)
        with pytest.raises(ValueError, match="KERAS_VIT_DOWNLOAD_TIMEOUT must be a number of seconds > 0"):
            fetch_preset("test_preset", cache_dir=cache)
    monkeypatch.delenv("KERAS_VIT_DOWNLOAD_TIMEOUT")
    with pytest.raises(ValueError, match="`file_hash` must be a SHA-256 as 64 hexadecimal digits"):
        fetch_preset("test_preset", cache_dir=cache, file_hash="abc")
    with pytest.raises(TypeError, match="`file_hash`"):
        fetch_preset("test_preset", cache_dir=cache, file_hash=123)
    with pytest.raises(TypeError, match="`cache_dir` must be a str"):
        fetch_preset("test_preset", cache_dir=3)
    with pytest.raises(TypeError, match="`local_dir` must be a str"):
        fetch_preset("test_preset", local_dir=["a"])
    with pytest.raises(TypeError, match="`name` must be a preset name"):
        fetch_preset(None)
    assert not os.path.exists(cache)
