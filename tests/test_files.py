"""keras_vit._files: atomic writes and the clean-up of temporaries left by
killed processes. Plain Python: runs once, under TensorFlow."""

import os
import subprocess
import sys

import pytest

from keras_vit import _files

pytestmark = pytest.mark.backend_independent


def dead_pid():
    """The id of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not _files.pid_alive(child.pid)
    return child.pid


def test_pid_alive():
    assert _files.pid_alive(os.getpid())
    assert not _files.pid_alive(dead_pid())
    for bad in (0, -1, None, "1", 1.5):
        assert not _files.pid_alive(bad)


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with _files.atomic_write(path, "w") as handle:
            handle.write("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]  # the temporary is gone
    _files.atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new"
    _files.atomic_write_text(path, "newer")
    assert path.read_text() == "newer"
    assert os.listdir(tmp_path) == ["a.txt"]
    with pytest.raises(ValueError, match="`mode` must be 'w' or 'wb'"):
        with _files.atomic_write(path, "a"):
            pass


def test_atomic_path_for_writers_that_take_a_name(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with _files.atomic_path(path) as staged:
            assert os.path.dirname(staged) == str(tmp_path)
            assert os.path.basename(staged).startswith(f".keras_vit-tmp-{os.getpid()}-w.bin.")
            with open(staged, "wb") as handle:
                handle.write(b"half")
            raise RuntimeError("failed")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["w.bin"]

    # A writer that itself replaces the name it was given (an atomic writer).
    with _files.atomic_path(path) as staged:
        _files.atomic_write_bytes(staged, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["w.bin"]


def test_atomic_path_without_overwrite_never_replaces(tmp_path):
    path = tmp_path / "w.bin"
    with _files.atomic_path(path, overwrite=False) as staged:
        with open(staged, "wb") as handle:
            handle.write(b"first")
    assert path.read_bytes() == b"first"
    # A file that appears while the block runs is not replaced either.
    other = tmp_path / "x.bin"
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with _files.atomic_path(other, overwrite=False) as staged:
            other.write_bytes(b"the user's")
            with open(staged, "wb") as handle:
                handle.write(b"mine")
    assert other.read_bytes() == b"the user's"
    assert sorted(os.listdir(tmp_path)) == ["w.bin", "x.bin"]


def test_fsync_tree(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "f").write_bytes(b"x")
    (tmp_path / "g").write_bytes(b"y")
    _files.fsync_tree(tmp_path / "d")
    _files.fsync_tree(tmp_path / "g")


def test_remove_stale_removes_only_dead_processes_keras_vit_names(tmp_path):
    dead, live = dead_pid(), os.getpid()
    stale_file = f".keras_vit-tmp-{dead}-weights.npz.abc123"
    stale_folder = f".keras_vit-tmp-{dead}-model.keras.def456"
    kept = [
        f".keras_vit-tmp-{live}-weights.npz.ghi789",  # a live process's work
        f".keras_vit-export-{dead}-model.keras.jkl012",  # another kind
        ".keras_vit-tmp-12345678",  # an older random name: no pid in it
        ".keras_vit-tmp-notapid-x",
        f"keras_vit-tmp-{dead}-x",  # not hidden: not ours
        f".keras_vit-tmpx-{dead}-x",
        "weights.npz",
    ]
    for name in [stale_file, *kept]:
        (tmp_path / name).write_bytes(b"data")
    (tmp_path / stale_folder).mkdir()
    (tmp_path / stale_folder / "inner").write_bytes(b"data")

    assert _files.stale_names(tmp_path) == sorted([stale_file, stale_folder])
    removed = _files.remove_stale(tmp_path)
    assert sorted(removed) == sorted(str(tmp_path / n) for n in [stale_file, stale_folder])
    assert sorted(os.listdir(tmp_path)) == sorted(kept)
    assert _files.remove_stale(tmp_path / "missing") == []
    assert _files.stale_names(tmp_path / "missing") == []


def test_temp_sibling_prefix_names_the_process_and_the_file(tmp_path):
    prefix = _files.temp_sibling_prefix(tmp_path / "model.keras", "export")
    assert prefix == f".keras_vit-export-{os.getpid()}-model.keras."
    assert _files._owner_pid(prefix + "abc", "export") == os.getpid()


def test_written_files_get_the_usual_permissions(tmp_path):
    # Not mkstemp's 0600: what `open` would give, 0666 less the umask.
    mask = os.umask(0o022)
    try:
        _files.atomic_write_text(tmp_path / "a.json", "{}")
        with _files.atomic_path(tmp_path / "b.keras", suffix=".keras") as staged:
            assert staged.endswith(".keras")
            with open(staged, "wb") as handle:
                handle.write(b"x")
    finally:
        os.umask(mask)
    for name in ("a.json", "b.keras"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
