import pytest

from keras_vit.checkpoints import FORMATS, registry
from keras_vit.checkpoints.export import EXPORT_FORMATS

pytestmark = pytest.mark.backend_independent


def test_every_layout_is_one_record_with_a_converter_and_an_architecture_reader():
    assert FORMATS == tuple(layout.name for layout in registry.LAYOUTS)
    for layout in registry.LAYOUTS:
        assert callable(layout.recognise) and callable(layout.to_keras) and callable(layout.architecture)
        assert registry.get_layout(layout.name) is layout
    assert set(EXPORT_FORMATS) == {"google", "timm", "transformers"}


def test_gelu_forms_come_from_the_layouts():
    assert registry.get_layout("google").approximate_gelu
    assert registry.get_layout("big_vision").approximate_gelu
    assert not registry.get_layout("timm").approximate_gelu
    assert not registry.get_layout("transformers").approximate_gelu


def test_an_unknown_layout_is_named():
    with pytest.raises(ValueError, match="Known: google"):
        registry.get_layout("onnx")


def test_checkpoints_does_not_import_models():
    import ast
    import pathlib

    import keras_vit.checkpoints as package

    for path in pathlib.Path(package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("keras_vit.models"), path.name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("keras_vit.models") for a in node.names), path.name
