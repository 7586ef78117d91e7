import json
import struct

import numpy as np
import pytest

from keras_vit.checkpoints.safetensors_io import (
    bfloat16_bits_to_float32,
    read_safetensors,
    read_safetensors_header,
    write_safetensors,
)
from tests.checkpoints import _fixtures

# NumPy only: runs once, under TensorFlow.
pytestmark = pytest.mark.backend_independent


def test_reads_a_file_written_by_safetensors_torch():
    tensors, metadata = read_safetensors(_fixtures.path("plain.safetensors"))
    assert metadata == {"format": "pt"}
    assert tensors["patch_embed.proj.weight"].shape == (16, 3, 4, 4)
    assert tensors["blocks.1.attn.qkv.weight"].shape == (48, 16)
    assert tensors["cls_token"].dtype == np.float32
    # The same bytes through NumPy directly, from the header's offsets.
    header, start = read_safetensors_header(_fixtures.path("plain.safetensors"))
    begin, end = header["head.bias"]["data_offsets"]
    raw = _fixtures.path("plain.safetensors").read_bytes()[start + begin:start + end]
    np.testing.assert_array_equal(tensors["head.bias"], np.frombuffer(raw, "<f4"))


def test_round_trip_keeps_dtypes_shapes_and_values(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "f32": rng.standard_normal((3, 4)).astype("float32"),
        "f16": rng.standard_normal(5).astype("float16"),
        "f64": rng.standard_normal((2, 1, 2)),
        "i64": np.arange(6).reshape(2, 3),
        "u8": np.arange(4, dtype="uint8"),
        "scalar": np.array(1.5, "float32"),
        "empty": np.zeros((0, 3), "float32"),
    }
    path = tmp_path / "w.safetensors"
    write_safetensors(path, tensors, {"note": "x"})
    loaded, metadata = read_safetensors(path)
    assert metadata == {"note": "x"}
    assert set(loaded) == set(tensors)
    for name, value in tensors.items():
        assert loaded[name].dtype == value.dtype, name
        np.testing.assert_array_equal(loaded[name], value)
    header, start = read_safetensors_header(path)
    assert start % 8 == 0  # data section aligned, as the reference writer does


def test_bfloat16_is_widened_exactly(tmp_path):
    values = np.array([1.0, -2.5, 3.140625, 0.0], "float32")  # representable in bf16
    bits = (values.view("<u4") >> 16).astype("<u2")
    np.testing.assert_array_equal(bfloat16_bits_to_float32(bits), values)
    header = {"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}
    raw = json.dumps(header).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bits.tobytes())
    np.testing.assert_array_equal(read_safetensors(path)[0]["w"], values)


@pytest.mark.parametrize(
    "payload, match",
    [
        (b"\x01\x00", "shorter than 8 bytes"),
        (struct.pack("<Q", 10**12) + b"{}", "exceeds the file size"),
        (struct.pack("<Q", 4) + b"nope", "bad JSON header"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    ],
)
def test_malformed_files_raise(tmp_path, payload, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=match):
        read_safetensors(path)


def test_offsets_that_do_not_fit_raise(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}).encode()
    path = tmp_path / "short.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 12)
    with pytest.raises(ValueError, match="'w'.*does not fit"):
        read_safetensors(path)


def test_bad_metadata_and_dtype_raise(tmp_path):
    with pytest.raises(TypeError, match="metadata"):
        write_safetensors(tmp_path / "a", {"w": np.ones(1, "float32")}, {"n": 1})
    with pytest.raises(TypeError, match="'w' has unsupported dtype"):
        write_safetensors(tmp_path / "b", {"w": np.ones(1, "complex64")})


def _f32(offsets, shape=(2,)):
    return {"dtype": "F32", "shape": list(shape), "data_offsets": list(offsets)}


