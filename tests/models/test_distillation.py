import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.models import distillation_outputs
from tests.checkpoints import _families
from tests.test_case import to_numpy


def test_both_heads_match_timm_and_the_model_returns_their_average():
    model = _families.by_name("deit_distilled", weights=_families.path("deit_distilled"))
    images = _families.reference("deit_distilled", "images")
    class_logits, distillation_logits = (to_numpy(o) for o in distillation_outputs(model)(images))
    tolerance = _families.TOLERANCE
    assert np.abs(class_logits - _families.reference("deit_distilled", "logits_class")).max() < tolerance
    assert np.abs(distillation_logits - _families.reference("deit_distilled", "logits_distillation")).max() < tolerance
    np.testing.assert_allclose(to_numpy(model(images)), (class_logits + distillation_logits) / 2, atol=1e-6)


def test_the_heads_model_trains_the_shared_weights():
    model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=1, num_heads=2, mlp_dim=16,
                              input_shape=(8, 8, 3), classes=3, distillation=True)
    heads = distillation_outputs(model)
    import keras

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # the heads give logits
    heads.compile(optimizer="adam", loss=[loss, loss])
    before = to_numpy(model.get_layer("head_dist").kernel).copy()
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    y = np.array([0, 1, 2, 0])
    heads.fit(x, [y, y], epochs=1, verbose=0)
    assert not np.array_equal(before, to_numpy(model.get_layer("head_dist").kernel))


@pytest.mark.backend_independent
def test_a_model_without_distillation_is_refused():
    model = VisionTransformer(patch_size=4, hidden_dim=8, num_layers=1, num_heads=2, mlp_dim=8,
                              input_shape=(8, 8, 3), classes=3)
    with pytest.raises(ValueError, match="distillation=True"):
        distillation_outputs(model)
