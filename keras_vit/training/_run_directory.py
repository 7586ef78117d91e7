"""The output directory of a `keras-vit train` run: ownership, lock, phase.

A run directory holds a manifest, `.keras-vit-run.json`, listing every file
and directory the run wrote and the run's phase:

- `"training"`: epochs are running; `backup/` holds the last finished epoch;
- `"trained"`: every epoch is done; the test evaluation is pending;
- `"finished"`: `metrics.json` and `curves.png` are written.

Only what the manifest lists is ever deleted (by `--overwrite`); a directory
without a manifest is never emptied. While a run is active it holds an
exclusive lock on `.keras-vit.lock` (an OS file lock, released when the
process exits, however it exits), so two runs never write into one
directory.
"""

import dataclasses
import json
import os
import socket
import sys
import time

from keras_vit import _files

MANIFEST = ".keras-vit-run.json"
LOCK = ".keras-vit.lock"
# What a run writes at the top of its directory (files or folders).
OUTPUTS = ("config.json", "history.csv", "best.keras", "metrics.json", "curves.png", "backup", "logs")
STATES = ("training", "trained", "finished")
_FORMAT = "keras-vit run"


class RunDirectoryError(Exception):
    """A run directory that cannot be used as asked; the message says why and
    what to do (the command line prints it as one line)."""


