import numpy as np
import pytest

from keras_vit.checkpoints import export_weights, load_weights, sniff_format
from tests.checkpoints import _fixtures


@pytest.mark.parametrize("format, case", [("timm", "registers"), ("google", "plain")])
def test_exported_files_load_back_with_identical_outputs(tmp_path, format, case):
    model = _fixtures.model_for(case)
    load_weights(model, _fixtures.path(f"{case}.safetensors"), verbose=False)
    path = tmp_path / "exported"
    export_weights(model, path, format=format)
    assert sniff_format(path) == format
    again = _fixtures.model_for(case, approximate_gelu=model.approximate_gelu, weights=path)
    _, images, _ = _fixtures.reference(case)
    np.testing.assert_array_equal(_fixtures.logits(again, images), _fixtures.logits(model, images))


def test_existing_files_are_not_overwritten(tmp_path):
    model = _fixtures.model_for("plain")
    path = tmp_path / "mine.safetensors"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_weights(model, path)
    assert path.read_bytes() == b"precious"
    export_weights(model, path, overwrite=True)
    assert sniff_format(path) == "timm"


def test_bad_arguments_raise(tmp_path):
    import keras

    with pytest.raises(ValueError, match="`format` must be one of"):
        export_weights(_fixtures.model_for("plain"), tmp_path / "x", format="onnx")
    with pytest.raises(TypeError, match="VisionTransformer"):
        export_weights(keras.Sequential([keras.layers.Dense(1)]), tmp_path / "y")
