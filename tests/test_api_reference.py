"""docs/api.md matches the code, every public name is documented, and the
README's Python snippets compile.

Cheap (well under a second after Keras is imported), so it runs under every
backend: the reference must not depend on KERAS_BACKEND.
"""

import ast
import difflib
import importlib
import importlib.util
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import keras_vit

ROOT = Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"
MAKE_API = ROOT / "docs" / "make_api.py"
README = ROOT / "README.md"
REGENERATE = "docs/api.md is out of date: run python docs/make_api.py (.venv/bin/python docs/make_api.py)"


def _public_modules():
    """Every public module with `__all__`, found independently of make_api.py."""
    names = ["keras_vit"] + [
        info.name
        for info in pkgutil.walk_packages(keras_vit.__path__, "keras_vit.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    modules = [importlib.import_module(name) for name in names]
    return {module.__name__: module for module in modules if hasattr(module, "__all__")}


def _public_names():
    """`{dotted name: object}` for every name of every public `__all__`."""
    return {
        f"{module_name}.{name}": getattr(module, name)
        for module_name, module in _public_modules().items()
        for name in module.__all__
    }


def _listed_names():
    return re.findall(r"^### `([\w.]+)`$", API_MD.read_text(encoding="utf-8"), re.M)


def _resolve(dotted):
    """Imports the longest module prefix of `dotted`, then walks attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for part in parts[split:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(dotted)


def _make_api():
    spec = importlib.util.spec_from_file_location("make_api", MAKE_API)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_public_modules_are_found():
    # Guards the walk below: if it found nothing, the other checks would pass vacuously.
    assert {
        "keras_vit",
        "keras_vit.augmentation",
        "keras_vit.checkpoints",
        "keras_vit.data",
        "keras_vit.distribute",
        "keras_vit.layers",
        "keras_vit.models",
        "keras_vit.training",
        "keras_vit.visualization",
    } <= set(_public_modules())


def test_every_listed_name_imports():
    listed = _listed_names()
    assert len(listed) > 100
    unresolved = []
    for dotted in listed:
        try:
            _resolve(dotted)
        except (ImportError, AttributeError):
            unresolved.append(dotted)
    assert not unresolved, f"docs/api.md lists names that do not import: {unresolved}; {REGENERATE}"
    assert len(set(listed)) == len(listed), "docs/api.md lists a name twice"


def test_every_public_name_is_listed():
    missing = sorted(set(_public_names()) - set(_listed_names()))
    assert not missing, f"public names missing from docs/api.md: {missing}; {REGENERATE}"
    text = API_MD.read_text(encoding="utf-8")
    for module_name in _public_modules():
        assert f"\n## {module_name}\n" in text, f"no section for {module_name}; {REGENERATE}"


def test_api_md_is_up_to_date():
    expected = _make_api().generate()
    current = API_MD.read_text(encoding="utf-8")
    if current != expected:
        diff = "".join(difflib.unified_diff(
            current.splitlines(True), expected.splitlines(True), "docs/api.md", "generated", n=1))
        pytest.fail(f"{REGENERATE}\n{diff[:4000]}")


def _own_docstring(obj):
    # A class does not inherit `__doc__`; dataclasses and named tuples without
    # one get `Name(field, ...)`, which is not documentation.
    doc = inspect.cleandoc(obj.__doc__ or "")
    if inspect.isclass(obj) and re.fullmatch(re.escape(obj.__name__) + r"\(.*\)", doc, re.S):
        return ""
    return doc


def test_every_public_name_has_a_docstring():
    undocumented = []
    for module_name, module in _public_modules().items():
        if not _own_docstring(module):
            undocumented.append(module_name)
    for dotted, obj in _public_names().items():
        # Constants (tuples, dicts, the version string) cannot hold a
        # docstring; api.md shows their value instead.
        if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj):
            if len(_own_docstring(obj)) < 10:
                undocumented.append(dotted)
    assert not undocumented, f"public names without a docstring: {undocumented}"


# The README and every docs page (api.md is generated from the code).
DOC_PAGES = [README] + sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "api.md")


def _readme_python_blocks():
    return [
        block
        for page in DOC_PAGES
        for block in re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S)
    ]


def test_readme_python_blocks_compile():
    blocks = _readme_python_blocks()
    assert len(blocks) >= 5
    for index, block in enumerate(blocks):
        try:
            compile(block, f"README.md python block {index}", "exec")
        except SyntaxError as error:
            pytest.fail(f"README.md python block {index} does not compile: {error}\n{block}")


def _keras_vit_references(tree):
    """`(node, dotted name)` for every keras_vit name a snippet imports or uses."""
    aliases, found = {}, []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "keras_vit":
                    # `import keras_vit.x` binds `keras_vit`; `import keras_vit.x as y` binds `y`.
                    aliases[alias.asname or "keras_vit"] = alias.name if alias.asname else "keras_vit"
                    found.append((node, alias.name))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "keras_vit":
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
                found.append((node, f"{node.module}.{alias.name}"))
    for node in ast.walk(tree):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.insert(0, node.attr)
            node = node.value
        if parts and isinstance(node, ast.Name) and node.id in aliases:
            found.append((node, ".".join([aliases[node.id], *parts])))
    return aliases, found


def test_readme_snippets_match_the_api():
    """README snippets use real keras_vit names with arguments their signatures accept."""
    problems = []
    for index, block in enumerate(_readme_python_blocks()):
        tree = ast.parse(block)
        aliases, references = _keras_vit_references(tree)
        for _, dotted in references:
            try:
                _resolve(dotted)
            except (ImportError, AttributeError):
                problems.append(f"block {index}: {dotted} does not exist")
        for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
            parts, func = [], call.func
            while isinstance(func, ast.Attribute):
                parts.insert(0, func.attr)
                func = func.value
            if not (isinstance(func, ast.Name) and func.id in aliases):
                continue
            if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                continue
            dotted = ".".join([aliases[func.id], *parts])
            try:
                target = _resolve(dotted)
                signature = inspect.signature(target)
            except (ImportError, AttributeError, TypeError, ValueError):
                continue
            try:
                signature.bind_partial(*call.args, **{k.arg: k.value for k in call.keywords})
            except TypeError as error:
                problems.append(f"block {index}, line {call.lineno}: {dotted}(...): {error}")
    assert not problems, "README.md snippets disagree with the code:\n" + "\n".join(problems)


def test_readme_links_the_api_reference():
    assert "(docs/api.md)" in README.read_text(encoding="utf-8")