class DirectoryLock:
    """An exclusive, non-blocking lock on `<directory>/.keras-vit.lock`.

    The lock is the operating system's (`fcntl.flock`, `msvcrt.locking` on
    Windows), so a killed process never leaves it held: its lock file may
    stay behind, but the next run takes the lock and rewrites it. The file
    records who holds the lock, for the message the second run prints.
    """

    def __init__(self, directory):
        self.directory = directory
        self.path = os.path.join(directory, LOCK)
        self._fd = None

    def _describe_holder(self):
        try:
            with open(self.path) as handle:
                holder = json.load(handle)
            return (f"pid {holder['pid']} on {holder['host']}, started "
                    f"{holder['started']}: {holder['command']}")
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that has not recorded itself yet"

    def acquire(self):
        """Takes the lock or raises `RunDirectoryError` naming the holder."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                _lock_fd(fd)
            except OSError:
                os.close(fd)
                raise RunDirectoryError(
                    f"{self.directory} is in use by another keras-vit run ({self._describe_holder()}). "
                    "Wait for it to end, or choose another --output-dir."
                ) from None
            # The previous holder may have removed the file between our open
            # and our lock: then we hold a lock on a deleted file. Retry.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if same:
                break
            os.close(fd)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "command": " ".join(sys.argv) or "python",
        }
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(record).encode())
        os.fsync(fd)
        self._fd = fd

    def is_held(self):
        """Whether a live process holds the lock (without taking it)."""
        try:
            fd = os.open(self.path, os.O_RDWR)
        except OSError:
            return False
        try:
            _lock_fd(fd)
        except OSError:
            return True
        finally:
            os.close(fd)  # closing releases a lock taken here
        return False

    def release(self):
        """Removes the lock file and releases the lock (idempotent)."""
        if self._fd is None:
            return
        try:
            os.remove(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def _lock_fd(fd):
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


class RunDirectory:
    """A run's output directory and its manifest.

    Args:
        path: str. The directory (it need not exist yet).
    """

    def __init__(self, path):
        self.display = os.fspath(path)
        self.path = os.path.abspath(self.display)
        self.manifest_path = os.path.join(self.path, MANIFEST)
        self.lock = DirectoryLock(self.path)
        self.manifest = None
        self.created = False

    def join(self, *names):
        return os.path.join(self.path, *names)

    def relative(self, path):
        """`path` (absolute, or relative to the directory) relative to it,
        with '/' separators; a path outside the directory is an error."""
        relative = os.path.relpath(os.path.join(self.path, path), self.path).replace(os.sep, "/")
        if relative == "." or relative.startswith("../"):
            raise ValueError(f"{path!r} is not inside the run directory {self.path}")
        return relative

    # -- reading -----------------------------------------------------------

    def read_manifest(self):
        """The manifest dict, or None when the directory has none.

        Raises:
            RunDirectoryError: the manifest exists but is damaged.
        """
        try:
            with open(self.manifest_path, encoding="utf-8") as handle:
                manifest = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise RunDirectoryError(
                f"{self.manifest_path} is damaged ({error}); keras-vit cannot tell which files "
                "of the directory are its own, so it changes nothing there. Move the files you "
                "want to keep and delete the directory, or choose another --output-dir."
            ) from None
        valid = (
            isinstance(manifest, dict) and manifest.get("format") == _FORMAT
            and manifest.get("state") in STATES and isinstance(manifest.get("files"), list)
            and isinstance(manifest.get("dirs"), list)
        )
        if not valid:
            raise RunDirectoryError(
                f"{self.manifest_path} is not a keras-vit run manifest; keras-vit changes "
                "nothing in this directory. Choose another --output-dir."
            )
        return manifest

    def read_json(self, name):
        """Reads one of the run's JSON files; a one-line error if damaged."""
        path = self.join(name)
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise RunDirectoryError(
                f"{path} is not valid JSON ({error}). It was written by keras-vit: pass "
                "--overwrite to start this run over, or choose another --output-dir."
            ) from None

    def foreign_outputs(self, manifest=None):
        """Names among `OUTPUTS` present in the directory but not written by
        keras-vit (not in the manifest)."""
        owned = set() if manifest is None else set(manifest["files"]) | set(manifest["dirs"])
        return [name for name in OUTPUTS if os.path.lexists(self.join(name)) and name not in owned]

    # -- claiming ----------------------------------------------------------

    def open(self):
        """Creates the directory if needed and takes its lock.

        Raises:
            RunDirectoryError: the path is a file, or another run holds it.
        """
        if os.path.lexists(self.path) and not os.path.isdir(self.path):
            raise RunDirectoryError(f"--output-dir {self.display} exists and is not a directory.")
        if not os.path.isdir(self.path):
            os.makedirs(self.path)
            self.created = True
        self.lock.acquire()
        # Temporary files of killed keras-vit processes in this directory.
        for directory in (self.path, self.join("backup")):
            _files.remove_stale(directory)

    def close(self):
        """Releases the lock; removes the directory if this process created
        it and nothing was written."""
        self.lock.release()
        if self.created and self.manifest is None:
            try:
                os.rmdir(self.path)
            except OSError:
                pass

    # -- writing -----------------------------------------------------------

    def start(self, state="training"):
        """Writes a new manifest (nothing recorded yet) and makes it current."""
        self.manifest = {"format": _FORMAT, "version": 1, "state": state, "files": [], "dirs": []}
        self._write_manifest()

    def adopt(self, manifest):
        """Continues an existing run's manifest."""
        self.manifest = manifest

    def _write_manifest(self):
        _files.atomic_write_text(self.manifest_path, json.dumps(self.manifest, indent=2) + "\n")

    def set_state(self, state, **values):
        """Records the run's phase (and any values to keep with it)."""
        if state not in STATES:
            raise ValueError(f"`state` must be one of {STATES}. Received: state={state!r}")
        self.manifest["state"] = state
        self.manifest.update(values)
        self._write_manifest()

    @property
    def state(self):
        return None if self.manifest is None else self.manifest["state"]

    def record(self, *paths):
        """Adds paths (absolute or relative to the directory) to the manifest
        before they are written, with the folders keras-vit creates for them.

        Recording first means a file keras-vit was writing when it was killed
        is still known as its own.
        """
        changed = False
        for path in paths:
            relative = self.relative(path)
            parent = os.path.dirname(relative)
            if parent:
                os.makedirs(self.join(parent), exist_ok=True)
            while parent:
                if parent not in self.manifest["dirs"]:
                    self.manifest["dirs"].append(parent)
                    changed = True
                parent = os.path.dirname(parent)
            if relative not in self.manifest["files"]:
                self.manifest["files"].append(relative)
                changed = True
        if changed:
            self._write_manifest()

    def forget(self, *paths):
        """Removes paths that no longer exist from the manifest."""
        names = {self.relative(p) for p in paths}
        self.manifest["files"] = [f for f in self.manifest["files"] if f not in names]
        self._write_manifest()

    def write_text(self, name, text):
        """Records and atomically writes one of the run's text files."""
        self.record(name)
        _files.atomic_write_text(self.join(name), text)

    def write_json(self, name, value):
        self.write_text(name, json.dumps(value, indent=2) + "\n")

    def remove(self, *names):
        """Deletes recorded files (and then recorded folders left empty)."""
        for name in names:
            if name not in self.manifest["files"]:
                raise ValueError(f"{name!r} was not written by this run; refusing to delete it.")
            try:
                os.remove(self.join(name))
            except FileNotFoundError:
                pass
        self.forget(*names)

    def remove_empty_dirs(self, *names):
        """Deletes recorded folders that are empty."""
        for name in names:
            if name in self.manifest["dirs"]:
                try:
                    os.rmdir(self.join(name))
                except OSError:
                    continue  # holds something, or is already gone
                self.manifest["dirs"].remove(name)
        self._write_manifest()

    def remove_owned(self, manifest):
        """Deletes every file and (empty) folder `manifest` lists.

        Returns:
            `(removed, kept)`: relative paths deleted, and paths left in
            place because keras-vit did not write them.
        """
        removed = []
        for name in manifest["files"]:
            target = self.join(name)
            if os.path.isfile(target) or os.path.islink(target):
                os.remove(target)
                removed.append(name)
        for name in sorted(manifest["dirs"], key=lambda d: d.count("/"), reverse=True):
            try:
                os.rmdir(self.join(name))
                removed.append(name + "/")
            except OSError:
                pass  # not empty: it holds something keras-vit did not write
        kept = []
        for root, dirs, files in os.walk(self.path):
            for name in files + [d for d in dirs if not os.listdir(os.path.join(root, d))]:
                relative = self.relative(os.path.join(root, name))
                if relative not in (MANIFEST, LOCK) and not os.path.basename(relative).startswith(".keras_vit-"):
                    kept.append(relative)
        try:
            os.remove(self.manifest_path)
        except FileNotFoundError:
            pass
        return removed, sorted(kept)


