"""Access to the timm-written fixtures in tests/fixtures/checkpoints/
(made by tests/fixtures/make_checkpoints.py)."""

import json
import pathlib

import keras
import numpy as np

from keras_vit import VisionTransformer

DIRECTORY = pathlib.Path(__file__).parents[1] / "fixtures" / "checkpoints"
# keras_vit's logits vs timm's float64 logits, every backend (measured: 3e-7 to 7e-7).
TOLERANCE = 1e-5


def path(name):
    return DIRECTORY / name


def reference(case):
    """`(config, images, logits)` of a fixture case."""
    with np.load(DIRECTORY / "reference.npz", allow_pickle=False) as data:
        config = json.loads(str(data[f"{case}/config"]))
        return config, data[f"{case}/images"], data[f"{case}/logits"]


def model_for(case, **overrides):
    config, _, _ = reference(case)
    config["input_shape"] = tuple(config["input_shape"])
    config.update(overrides)
    return VisionTransformer(**config)


def logits(model, images):
    return np.asarray(keras.ops.convert_to_numpy(model(images, training=False)), dtype="float64")


def max_difference(model, case):
    _, images, expected = reference(case)
    return float(np.abs(logits(model, images) - expected).max())


# Hostile and broken files, made from the fixtures by the tests.


def fixture_arrays(name):
    """The arrays of a fixture `.npz` as a dict (read eagerly)."""
    with np.load(DIRECTORY / name, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def write_npz(path, arrays):
    """`np.savez` to exactly `path` (no `.npz` appended)."""
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def safetensors_bytes(header, data=b"", raw_header=None):
    """A `.safetensors` file's bytes from a header dict (or raw JSON bytes)."""
    import struct

    raw = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def add_npy_member(path, name, shape, dtype="<f4", fill=b"\0", compress=True):
    """Appends a `.npy` member `name` with `shape` to the zip at `path`,
    streaming its data in pieces, so an array of any declared size is
    written without ever being held in memory (zeros compress ~1000:1)."""
    import zipfile

    count = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    chunk = fill * (16 << 20)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "a", compression=method, compresslevel=1 if compress else None) as archive:
        with archive.open(name, "w", force_zip64=count > (1 << 31)) as member:
            np.lib.format.write_array_header_1_0(
                member, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": tuple(shape)}
            )
            while count > 0:
                member.write(chunk[:count])
                count -= len(chunk)
    return path


def add_unwritten_dataset(path, name, shape, dtype="float32", replace=False):
    """Adds to the HDF5 file at `path` a dataset of `shape` that is created
    but never written: the file stays small whatever the declared size,
    and reading it would materialise it (as fill values) in full."""
    import h5py

    with h5py.File(path, "a") as handle:
        if replace:
            del handle[name]
        handle.create_dataset(name, shape=shape, dtype=dtype)
    return path


def keras_archive_with(path, weights_h5, source_archive):
    """Writes at `path` a copy of the `.keras` archive `source_archive` whose
    `model.weights.h5` member is replaced by the file `weights_h5` (stored
    uncompressed, as Keras writes it)."""
    import zipfile

    with zipfile.ZipFile(source_archive) as source, zipfile.ZipFile(path, "w") as target:
        for member in source.infolist():
            if member.filename == "model.weights.h5":
                target.write(weights_h5, "model.weights.h5")
            else:
                target.writestr(member, source.read(member))
    return path


def truncated_copies(source, directory, points=(0.02, 0.25, 0.5, 0.75, 0.98)):
    """Copies of `source` cut at fractions of its size (at least 9 bytes,
    so the container is still told by its first bytes)."""
    data = pathlib.Path(source).read_bytes()
    paths = []
    for fraction in points:
        cut = max(9, int(len(data) * fraction))
        path = pathlib.Path(directory) / f"cut_{cut}_{pathlib.Path(source).name}"
        path.write_bytes(data[:cut])
        paths.append(path)
    return paths
