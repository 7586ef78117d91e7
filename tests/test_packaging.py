"""The distribution's metadata and every install hint in the repository.

`keras-vit` on the package index is an unrelated project that also
installs a `keras_vit` module; keras_vit's distribution is `keras-vit-zoo`.
"""

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]

# `pip install keras-vit`, `pip install -U "keras-vit[jax]"`, `keras-vit[serving]`:
# the other project's distribution. `keras-vit train` (the command) and
# `pip uninstall keras-vit` are fine.
WRONG_HINTS = (
    re.compile(r"pip3?\s+install\s+(?:-\S+\s+)*[\"']?keras-vit(?![\w-])"),
    re.compile(r"keras-vit\["),
)
TEXT_SUFFIXES = {".py", ".md", ".ipynb", ".cfg", ".toml", ".txt", ".sh", ""}


def _tracked_text_files():
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
        paths = [ROOT / line for line in listed.stdout.splitlines()]
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        paths = [p for p in ROOT.rglob("*") if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]
    for path in paths:
        if path.is_file() and path.suffix in TEXT_SUFFIXES and path.stat().st_size < 2_000_000:
            yield path


def test_the_distribution_is_not_the_other_projects():
    assert PROJECT["name"] == "keras-vit-zoo"
    assert PROJECT["scripts"]["keras-vit"] == "keras_vit.cli:main"


def test_no_install_hint_names_the_other_projects_distribution():
    offending = []
    for path in _tracked_text_files():
        if path == Path(__file__):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if any(pattern.search(line) for pattern in WRONG_HINTS):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offending, "install hints naming `keras-vit` (another project):\n" + "\n".join(offending)


@pytest.mark.parametrize("line, wrong", [
    ("pip install keras-vit", True),
    ('%pip install -q "keras-vit[jax]"', True),
    ("(`pip install keras-vit[cv]`)", True),
    ('pip install "keras-vit-zoo[jax]"', False),
    ("keras-vit train --dataset digits", False),
    ("%pip uninstall -y keras-vit", False),
])
def test_the_hint_patterns_catch_the_wrong_name_only(line, wrong):
    assert any(pattern.search(line) for pattern in WRONG_HINTS) == wrong


def test_license_is_an_spdx_expression_with_its_files():
    assert PROJECT["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in PROJECT.get("classifiers", ())), "classifier form is deprecated"
    for name in PROJECT["license-files"]:
        assert (ROOT / name).is_file(), name
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")


def test_the_declared_keras_range_starts_at_the_lowest_tested_version():
    from packaging.version import Version

    lowest = ROOT / "requirements" / "lowest-constraints.txt"
    pinned = re.search(r"^keras==([\d.]+)$", lowest.read_text(encoding="utf-8"), re.MULTILINE).group(1)
    (keras,) = [d for d in PROJECT["dependencies"] if re.match(r"keras\b", d)]
    lower = re.fullmatch(r"keras>=([\d.]+)", keras).group(1)
    assert Version(lower) == Version(pinned)


def test_ci_constraints_pin_no_local_version():
    # A `+cpu` local label resolves only where that wheel lies on disk.
    text = (ROOT / "requirements" / "ci-constraints.txt").read_text(encoding="utf-8")
    assert not re.search(r"^[\w.-]+==[^\s#]*\+", text, re.MULTILINE)


def test_the_package_data_covers_the_embedded_dataset():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["keras_vit.data"]
    data_files = sorted(p.name for p in (ROOT / "keras_vit" / "data").iterdir() if p.suffix == ".npz")
    assert data_files, "keras_vit/data ships the digits"
    assert all(any(Path(name).match(pattern) for pattern in patterns) for name in data_files)
