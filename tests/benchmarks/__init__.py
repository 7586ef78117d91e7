"""Tests of the scripts in benchmarks/ (not a package: each script is
imported by file location, with the folder on `sys.path` for their
imports of `speed`)."""

import importlib
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def import_benchmark(monkeypatch, name):
    """A fresh import of `benchmarks/<name>.py` (and of the `speed` module it
    imports), undone with `monkeypatch`."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for module in ("speed", name):
        monkeypatch.delitem(sys.modules, module, raising=False)
    return importlib.import_module(name)
