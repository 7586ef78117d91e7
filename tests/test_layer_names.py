import pathlib
import re

import pytest

import keras_vit
from keras_vit import layer_names

pytestmark = pytest.mark.backend_independent


def test_block_names_and_indices():
    assert layer_names.block_name(3) == "transformer_block_3"
    assert layer_names.block_index("transformer_block_12/mlp/dense_1/kernel") == 12
    assert layer_names.block_index("transformer_block_12") == 12
    assert layer_names.block_index("head/kernel") is None


def _spellings(path):
    """Code that builds a layer name: f-strings ending in the block prefix
    before a value, and string constants that are exactly a layer name or a
    pattern starting with one (prose in docstrings and messages is fine)."""
    import ast

    found = []
    # Names that are only layer names (class_token, fc_norm, ... are also
    # option or variable names).
    names = ("encoder_norm", "patch_embedding", "attention_pool")
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr):
            parts = node.values
            for first, second in zip(parts, parts[1:]):
                if (isinstance(first, ast.Constant) and isinstance(second, ast.FormattedValue)
                        and str(first.value).endswith("transformer_block_")):
                    found.append(node.lineno)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if re.fullmatch(r"transformer_block_(\d+|\.\*|\(\\d\+\))?(/.*)?", text) or text in names:
                found.append(node.lineno)
    return found


def test_only_the_names_module_spells_layer_names_in_code():
    # keras_h5 maps Keras's own generic file group names ("layer_normalization",
    # "class_token" of the class ClassToken, ...), which are not our layer names.
    root = pathlib.Path(keras_vit.__file__).parent
    allowed = {"layer_names.py", "keras_h5.py"}
    offenders = [f"{path.relative_to(root)}:{line}" for path in root.rglob("*.py")
                 if path.name not in allowed for line in _spellings(path)]
    assert offenders == []


def test_a_model_exposes_its_blocks():
    model = keras_vit.VisionTransformer(patch_size=4, hidden_dim=8, num_layers=2, num_heads=2, mlp_dim=8,
                                        input_shape=(8, 8, 3), classes=2)
    assert [b.name for b in model.blocks] == ["transformer_block_0", "transformer_block_1"]
    assert layer_names.block_names(model) == ["transformer_block_0", "transformer_block_1"]
