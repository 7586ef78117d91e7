import json
import os

import numpy as np
import pytest

import keras_vit
from keras_vit import VisionTransformer
from keras_vit.checkpoints import load_weights
from tests.checkpoints import _fixtures


def test_builder_weights_argument_loads_and_reports():
    config, _, _ = _fixtures.reference("plain")
    config["input_shape"] = tuple(config["input_shape"])
    model = VisionTransformer(**config, weights=str(_fixtures.path("plain.safetensors")))
    assert model.load_report.format == "timm"
    assert model.approximate_gelu is False
    assert _fixtures.max_difference(model, "plain") < _fixtures.TOLERANCE


def test_another_class_count_keeps_a_fresh_head(capsys):
    model = _fixtures.model_for("plain", classes=7)
    head_before = np.asarray(model.get_layer("head").kernel).copy()
    report = load_weights(model, _fixtures.path("plain.safetensors"))
    assert report.skipped == ["head/kernel", "head/bias"]
    np.testing.assert_array_equal(np.asarray(model.get_layer("head").kernel), head_before)
    out = capsys.readouterr().out
    assert "head not loaded: the checkpoint has 5 classes, the model 7" in out


def test_backbone_without_top_leaves_the_head_unused():
    model = _fixtures.model_for("plain", include_top=False)
    report = load_weights(model, _fixtures.path("plain.npz"), verbose=False)
    assert report.skipped == []
    assert report.unused == ["head/kernel (the model has no head)", "head/bias (the model has no head)"]
    full = _fixtures.model_for("plain")
    load_weights(full, _fixtures.path("plain.npz"), verbose=False)
    _, images, _ = _fixtures.reference("plain")
    features = _fixtures.logits(model, images)
    head = full.get_layer("head")
    recomputed = features @ np.asarray(head.kernel) + np.asarray(head.bias)
    np.testing.assert_allclose(recomputed, _fixtures.logits(full, images), atol=1e-5)


def test_resolution_change_224_to_384_loads_and_runs(tmp_path):
    # A patch-16 checkpoint at 224 px (random weights, written by the
    # exporter) loaded at 384 px: grid 14x14 -> 24x24. Narrow, so it is
    # cheap on every backend; the grid is ViT-B/16's.
    config = dict(patch_size=16, hidden_dim=32, num_layers=1, num_heads=2, mlp_dim=64,
                  classes=10, classifier_activation=None)
    small = VisionTransformer(**config, input_shape=(224, 224, 3))
    keras_vit.checkpoints.export_weights(small, tmp_path / "b16.safetensors", format="timm")
    large = VisionTransformer(**config, input_shape=(384, 384, 3), weights=tmp_path / "b16.safetensors")
    assert large.load_report.resampled == ((14, 14), (24, 24))
    table = np.asarray(large.get_layer("position_embedding").position_embedding)
    original = np.asarray(small.get_layer("position_embedding").position_embedding)
    assert table.shape == (1, 1 + 24 * 24, 32)
    np.testing.assert_array_equal(table[0, 0], original[0, 0])  # class slot untouched
    from keras_vit.layers import resample_position_embedding

    np.testing.assert_allclose(table, resample_position_embedding(original, 14, 24), atol=1e-7)
    logits = _fixtures.logits(large, np.zeros((2, 384, 384, 3), "float32"))
    assert logits.shape == (2, 10) and np.isfinite(logits).all()


def test_missing_weights_raise_naming_them_and_change_nothing():
    model = _fixtures.model_for("plain", layer_scale_init=0.1)
    before = {v.path: np.asarray(v).copy() for v in model.weights}
    with pytest.raises(ValueError, match=r"transformer_block_0/layer_scale_1/layer_scale"):
        load_weights(model, _fixtures.path("plain.safetensors"), verbose=False)
    for v in model.weights:
        np.testing.assert_array_equal(np.asarray(v), before[v.path])


def test_shape_mismatch_names_the_key_and_changes_nothing():
    model = _fixtures.model_for("plain", mlp_dim=48)
    before = {v.path: np.asarray(v).copy() for v in model.weights}
    with pytest.raises(ValueError, match=r"Shape mismatch for weight 'transformer_block_0/mlp/dense_1/bias'"):
        load_weights(model, _fixtures.path("plain.safetensors"), verbose=False)
    for v in model.weights:
        np.testing.assert_array_equal(np.asarray(v), before[v.path])


