import pickle
import shutil
import zipfile

import numpy as np
import pytest

from keras_vit.checkpoints import read_checkpoint, sniff_format
from tests.checkpoints import _fixtures

# File sniffing and reading are NumPy/h5py only: runs once, under TensorFlow.
pytestmark = pytest.mark.backend_independent


@pytest.mark.parametrize(
    "fixture, expected",
    [("plain.npz", "google"), ("no_class_slot.npz", "big_vision"),
     ("plain.safetensors", "timm"), ("registers.safetensors", "timm")],
)
def test_format_is_told_by_content_not_name(tmp_path, fixture, expected):
    # A misleading name: the other format's extension.
    misleading = tmp_path / ("weights.safetensors" if fixture.endswith(".npz") else "weights.npz")
    shutil.copy(_fixtures.path(fixture), misleading)
    assert sniff_format(misleading) == expected
    assert sniff_format(_fixtures.path(fixture)) == expected


def test_keras_weights_and_archives_are_recognised(tmp_path):
    model = _fixtures.model_for("plain")
    model.save_weights(tmp_path / "m.weights.h5")
    model.save(tmp_path / "m.keras")
    shutil.copy(tmp_path / "m.weights.h5", tmp_path / "no_extension")
    shutil.copy(tmp_path / "m.keras", tmp_path / "archive.bin")
    for name in ("m.weights.h5", "no_extension", "m.keras", "archive.bin"):
        assert sniff_format(tmp_path / name) == "keras", name


def test_pickles_are_refused_without_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("unpickled!",))

    plain = tmp_path / "model.pth"
    plain.write_bytes(pickle.dumps({"w": Boom()}, protocol=2))
    with pytest.raises(ValueError, match="pickled PyTorch checkpoint"):
        read_checkpoint(plain)
    zipped = tmp_path / "model_zip.pth"  # torch.save's zip container
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": Boom()}))
    with pytest.raises(ValueError, match="never unpickles"):
        read_checkpoint(zipped)


def test_object_arrays_in_npz_are_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, **{"embedding/kernel": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="allow_pickle=False"):
        read_checkpoint(path)


def test_bfloat16_npz_arrays_are_widened(tmp_path):
    arrays = dict(np.load(_fixtures.path("plain.npz")))
    kernel = arrays["embedding/kernel"]
    bits = (kernel.view("<u4") >> 16).astype("<u2").view("V2")  # as JAX saves bfloat16
    arrays["embedding/kernel"] = bits
    np.savez(tmp_path / "bf16.npz", **arrays)
    _, loaded = read_checkpoint(tmp_path / "bf16.npz")
    truncated = ((kernel.view("<u4") >> 16) << 16).view("<f4")
    np.testing.assert_array_equal(loaded["embedding/kernel"], truncated)


@pytest.mark.parametrize(
    "content, match",
    [(b"hello world, not weights", "not a supported checkpoint"),
     (None, "not in the Google ViT layout")],
)
def test_unknown_contents_raise_saying_what_is_supported(tmp_path, content, match):
    path = tmp_path / "file"
    if content is None:
        np.savez(path.with_suffix(".npz"), other=np.ones(2))
        path = path.with_suffix(".npz")
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        read_checkpoint(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint file"):
        read_checkpoint(tmp_path / "absent.npz")


def test_hugging_face_transformers_layout_gets_a_hint(tmp_path):
    from keras_vit.checkpoints import write_safetensors

    path = tmp_path / "model.safetensors"
    write_safetensors(path, {"vit.embeddings.cls_token": np.zeros((1, 1, 4), "float32")})
    with pytest.raises(ValueError, match="without the keys of a timm or transformers ViT"):
        read_checkpoint(path)


def test_arrays_are_read_lazily_and_equal_numpys(tmp_path):
    for name in ("plain.npz", "no_class_slot.npz"):
        _, arrays = read_checkpoint(_fixtures.path(name))
        expected = _fixtures.fixture_arrays(name)
        assert list(arrays) == list(expected)
        for key, value in expected.items():
            assert arrays.info(key) == (value.shape, value.dtype), key
            np.testing.assert_array_equal(arrays[key], value, err_msg=key)
    # Fortran-ordered and big-endian members come back as NumPy reads them.
    odd = {"embedding/kernel": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
           "x": np.arange(3, dtype=">f8")}
    _, arrays = read_checkpoint(_fixtures.write_npz(tmp_path / "odd.npz", odd))
    for key, value in odd.items():
        np.testing.assert_array_equal(arrays[key], value)


def test_opening_an_oversized_npz_reads_no_array_data(tmp_path):
    # A member declaring 2**40 float32 (4 TiB) but holding 16 bytes: the
    # header alone tells that it is truncated; nothing is allocated.
    path = _fixtures.write_npz(tmp_path / "w.npz", _fixtures.fixture_arrays("plain.npz"))
    import zipfile

    with zipfile.ZipFile(path, "a") as archive, archive.open("big.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": (1 << 40,)})
        member.write(b"\0" * 16)
    match = r"'big.npy' declares an array of shape \(1099511627776,\).*truncated"
    with pytest.raises(ValueError, match=match) as caught:
        read_checkpoint(path)
    assert str(path) in str(caught.value)


