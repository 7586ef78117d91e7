import hashlib

import pytest

from keras_vit.checkpoints import PRESETS, fetch_preset, get_preset, list_presets, presets
from keras_vit.models import get_variant_config
from keras_vit.models.preprocessing import _MODES

# Plain Python and keras.utils.get_file: runs once, under TensorFlow.
pytestmark = pytest.mark.backend_independent


def test_table_is_consistent():
    assert len(PRESETS) >= 20
    filenames = [p.filename for p in PRESETS.values()]
    assert len(set(filenames)) == len(filenames)
    for name, preset in PRESETS.items():
        assert preset.name == name
        get_variant_config(preset.variant, patch_size=preset.patch_size)  # raises if invalid
        assert preset.url.startswith("https://") and preset.url.endswith(preset.filename.split(".")[-1])
        assert preset.preprocessing in _MODES
        assert preset.image_size % preset.patch_size == 0
        assert preset.sha256 is None or len(preset.sha256) == 64
        assert preset.approximate_gelu == preset.filename.endswith(".npz")
        if name.startswith("vit_"):  # timm names carry the variant, patch and size
            assert f"patch{preset.patch_size}_{preset.image_size}" in name and preset.variant in name


def test_unknown_preset_lists_the_names():
    with pytest.raises(ValueError, match="vit_base_patch16_224.augreg2_in21k_ft_in1k"):
        get_preset("vit_base_patch16_225")
    assert list_presets() == sorted(PRESETS)


def _local_preset(monkeypatch, tmp_path, sha256=None):
    source = tmp_path / "served" / "tiny.safetensors"
    source.parent.mkdir()
    source.write_bytes(b"checkpoint bytes")
    preset = presets.Preset("test_preset", source.as_uri(), "tiny.safetensors", "tiny", 16, 32,
                            10, "vit", False, sha256)
    monkeypatch.setitem(PRESETS, "test_preset", preset)
    return source


def test_fetch_downloads_through_keras_get_file_and_checks_the_hash(monkeypatch, tmp_path):
    source = _local_preset(monkeypatch, tmp_path, hashlib.sha256(b"checkpoint bytes").hexdigest())
    path = fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"))
    assert path.startswith(str(tmp_path / "cache" / "models" / "keras_vit"))
    assert open(path, "rb").read() == source.read_bytes()


def test_hash_mismatch_is_an_error(monkeypatch, tmp_path):
    _local_preset(monkeypatch, tmp_path, "0" * 64)
    with pytest.raises(ValueError, match="(?i)hash"):
        fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"))


def test_unpinned_download_prints_its_hash(monkeypatch, tmp_path, capsys):
    _local_preset(monkeypatch, tmp_path)
    fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"))
    assert hashlib.sha256(b"checkpoint bytes").hexdigest() in capsys.readouterr().out


def test_local_directory_is_used_without_download(monkeypatch, tmp_path):
    source = _local_preset(monkeypatch, tmp_path)
    source_uri_gone = source.read_bytes()
    source.unlink()  # a download would fail now
    local = tmp_path / "kaggle_input"
    local.mkdir()
    (local / "tiny.safetensors").write_bytes(source_uri_gone)
    assert fetch_preset("test_preset", local_dir=str(local)) == str(local / "tiny.safetensors")
    monkeypatch.setenv("KERAS_VIT_WEIGHTS_DIR", str(local))
    assert fetch_preset("test_preset") == str(local / "tiny.safetensors")


def test_offline_error_says_which_file_to_put_where(monkeypatch, tmp_path):
    source = _local_preset(monkeypatch, tmp_path)
    source.unlink()  # the "server" is unreachable
    with pytest.raises(OSError, match=r"put it at .*models/keras_vit/tiny\.safetensors.*local_dir"):
        fetch_preset("test_preset", cache_dir=str(tmp_path / "cache"))