# What the reference implementation (safetensors 0.8) refuses, and more:
# tensors must tile the data section exactly (no overlap, no gap, no
# trailing bytes), and a name or field given twice is ambiguous.
@pytest.mark.parametrize(
    "header, data, raw, match",
    [
        ({"a": _f32([0, 8]), "b": _f32([0, 8])}, 8, None, "tensor 'b' overlap tensor 'a' \\(bytes 0..8"),
        ({"a": _f32([0, 8]), "b": _f32([4, 12])}, 12, None, "overlap tensor 'a'"),
        ({"a": _f32([4, 8], (1,))}, 8, None, "bytes 0..4 of the data section belong to no tensor \\(the next, 'a'"),
        ({"a": _f32([0, 4], (1,))}, 8, None, "cover 4 bytes but the data section holds 8"),
        (None, 16, b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
                   b'"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', "'a' appears twice"),
        (None, 8, b'{"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
         "'dtype' appears twice"),
        ({"a": _f32(["0", "8"])}, 8, None, r"data_offsets \['0', '8'\]; expected two non-negative integers"),
        ({"a": _f32([0, 8.0])}, 8, None, "expected two non-negative integers"),
        ({"a": _f32([0])}, 8, None, "expected two non-negative integers"),
        ({"__metadata__": [1], "a": _f32([0, 8])}, 8, None, "'__metadata__' must map strings to strings"),
        ({"__metadata__": {"n": 1}, "a": _f32([0, 8])}, 8, None, "must map strings to strings"),
        (None, 0, b'{"__metadata__":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        ({"a": _f32([0, 8], (-2,))}, 8, None, r"shape \[-2\]; a shape is a list of non-negative integers"),
        ({"a": _f32([0, 8], (2.0,))}, 8, None, "non-negative integers"),
        ({"a": _f32([0, 4], (True,))}, 4, None, "non-negative integers"),
        ({"a": _f32([0, 8], "2")}, 8, None, "non-negative integers"),
        ({"a": _f32([0, 8], (2**32, 2**32, 4))}, 8, None, "size overflows 64 bits"),
        ({"a": "x"}, 0, None, "malformed header entry for tensor 'a'"),
        ({"a": {"dtype": "F32", "shape": [2]}}, 8, None, "needs 'dtype', 'shape' and 'data_offsets'"),
        ({"a": {"dtype": 5, "shape": [2], "data_offsets": [0, 8]}}, 8, None, "has dtype 5"),
        (None, 8, b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,' + b"9" * 5000 + b"]}}", "bad JSON"),
    ],
    ids=["same-offsets", "overlap", "gap", "trailing-bytes", "duplicate-tensor", "duplicate-field",
         "string-offsets", "float-offset", "one-offset", "metadata-list", "metadata-int-value",
         "deep-json", "negative-dim", "float-dim", "bool-dim", "string-shape", "overflow",
         "entry-not-object", "entry-missing-offsets", "dtype-not-string", "huge-number"],
)
def test_malformed_headers_raise_a_value_error_naming_the_file(tmp_path, header, data, raw, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_fixtures.safetensors_bytes(header, b"\0" * data, raw))
    with pytest.raises(ValueError, match=match) as caught:
        read_safetensors(path)
    assert str(path) in str(caught.value)


def test_tensors_are_read_on_access_and_unsorted_offsets_are_fine(tmp_path):
    from keras_vit.checkpoints.safetensors_io import open_safetensors

    # Entries need not be listed in offset order (the reference accepts it).
    header = {"b": _f32([8, 16]), "a": _f32([0, 8])}
    data = np.arange(4, dtype="<f4").tobytes()
    path = tmp_path / "w.safetensors"
    path.write_bytes(_fixtures.safetensors_bytes(header, data))
    tensors, metadata = open_safetensors(path)
    assert metadata == {} and list(tensors) == ["b", "a"]
    assert tensors.info("b") == ((2,), np.dtype("float32"))
    np.testing.assert_array_equal(tensors["b"], [2.0, 3.0])


def test_a_failed_write_leaves_the_destination_as_it_was(tmp_path, monkeypatch):
    from keras_vit.checkpoints import safetensors_io

    path = tmp_path / "mine.safetensors"
    path.write_bytes(b"precious")
    calls = []

    def interrupted(handle, array):
        # Half of the first tensor reaches the disk, then the process is
        # interrupted (a kill never gets this far: nothing at `path` moves).
        calls.append(array.nbytes)
        handle.write(b"\0" * (array.nbytes // 2))
        handle.flush()
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors_io, "_write_tensor", interrupted, raising=False)
    with pytest.raises(KeyboardInterrupt):
        write_safetensors(path, {"w": np.ones(1024, "float32")})
    assert calls == [4096]
    assert path.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.safetensors"]  # no temporary left


def test_names_must_be_strings():
    with pytest.raises(TypeError, match="Tensor names must be strings"):
        write_safetensors("unused", {1: np.ones(1, "float32")})
    with pytest.raises(TypeError, match="'__metadata__'"):
        write_safetensors("unused", {"__metadata__": np.ones(1, "float32")})