def test_keras_weights_files_load_across_resolution_and_classes(tmp_path):
    source = _fixtures.model_for("registers")
    load_weights(source, _fixtures.path("registers.safetensors"), verbose=False)
    source.save_weights(tmp_path / "r.weights.h5")
    source.save(tmp_path / "r.keras")
    for name in ("r.weights.h5", "r.keras"):
        same = _fixtures.model_for("registers", weights=tmp_path / name)
        assert same.load_report.format == "keras" and same.load_report.unused == []
        assert _fixtures.max_difference(same, "registers") < _fixtures.TOLERANCE
    bigger = _fixtures.model_for("registers", input_shape=(16, 16, 3), classes=2,
                                 weights=tmp_path / "r.weights.h5")
    assert bigger.load_report.resampled == ((2, 2), (4, 4))
    assert bigger.load_report.skipped == ["head/kernel", "head/bias"]


@pytest.mark.parametrize(
    "weights, error, match",
    [(123, TypeError, "`weights` must be None, a preset name"),
     ("no_such_preset_or_file", ValueError, "neither an existing file nor a preset")],
)
def test_bad_weights_arguments_raise_before_building(weights, error, match):
    with pytest.raises(error, match=match):
        _fixtures.model_for("plain", weights=weights)


def test_load_weights_needs_a_vision_transformer():
    import keras

    with pytest.raises(TypeError, match="VisionTransformer"):
        load_weights(keras.Sequential([keras.layers.Dense(2)]), _fixtures.path("plain.npz"))
    with pytest.raises(TypeError, match="`verbose` must be True or False"):
        load_weights(_fixtures.model_for("plain"), _fixtures.path("plain.npz"), verbose="no")


# Hostile and broken files. Each must raise a ValueError naming the file and
# leave every model weight bit-identical: a load assigns all or nothing.

_LATE = "Transformer/encoderblock_1/MlpBlock_3/Dense_1/bias"  # (16,), assigned late


def _npz_with(key, value):
    def build(tmp_path, _):
        arrays = _fixtures.fixture_arrays("plain.npz")
        arrays[key] = value
        return _fixtures.write_npz(tmp_path / "hostile.npz", arrays)

    return build


def _safetensors_edit(edit, raw=False):
    """plain.safetensors with its JSON header edited (a dict, or the raw text)."""
    def build(tmp_path, _):
        from keras_vit.checkpoints.safetensors_io import read_safetensors_header

        source = _fixtures.path("plain.safetensors")
        header, start = read_safetensors_header(source)
        data = source.read_bytes()[start:]
        if raw:
            text = edit(json.dumps(header))
            content = _fixtures.safetensors_bytes(None, data, text.encode())
        else:
            edit(header)
            content = _fixtures.safetensors_bytes(header, data)
        path = tmp_path / "hostile.safetensors"
        path.write_bytes(content)
        return path

    return build


def _share_offsets(header):
    header["norm.bias"]["data_offsets"] = header["norm.weight"]["data_offsets"]


def _duplicate_entry(text):
    # A second 'norm.bias' pointing at norm.weight's bytes: json keeps the last.
    entry = json.dumps({"norm.bias": {"dtype": "F32", "shape": [16], "data_offsets": [0, 0]}})[1:-1]
    return text[:-1] + ", " + entry + "}"


def _as_int32(header):
    header["norm.bias"]["dtype"] = "I32"


def _h5_with(name, shape):
    def build(tmp_path, weights_h5):
        import shutil

        path = shutil.copy(weights_h5, tmp_path / "hostile.weights.h5")
        return _fixtures.add_unwritten_dataset(path, name, shape, replace=True)

    return build


def _truncated(source_of):
    def build(tmp_path, weights_h5):
        return _fixtures.truncated_copies(source_of(weights_h5), tmp_path, points=(0.5,))[0]

    return build


