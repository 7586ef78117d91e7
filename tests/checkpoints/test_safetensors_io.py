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