def _keras_files(tmp_path):
    model = _fixtures.model_for("plain")
    model.save_weights(tmp_path / "m.weights.h5")
    model.save(tmp_path / "m.keras")
    return tmp_path / "m.weights.h5", tmp_path / "m.keras"


def test_truncated_files_raise_a_value_error_naming_them(tmp_path):
    # Cut anywhere: zip directories lost, JSON headers or HDF5 structures
    # cut short, data missing. Never BadZipFile, OSError or a raw h5py error.
    sources = [_fixtures.path("plain.npz"), _fixtures.path("plain.safetensors"), *_keras_files(tmp_path)]
    for source in sources:
        for path in _fixtures.truncated_copies(source, tmp_path):
            with pytest.raises(ValueError) as caught:
                layout, arrays = read_checkpoint(path)
                for key in arrays:  # a cut that spares the headers shows on reading
                    arrays[key]
            assert str(path) in str(caught.value), (path, caught.value)


def _npy_header(shape):
    import io

    handle = io.BytesIO()
    np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return handle.getvalue()


@pytest.mark.parametrize(
    "member, match",
    [(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'", "cannot read the .npy header of member 'embedding/kernel.npy'"),
     (b"\x93NUMPY\x01\x00\x06\x00[1, 2]", "cannot read the .npy header of member 'embedding/kernel.npy'"),
     (b"\x93NUMPY\x01\x00\x0a\x00not python", "cannot read the .npy header of member 'embedding/kernel.npy'"),
     (b"\x93NUMPY\x09\x00", "cannot read the .npy header of member 'embedding/kernel.npy'"),
     (b"NOTNUMPY" * 4, "cannot read the .npy header of member 'embedding/kernel.npy'"),
     (_npy_header((-4,)), "negative dimension"),
     (_npy_header((99,)), r"declares an array of shape \(99,\).*\(396 bytes\) but holds 0 bytes"),
     (_npy_header((1,)) + b"\0" * 8, r"\(4 bytes\) but holds 8 bytes")],
    ids=["cut-header", "not-a-dict", "not-python", "bad-version", "no-magic", "negative-shape",
         "missing-data", "extra-data"],
)
def test_malformed_npy_members_raise_a_value_error_naming_file_and_member(tmp_path, member, match):
    import zipfile

    path = tmp_path / "bad.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("embedding/kernel.npy", member)
    with pytest.raises(ValueError, match=match) as caught:
        read_checkpoint(path)
    assert str(path) in str(caught.value) and "Python objects" not in str(caught.value)


def test_a_corrupted_npz_member_is_refused_when_read(tmp_path):
    # Flipping one stored data byte far from the header keeps every header
    # readable; the zip CRC catches it when the array is read.
    path = tmp_path / "flipped.npz"
    kernel = np.arange(1 << 14, dtype="float32")
    data = bytearray(_fixtures.write_npz(path, {"embedding/kernel": kernel}).read_bytes())
    data[bytes(data).index(kernel[-4:].tobytes())] ^= 0xFF
    path.write_bytes(bytes(data))
    _, arrays = read_checkpoint(path)
    with pytest.raises(ValueError, match=r"cannot read member 'embedding/kernel.npy' \(BadZipFile: Bad CRC-32"):
        arrays["embedding/kernel"]


def test_two_members_with_one_name_are_refused(tmp_path):
    import warnings
    import zipfile

    path = tmp_path / "twice.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate
        with zipfile.ZipFile(path, "w") as archive:
            for value in (np.zeros(2, "float32"), np.ones(2, "float32")):
                with archive.open("embedding/kernel.npy", "w") as member:
                    np.lib.format.write_array(member, value)
    with pytest.raises(ValueError, match="two members named 'embedding/kernel.npy'"):
        read_checkpoint(path)


@pytest.mark.parametrize("content", [b"\x89HDF\r\n\x1a\n" + b"\xff" * 600, b"PK\x03\x04" + b"\0" * 100])
def test_garbage_after_a_magic_number_raises_a_value_error(tmp_path, content):
    path = tmp_path / "garbage"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="cannot read it as HDF5|cannot be read as one") as caught:
        read_checkpoint(path)
    assert str(path) in str(caught.value)
