import zipfile

import numpy as np
import pytest

from keras_vit.checkpoints import read_checkpoint
from tests.checkpoints import _fixtures

# HDF5 and zip code only: runs once, under TensorFlow.
pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("keras_files")
    model = _fixtures.model_for("plain")
    model.save_weights(directory / "m.weights.h5")
    model.save(directory / "m.keras")
    return directory / "m.weights.h5", directory / "m.keras"


def _eager(path):
    import h5py

    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda n, i: arrays.__setitem__(n, i[()]) if isinstance(i, h5py.Dataset) else None)
    return arrays


def test_datasets_are_read_on_access_from_weights_files_and_archives(tmp_path, keras_files):
    weights, archive = keras_files
    expected = _eager(weights)
    # Keras stores the member uncompressed (read in place); a re-zipped,
    # compressed archive is read by decompressing as h5py asks.
    compressed = tmp_path / "compressed.keras"
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(compressed, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            target.writestr(member.filename, source.read(member))
    for path in (weights, archive, compressed):
        kind, arrays = read_checkpoint(path)
        assert kind == "keras" and sorted(arrays) == sorted(expected)
        for key, value in expected.items():
            assert arrays.info(key) == (value.shape, value.dtype)
            np.testing.assert_array_equal(arrays[key], value, err_msg=f"{path.name}: {key}")


def test_an_unwritten_huge_dataset_is_listed_not_read(tmp_path, keras_files):
    import shutil

    path = shutil.copy(keras_files[0], tmp_path / "bomb.weights.h5")
    _fixtures.add_unwritten_dataset(path, "extra/bomb", (1 << 40,))  # 4 TiB declared
    _, arrays = read_checkpoint(path)
    assert arrays.info("extra/bomb").shape == (1 << 40,)
    assert arrays["layers/dense/vars/1"].shape == (5,)


def test_datasets_stored_in_other_files_are_refused(tmp_path, keras_files):
    import shutil

    import h5py

    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(4, dtype="<f4").tobytes())
    path = shutil.copy(keras_files[0], tmp_path / "external.weights.h5")
    with h5py.File(path, "a") as handle:
        del handle["layers/dense/vars/1"]
        handle.create_dataset("layers/dense/vars/1", shape=(4,), dtype="<f4", external=[(str(secret), 0, 16)])
    with pytest.raises(ValueError, match="'layers/dense/vars/1' stores its data outside the file"):
        read_checkpoint(path)


def test_an_archive_without_readable_weights_raises_naming_it(tmp_path, keras_files):
    path = tmp_path / "broken.keras"
    with zipfile.ZipFile(keras_files[1]) as source, zipfile.ZipFile(path, "w") as target:
        for member in source.infolist():
            data = source.read(member)
            target.writestr(member, data[:200] if member.filename == "model.weights.h5" else data)
    with pytest.raises(ValueError, match="cannot read its model.weights.h5 as HDF5") as caught:
        read_checkpoint(path)
    assert str(path) in str(caught.value)
