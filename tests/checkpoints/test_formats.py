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
    with pytest.raises(ValueError, match="transformers ViTModel"):
        read_checkpoint(path)