def _bad_npy_header(tmp_path, _):
    import zipfile

    path = _fixtures.write_npz(tmp_path / "hostile.npz", _fixtures.fixture_arrays("plain.npz"))
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("Transformer/encoder_norm/extra.npy", b"\x93NUMPY\x01\x00\x06\x00[1, 2]")
    return path


HOSTILE = {
    # 6: declared sizes checked against the weights before reading.
    "h5-kernel-1GiB": (_h5_with("layers/patch_embedding/projection/vars/0", (1 << 28,)),
                       r"Shape mismatch for weight 'patch_embedding/projection/kernel'.*268435456 values\), more than"),
    "h5-position-table-256MiB": (_h5_with("layers/position_embedding/vars/0", (1, 1 << 22, 16)),
                                 r"'layers/position_embedding/vars/0' of shape \(1, 4194304, 16\).*over 4x"),
    # 7 and 8: values that are not finite floats.
    "npz-late-strings": (_npz_with(_LATE, np.full(16, "abc")), f"'{_LATE}' has dtype <U3 \\(strings\\)"),
    "npz-nan": (_npz_with(_LATE, np.full(16, np.nan, "float32")), f"'{_LATE}' holds 16 non-finite"),
    "npz-inf": (_npz_with("cls", np.full((1, 1, 16), -np.inf, "float32")), "'cls' holds 16 non-finite"),
    "npz-int": (_npz_with(_LATE, np.arange(16)), "dtype int64 \\(integers\\)"),
    "npz-bool": (_npz_with(_LATE, np.ones(16, bool)), "booleans"),
    "npz-complex": (_npz_with(_LATE, np.ones(16, "complex64")), "complex numbers"),
    "npz-datetime": (_npz_with(_LATE, np.zeros(16, "datetime64[s]")), "dates"),
    "npz-float64-overflow": (_npz_with(_LATE, np.full(16, 1e39)),
                             "weight 'transformer_block_1/mlp/dense_2/bias' \\(from '" + _LATE
                             + "'\\) does not fit the variable's dtype float32: 16 value"),
    "safetensors-int32": (_safetensors_edit(_as_int32), "'norm.bias' has dtype int32"),
    # 9: safetensors headers the reference implementation refuses.
    "safetensors-shared-offsets": (_safetensors_edit(_share_offsets),
                                   "tensor 'norm.weight' overlap tensor 'norm.bias'"),
    "safetensors-duplicate-key": (_safetensors_edit(_duplicate_entry, raw=True), "'norm.bias' appears twice"),
    "safetensors-string-offsets": (_safetensors_edit(lambda h: h["norm.bias"].update(data_offsets=["0", "64"])),
                                   "data_offsets"),
    "safetensors-metadata-list": (_safetensors_edit(lambda h: h.update(__metadata__=["pt"])), "__metadata__"),
    "safetensors-negative-dim": (_safetensors_edit(lambda h: h["norm.bias"].update(shape=[-16])),
                                 "a shape is a list of non-negative integers"),
    # 10: unreadable files.
    "npz-truncated": (_truncated(lambda _: _fixtures.path("plain.npz")), "cannot be read as one"),
    "safetensors-truncated": (_truncated(lambda _: _fixtures.path("plain.safetensors")), "the file is truncated"),
    "h5-truncated": (_truncated(lambda h5: h5), "cannot read it as HDF5"),
    "npz-garbage-npy-header": (_bad_npy_header, "cannot read the .npy header"),
}


@pytest.fixture(scope="module")
def plain_weights_h5(tmp_path_factory):
    """A `.weights.h5` of the "plain" fixture, written by Keras."""
    model = _fixtures.model_for("plain")
    load_weights(model, _fixtures.path("plain.npz"), verbose=False)
    path = tmp_path_factory.mktemp("keras") / "plain.weights.h5"
    model.save_weights(path)
    return path


@pytest.fixture(scope="module")
def plain_model():
    return _fixtures.model_for("plain")


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_files_raise_naming_the_file_and_change_nothing(case, tmp_path, plain_model, plain_weights_h5):
    build, match = HOSTILE[case]
    path = build(tmp_path, plain_weights_h5)
    before = {v.path: np.array(v) for v in plain_model.weights}
    with pytest.raises(ValueError, match=match) as caught:
        load_weights(plain_model, path, verbose=False)
    assert str(path) in str(caught.value)
    for v in plain_model.weights:
        np.testing.assert_array_equal(np.asarray(v), before[v.path], err_msg=v.path)


