"""Run Python in a child process where some packages cannot be imported,
as on a machine where they are not installed.

`run_without(["tensorflow", "jax", "torch"], "-c", "import keras_vit")`
starts `sys.executable` with a `sitecustomize` that makes importing (and
`importlib.util.find_spec` of) those packages raise `ModuleNotFoundError`.
"""

import os
import subprocess
import sys
import textwrap

_SITECUSTOMIZE = """
import sys

BLOCKED = {blocked!r}


class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
"""


def run_without(blocked, *args, tmp_path, env=None, executable=None, timeout=300):
    """Runs `executable` (default: this Python) with `args`, the packages in
    `blocked` made unimportable; returns the `CompletedProcess` (text)."""
    site = tmp_path / "no_backend_site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(textwrap.dedent(_SITECUSTOMIZE.format(blocked=sorted(blocked))))
    child_env = dict(os.environ)
    child_env.update(env or {})
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), child_env.get("PYTHONPATH")]))
    command = [executable or sys.executable, *args]
    return subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=timeout)