def canonical(settings):
    """Settings as they read back from `config.json` (tuples become lists,
    and so on): the form runs are compared in."""
    return json.loads(json.dumps(settings))


@dataclasses.dataclass
class Plan:
    """What a run does with its directory.

    Attributes:
        action: `"fresh"` (start at epoch 1), `"resume"` (continue the
            training phase) or `"evaluate"` (training is done; evaluate
            `best.keras` and write the results).
        manifest: the existing run's manifest: to continue (`resume`,
            `evaluate`) or whose files to delete first (`fresh` with
            `--overwrite`); None for a directory without a run.
    """

    action: str
    manifest: dict = None


def _entries(directory):
    return sorted(n for n in os.listdir(directory) if n != LOCK and not n.startswith(".keras_vit-"))


def plan_run(run_dir, settings, overwrite):
    """Decides how a run uses its (locked) directory; changes nothing.

    Args:
        run_dir: an opened `RunDirectory`.
        settings: dict. The run's settings (what `config.json` holds).
        overwrite: bool. `--overwrite` was given.

    Returns:
        A `Plan`.

    Raises:
        RunDirectoryError: the directory holds something the run must not
            touch; the message says what and what to do.
    """
    path = run_dir.display
    manifest = run_dir.read_manifest()
    if manifest is None:
        entries = _entries(run_dir.path)
        if not entries:
            return Plan("fresh")
        if not overwrite:
            raise RunDirectoryError(
                f"{path} is not empty and holds no keras-vit run (no {MANIFEST}). Choose another "
                "--output-dir, or pass --overwrite to write the run's files beside what is there "
                "(keras-vit never deletes files it did not write)."
            )
        foreign = [name for name in run_dir.foreign_outputs() if os.path.isfile(run_dir.join(name))]
        if foreign:
            raise RunDirectoryError(
                f"{path} holds {', '.join(foreign)}, which keras-vit did not write; it never replaces "
                "such files, even with --overwrite. Move them away or choose another --output-dir."
            )
        return Plan("fresh")
    if overwrite:
        return Plan("fresh", manifest)
    if manifest["state"] == "finished":
        raise RunDirectoryError(
            f"{path} holds a finished run (metrics.json). Choose another --output-dir, or pass "
            "--overwrite to replace it (only the files that run wrote are deleted)."
        )
    saved = run_dir.read_json("config.json") if "config.json" in manifest["files"] else None
    if saved is None:
        # Stopped before it wrote its settings, so before its first epoch:
        # there is nothing to resume, and its files are keras-vit's own.
        return Plan("fresh", manifest)
    settings = canonical(settings)
    if saved != settings:
        changed = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
        raise RunDirectoryError(
            f"{path} holds an unfinished run with other settings ({', '.join(changed)}). Rerun with "
            "the same flags to resume it, choose another --output-dir, or pass --overwrite."
        )
    foreign = [name for name in run_dir.foreign_outputs(manifest) if os.path.isfile(run_dir.join(name))]
    if foreign:
        raise RunDirectoryError(
            f"{path} holds {', '.join(foreign)}, which the run there did not write; keras-vit will "
            "not replace it. Move it away to resume the run."
        )
    return Plan("evaluate" if manifest["state"] == "trained" else "resume", manifest)


def find_unfinished(parent, prefix, settings):
    """The newest directory `parent/prefix*` holding an unfinished run with
    these settings that no process is running, or None."""
    try:
        names = sorted((n for n in os.listdir(parent) if n.startswith(prefix)), reverse=True)
    except OSError:
        return None
    settings = canonical(settings)
    for name in names:
        run_dir = RunDirectory(os.path.join(parent, name))
        try:
            manifest = run_dir.read_manifest()
            if manifest is None or manifest["state"] == "finished":
                continue
            if run_dir.read_json("config.json") != settings or run_dir.lock.is_held():
                continue
        except (RunDirectoryError, OSError):
            continue
        return run_dir.display
    return None
