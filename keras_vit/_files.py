"""Writing files so that a kill never leaves a half-written one in place.

Every file keras_vit writes for a user (exported weights, a run's
`config.json`, `history.csv`, `metrics.json`, `curves.png`, downloaded
checkpoints) is written to a temporary sibling, flushed to disk with
`fsync`, and moved over the destination with `os.replace`, which is atomic
on POSIX and Windows: a reader sees the old file or the new one, never a
mix. A temporary file left by a killed process carries the process id in
its name, so a later call can tell it is stale and remove it.
"""

import contextlib
import os
import tempfile

# Prefix of every temporary sibling; `remove_stale` only ever deletes names
# that start with it and whose process is gone.
TEMP_PREFIX = ".keras_vit-tmp-"


def pid_alive(pid):
    """Whether a process with this id exists on this machine."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return False
    return True


def _fsync_directory(directory):
    # Makes the rename itself durable; not possible (nor needed) on Windows.
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_temporary(path, suffix=""):
    # mkstemp creates the file with mode 0600; give it the mode `open` would
    # (0666 less the umask), so the final file is as readable as any other.
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=temp_sibling_prefix(path), suffix=suffix, dir=directory)
    mask = os.umask(0)
    os.umask(mask)
    try:
        os.chmod(temporary, 0o666 & ~mask)
    except OSError:
        pass
    return fd, temporary, directory


def temp_sibling_prefix(path, kind="tmp"):
    """The name prefix of temporary siblings of `path` made by this process."""
    return f".keras_vit-{kind}-{os.getpid()}-{os.path.basename(path)}."


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None, newline=None):
    """Opens a temporary sibling of `path` for writing; on success it is
    flushed, fsynced and renamed onto `path`, on error it is removed and
    `path` is left as it was.

    Args:
        path: str or path-like. The destination file.
        mode: `"wb"` or `"w"`.
        encoding: text encoding for `"w"` (default UTF-8).
        newline: as for `open` (`""` for `csv`).

    Yields:
        The open file object.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with atomic_write(path, "w") as handle:
    ...     _ = handle.write("done")
    >>> open(path).read()
    'done'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"`mode` must be 'w' or 'wb'. Received: mode={mode!r}")
    path = os.fspath(path)
    fd, temporary, directory = _new_temporary(path)
    try:
        if mode == "w":
            handle = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        else:
            handle = os.fdopen(fd, "wb")
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


def _fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path):
    """Flushes a file, or every file and folder under a folder, to disk.

    For output that a library wrote by name (Keras's `model.save`, a
    SavedModel export) before it is renamed into place.

    Args:
        path: str or path-like. A file or a directory.
    """
    path = os.fspath(path)
    if not os.path.isdir(path) or os.path.islink(path):
        _fsync_file(path)
        return
    for root, _, files in os.walk(path):
        for name in files:
            target = os.path.join(root, name)
            if not os.path.islink(target):
                _fsync_file(target)
        _fsync_directory(root)


@contextlib.contextmanager
def atomic_path(path, overwrite=True, suffix=""):
    """Yields the name of an empty temporary sibling of `path`, for writers
    that take a file name; once the block ends without error the file is
    fsynced and renamed onto `path`, on error it is removed and `path` is
    left as it was.

    The writer may replace the temporary file (as an atomic writer does) but
    must write exactly that name.

    Args:
        path: str or path-like. The destination file.
        overwrite: bool. With False, an existing `path` (even one created
            while the block ran) is never replaced: `FileExistsError`.
        suffix: str. Ending of the temporary name, for writers that choose
            the format from it (Keras's `.keras`, `.weights.h5`).

    Yields:
        str. The temporary file's path.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.bin")
    >>> with atomic_path(path) as staged:
    ...     with open(staged, "wb") as handle:
    ...         _ = handle.write(b"done")
    >>> open(path, "rb").read()
    b'done'
    """
    path = os.fspath(path)
    fd, temporary, directory = _new_temporary(path, suffix)
    os.close(fd)
    try:
        yield temporary
        _fsync_file(temporary)
        if overwrite:
            os.replace(temporary, path)
        else:
            _move_no_clobber(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


def _move_no_clobber(source, path):
    # A hard link fails atomically if `path` exists; file systems without
    # hard links fall back to a check then a rename.
    try:
        os.link(source, path)
    except FileExistsError:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.") from None
    except OSError:
        if os.path.lexists(path):
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.") from None
        os.replace(source, path)
        return
    os.remove(source)


def atomic_write_bytes(path, data):
    """Writes `data` (bytes) to `path` atomically (see `atomic_write`)."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path, text):
    """Writes `text` (str, UTF-8) to `path` atomically (see `atomic_write`)."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def _owner_pid(name, kind):
    # ".keras_vit-{kind}-{pid}-..." -> pid, or None for other names (the "-"
    # after the pid is required: keras_vit's older random-suffix names such
    # as ".keras_vit-export-12345678" carry no pid).
    head = f".keras_vit-{kind}-"
    if not name.startswith(head):
        return None
    pid, separator, _ = name[len(head):].partition("-")
    return int(pid) if separator and pid.isdigit() else None


def stale_names(directory, kind="tmp"):
    """Names in `directory` of keras_vit temporaries of this `kind`
    (`.keras_vit-{kind}-{pid}-...`) whose owning process is gone, sorted.

    Args:
        directory: str or path-like. The folder to look in (a missing or
            unreadable one has none).
        kind: str. The temporary's kind, as given to `temp_sibling_prefix`.

    Returns:
        A list of names (not paths).

    Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> mine = temp_sibling_prefix(os.path.join(folder, "a.npz")) + "x"
    >>> open(os.path.join(folder, mine), "w").close()
    >>> stale_names(folder)  # this process is alive
    []
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    stale = []
    for name in names:
        pid = _owner_pid(name, kind)
        if pid is not None and not pid_alive(pid):
            stale.append(name)
    return sorted(stale)


def remove_stale(directory, kind="tmp"):
    """Removes temporary siblings (`.keras_vit-{kind}-{pid}-...`) in
    `directory` whose process is gone; returns the removed paths.

    Only names in keras_vit's own temporary pattern are considered, and only
    when the process id in the name no longer exists, so a concurrent
    keras_vit process's work in progress is left alone.
    """
    removed = []
    for name in stale_names(directory, kind):
        target = os.path.join(directory, name)
        if remove_path(target):
            removed.append(target)
    return removed


def remove_path(path):
    """Removes a file, a link or a directory tree; returns whether it went
    (False when the operating system refused)."""
    import shutil

    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    except OSError:
        return False
    return True
