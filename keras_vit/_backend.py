"""Which Keras backend is selected, and a short error when it is missing.

Plain Python: nothing here imports Keras or a backend, so `import keras_vit`
can check the backend before Keras would fail with a long traceback, and
`keras-vit --help` can run without any backend.
"""

import importlib.util
import json
import os
import sys

# The Python module each Keras backend imports, and the command that
# installs it together with keras_vit.
BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
INSTALL_COMMANDS = {
    "tensorflow": 'pip install "keras-vit-zoo[tensorflow]"',
    "jax": 'pip install "keras-vit-zoo[jax]"',
    "torch": 'pip install "keras-vit-zoo[torch]"',
}
# The name of the `keras-vit` console script (and its Windows forms).
_CLI_SCRIPTS = ("keras-vit", "keras-vit.exe", "keras-vit-script.py")


def selected_backend():
    """The backend Keras will use: `KERAS_BACKEND`, else the `backend` of
    `$KERAS_HOME/keras.json` (default `~/.keras/keras.json`), else
    `"tensorflow"`, Keras's own order."""
    return _selected_backend_and_source()[0]


def _selected_backend_and_source():
    backend = os.environ.get("KERAS_BACKEND")
    if backend:
        return backend, "KERAS_BACKEND"
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    path = os.path.join(home, "keras.json")
    try:
        with open(path, encoding="utf-8") as file:
            config = json.load(file)
    except (OSError, ValueError):
        return "tensorflow", "Keras's default, KERAS_BACKEND being unset"
    backend = config.get("backend") if isinstance(config, dict) else None
    if isinstance(backend, str) and backend:
        return backend, path
    return "tensorflow", "Keras's default, KERAS_BACKEND being unset"


def _installed(module):
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # blocked, or a broken entry in sys.modules
        return False


def missing_backend_message(backend=None):
    """The error text when `backend` (default: the selected one) or Keras is
    not installed, else None."""
    if backend is None:
        backend, source = _selected_backend_and_source()
    else:
        source = "the argument"
    installs = "\n".join(f"  {name}: {command}" for name, command in INSTALL_COMMANDS.items())
    if not _installed("keras"):
        return (
            "keras_vit needs Keras 3 and one backend; Keras is not installed. Install keras_vit with "
            f"a backend:\n{installs}"
        )
    module = BACKEND_MODULES.get(backend)
    if module is None:
        if backend in ("numpy", "openvino"):
            return None  # Keras's inference-only backends need no extra module here
        return (
            f"KERAS_BACKEND={backend!r} is not a Keras backend keras_vit supports; "
            f"use one of {sorted(BACKEND_MODULES)}."
        )
    if _installed(module):
        return None
    return (
        f"keras_vit runs on the Keras backend {backend!r} (from {source}), but the {module!r} "
        f"package is not installed. Install a backend and select it with KERAS_BACKEND:\n{installs}"
    )


def require_backend():
    """Raises a short `ImportError` when the selected backend is missing."""
    message = missing_backend_message()
    if message is not None:
        raise ImportError(message)


def running_cli():
    """True while the `keras-vit` command (or `python -m keras_vit...`) is
    starting: it imports keras_vit without a backend to print its help, and
    checks the backend itself before it runs anything."""
    script = sys.argv[0] if sys.argv else ""
    return script == "-m" or os.path.basename(script) in _CLI_SCRIPTS