def test_a_bad_value_late_in_the_file_changes_no_weight(tmp_path, plain_model):
    # Weights are assigned in sorted order; this one comes after 30 others.
    # Whatever the error, none of them may have been assigned.
    path = _npz_with(_LATE, np.full(16, "abc"))(tmp_path, None)
    before = {v.path: np.array(v) for v in plain_model.weights}
    with pytest.raises(ValueError):
        load_weights(plain_model, path, verbose=False)
    changed = [v.path for v in plain_model.weights if not np.array_equal(np.asarray(v), before[v.path])]
    assert changed == []


def test_float16_and_float64_checkpoints_still_load(tmp_path):
    arrays = _fixtures.fixture_arrays("plain.npz")
    model = _fixtures.model_for("plain")
    for dtype in ("float16", "float64"):
        path = _fixtures.write_npz(tmp_path / f"{dtype}.npz", {k: v.astype(dtype) for k, v in arrays.items()})
        load_weights(model, path, verbose=False)
        kernel = np.asarray(model.get_layer("head").kernel)
        np.testing.assert_array_equal(kernel, arrays["head/kernel"].astype(dtype).astype("float32"))


def test_a_broken_cached_preset_says_where_it_is_and_that_deleting_it_refetches(tmp_path, monkeypatch):
    from keras_vit.checkpoints import PRESETS, loading, presets

    name = sorted(PRESETS)[0]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    cached = tmp_path / "home" / "models" / "keras_vit" / PRESETS[name].filename
    assert presets.cache_directory() == str(cached.parent)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(_fixtures.path("plain.safetensors").read_bytes()[:3000])  # cut short
    monkeypatch.setattr(loading, "fetch_preset", lambda *args, **kwargs: str(cached))
    hint = f"The file is the cached download {cached}; delete it and the next call downloads it again."
    with pytest.raises(ValueError, match="the file is truncated") as caught:
        loading.resolve_checkpoint(name)
    assert str(caught.value).endswith(hint)
    # A file that breaks only when its arrays are read (here: replaced after
    # opening) gets the same hint from load_weights.
    cached.write_bytes(_fixtures.path("plain.safetensors").read_bytes())
    checkpoint = loading.resolve_checkpoint(name)
    cached.write_bytes(b"\0" * cached.stat().st_size)
    with pytest.raises(ValueError, match="changed or disappeared since it was opened") as caught:
        load_weights(_fixtures.model_for("plain"), checkpoint, verbose=False)
    assert str(caught.value).endswith(hint)
    # A file the user named keeps its plain message.
    with pytest.raises(ValueError) as caught:
        loading.resolve_checkpoint(cached)
    assert "cached download" not in str(caught.value)
    # So does the user's own copy of a preset in `local_dir`: deleting it
    # would not bring it back.
    own = tmp_path / "kaggle-input" / PRESETS[name].filename
    own.parent.mkdir()
    own.write_bytes(b"\0" * 100)
    monkeypatch.setattr(loading, "fetch_preset", lambda *args, **kwargs: str(own))
    with pytest.raises(ValueError) as caught:
        loading.resolve_checkpoint(name, local_dir=str(own.parent))
    assert str(own) in str(caught.value) and "cached download" not in str(caught.value)


_MEMORY_SCRIPT = r"""
import json, re, sys

from keras_vit import VisionTransformer
from keras_vit.checkpoints import load_weights


def memory(field):
    # Linux: VmRSS is the resident size now, VmHWM its peak since the last
    # reset. (ru_maxrss cannot be used: a child inherits its parent's peak
    # across fork and exec.)
    with open("/proc/self/status") as handle:
        return int(re.search(field + r":\s+(\d+) kB", handle.read()).group(1)) * 1024


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # VmHWM := VmRSS
    except OSError:
        pass  # then each peak includes the earlier ones (the baselines come first)


config, files = json.loads(sys.argv[1]), json.loads(sys.argv[2])
config["input_shape"] = tuple(config["input_shape"])
model = VisionTransformer(**config)
results = {}
for name, path in files:
    reset_peak()
    before = memory("VmRSS")
    try:
        load_weights(model, path, verbose=False)
        outcome = "loaded"
    except ValueError as error:
        outcome = "ValueError: " + str(error)
    results[name] = {"before": before, "peak": memory("VmHWM"), "outcome": outcome}
print("RESULTS " + json.dumps(results))
"""


@pytest.mark.backend_independent
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="measures memory through Linux /proc")
def test_arrays_the_model_does_not_need_are_never_read(tmp_path, plain_weights_h5):
    # Files with an extra array declared at 1 GiB (never written in the .h5,
    # zeros compressed to ~4 MB in the .npz) load with no more memory than a
    # clean file; one under a needed key is refused before it is read. Peak
    # RSS is measured in a fresh process: clean files first (baseline), then
    # each bomb; the peak during a load above the resident size before it
    # is what the load cost. Run with -s to see the numbers.
    import shutil
    import subprocess
    import sys

    gib = 1 << 28  # float32 values
    model = _fixtures.model_for("plain")
    model.save(tmp_path / "plain.keras")
    files = {"baseline .npz": shutil.copy(_fixtures.path("plain.npz"), tmp_path / "clean.npz"),
             "baseline .weights.h5": plain_weights_h5,
             "baseline .keras": tmp_path / "plain.keras"}
    # The bombs sit where optimizer state does (it carries nothing the model
    # computes, so the load succeeds without reading it).
    npz = _fixtures.add_npy_member(shutil.copy(_fixtures.path("plain.npz"), tmp_path / "bomb.npz"),
                                   "opt/state/bomb.npy", (gib,))
    h5 = _fixtures.add_unwritten_dataset(shutil.copy(plain_weights_h5, tmp_path / "bomb.weights.h5"),
                                         "optimizer/bomb", (1 << 14, 1 << 14))
    files["unused 1 GiB in .npz"] = npz
    files["unused 1 GiB in .weights.h5"] = h5
    files["unused 1 GiB in .keras"] = _fixtures.keras_archive_with(
        tmp_path / "bomb.keras", h5, tmp_path / "plain.keras")
    files["1 GiB patch kernel in .weights.h5"] = _fixtures.add_unwritten_dataset(
        shutil.copy(plain_weights_h5, tmp_path / "kernel.weights.h5"),
        "layers/patch_embedding/projection/vars/0", (gib,), replace=True)
    config, _, _ = _fixtures.reference("plain")
    completed = subprocess.run(
        [sys.executable, "-c", _MEMORY_SCRIPT, json.dumps(config),
         json.dumps([(name, str(path)) for name, path in files.items()])],
        capture_output=True, text=True, timeout=600,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULTS ")]
    assert completed.returncode == 0 and lines, completed.stderr[-3000:]
    results = json.loads(lines[-1][len("RESULTS "):])
    mib = 1 << 20
    for name, result in results.items():
        print(f"{name}: RSS {result['before'] / mib:.0f} MiB before, peak {result['peak'] / mib:.0f} MiB "
              f"during the load (+{(result['peak'] - result['before']) / mib:.1f} MiB); {result['outcome'][:100]}")
    for name, result in results.items():
        if name.startswith("1 GiB"):
            assert "more than the model's" in result["outcome"], result
        else:
            assert result["outcome"] == "loaded", (name, result)
        # A bomb read whole would add 1024 MiB.
        assert result["peak"] - result["before"] < 64 * mib, (name, result)


@pytest.mark.backend_independent
def test_a_file_value_keras_vit_does_not_know_is_refused_naming_it(tmp_path):
    # Strict means refuse: an array under a key no converter knows might
    # carry function; the load does not guess, and the model is unchanged.
    import shutil

    path = _fixtures.add_npy_member(shutil.copy(_fixtures.path("plain.npz"), tmp_path / "extra.npz"),
                                    "Transformer/encoderblock_0/Mystery_9/scale.npy", (16,))
    model = _fixtures.model_for("plain")
    before = [np.array(w) for w in model.get_weights()]
    with pytest.raises(ValueError, match="Mystery_9/scale.*refused"):
        load_weights(model, path, verbose=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
