import math

import keras
import numpy as np
import pytest

from keras_vit import VisionTransformer
from keras_vit.visualization import attention_maps, attention_model, attention_rollout, overlay_attention
from tests import numpy_reference as ref
from tests.test_case import to_numpy

IMAGE_SHAPE = (16, 16, 3)


@pytest.fixture(autouse=True)
def _fresh_keras_state(request):
    """Overrides conftest's reset so the NumPy-only tests skip its slow
    `clear_session` (a full gc, ~0.4 s each); tests that build models ask for
    `keras_state`, which resets as conftest does."""
    yield


@pytest.fixture
def keras_state():
    keras.backend.clear_session()
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="module")
def plain_model():
    """One model shared by the tests that leave its weights alone, so its
    cached attention model (and compiled predict function) is reused."""
    return _model()


@pytest.fixture(scope="module")
def register_model():
    """Registers, dropout, drop path and LayerScale: maps must be the
    inference-mode ones, with the registers in the token axis."""
    return _model(num_register_tokens=2, dropout_rate=0.3, attention_dropout_rate=0.3,
                  drop_path_rate=0.3, layer_scale_init=0.5)


def _model(num_register_tokens=0, **kwargs):
    """A tiny ViT with weights large enough for peaked, non-uniform attention."""
    model = VisionTransformer(
        patch_size=4, hidden_dim=16, num_layers=3, num_heads=2, mlp_dim=32, input_shape=IMAGE_SHAPE,
        classes=3, num_register_tokens=num_register_tokens, **kwargs,
    )
    rng = np.random.default_rng(7)
    for weight in model.weights:
        shape = tuple(weight.shape)
        if weight.path.endswith("gamma") or weight.path.endswith("layer_scale"):
            weight.assign((1.0 + 0.2 * rng.standard_normal(shape)).astype("float32"))
        else:
            weight.assign((0.4 * rng.standard_normal(shape)).astype("float32"))
    return model


def _images(batch=3, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (batch,) + IMAGE_SHAPE).astype("float32")


def _embed(model, images, w):
    """Patch, class token, position and register embeddings, in NumPy."""
    kernel = w["patch_embedding/projection/kernel"].astype("float64")
    tokens = ref.patchify(images.astype("float64"), model.patch_size) @ kernel.reshape(-1, kernel.shape[-1])
    tokens = tokens + w["patch_embedding/projection/bias"]
    cls = np.broadcast_to(w["class_token/class_token"], (len(images), 1, tokens.shape[-1]))
    x = np.concatenate([cls, tokens], axis=1) + w["position_embedding/position_embedding"]
    if model.num_register_tokens:
        reg = np.broadcast_to(w["register_tokens/register_tokens"], (len(images), model.num_register_tokens, x.shape[-1]))
        x = np.concatenate([x[:, :1], reg, x[:, 1:]], axis=1)
    return x


def _numpy_probs(x, w, prefix, epsilon):
    """softmax(q k^T / sqrt(d)) per head from the block's LayerNorm and kernels."""
    h = ref.layer_norm(x, w[f"{prefix}/layer_norm_1/gamma"], w[f"{prefix}/layer_norm_1/beta"], epsilon)
    q = np.einsum("btd,dnh->bnth", h, w[f"{prefix}/attention/query/kernel"]) + w[f"{prefix}/attention/query/bias"][None, :, None]
    k = np.einsum("btd,dnh->bnth", h, w[f"{prefix}/attention/key/kernel"]) + w[f"{prefix}/attention/key/bias"][None, :, None]
    logits = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1])
    return ref.softmax(logits, axis=-1)


# --- attention_maps ---------------------------------------------------------


def test_model_is_left_unchanged(plain_model, keras_state):
    # First in the module, so it sees the shared model before any attention
    # model is built on it.
    model = plain_model
    images = _images()
    before = to_numpy(model(images, training=False))
    config = model.get_config()
    names = [layer.name for layer in model.layers]
    paths = [w.path for w in model.weights]
    nodes = {layer.name: len(layer._inbound_nodes) for layer in model.layers}
    attention_maps(model, images)
    attention_model(model, layers=[0])
    np.testing.assert_array_equal(to_numpy(model(images, training=False)), before)
    assert model.get_config() == config
    assert [layer.name for layer in model.layers] == names
    assert [w.path for w in model.weights] == paths
    assert {layer.name: len(layer._inbound_nodes) for layer in model.layers} == nodes
    # Feature extraction from the model's graph still works.
    features = keras.Model(model.inputs, model.get_layer("transformer_block_1").output)
    assert tuple(features.output.shape) == (None, 17, 16)


@pytest.mark.parametrize("fixture", ["plain_model", "register_model"])
def test_maps_match_numpy_softmax_of_queries_and_keys(fixture, request, keras_state):
    model = request.getfixturevalue(fixture)
    images = _images()
    maps = attention_maps(model, images)
    num_tokens = 1 + model.num_register_tokens + 16
    assert sorted(maps) == [0, 1, 2]
    for probs in maps.values():
        assert probs.shape == (3, 2, num_tokens, num_tokens) and probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
        assert probs.max() > 0.5  # peaked, so the comparison below means something

    w = {v.path: to_numpy(v).astype("float64") for v in model.weights}
    x = _embed(model, images, w)
    for index in range(3):
        prefix = f"transformer_block_{index}"
        np.testing.assert_allclose(maps[index], _numpy_probs(x, w, prefix, 1e-6), atol=2e-5)
        x = ref.block(x, w, prefix)  # block 1 and 2 see the previous block's output


def test_layer_selection_cache_and_shared_weights(plain_model, keras_state):
    model = plain_model
    images = _images()
    full = attention_maps(model, images)
    assert attention_model(model) is attention_model(model, layers=[0, 1, 2])
    assert attention_model(model, layers=-1) is attention_model(model, layers=[2])
    assert len(attention_model(model, layers=0).outputs) == 1
    last = attention_maps(model, images, layers=[-1, 0], batch_size=1)
    assert sorted(last) == [0, 2]
    np.testing.assert_allclose(last[2], full[2], atol=1e-5)
    np.testing.assert_allclose(last[0], full[0], atol=1e-5)
    # The cached model shares the variables: new weights show at once.
    query = model.get_layer("transformer_block_0").attention.query.kernel
    original = to_numpy(query)
    try:
        query.assign(original * 3.0)
        changed = attention_maps(model, images, layers=[0, 2], batch_size=1)[0]
        assert not np.allclose(changed, full[0], atol=1e-3)
    finally:
        query.assign(original)


def test_mixed_precision_maps_are_float32_distributions(keras_state):
    model = VisionTransformer(patch_size=4, hidden_dim=16, num_layers=1, num_heads=2, mlp_dim=32,
                              input_shape=IMAGE_SHAPE, classes=3, dtype="mixed_bfloat16")
    probs = attention_maps(model, _images(batch=2))[0]
    assert probs.dtype == np.float32 and probs.shape == (2, 2, 17, 17)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=2e-2)


def test_attention_maps_bad_inputs(plain_model, keras_state):
    model = plain_model
    with pytest.raises(ValueError, match=r"`images` must have shape \(batch, 16, 16, 3\).*images\[None\]"):
        attention_maps(model, _images()[0])
    with pytest.raises(ValueError, match="`images`.*shape \\(2, 8, 8, 3\\)"):
        attention_maps(model, np.zeros((2, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="`images` must hold at least one image"):
        attention_maps(model, np.zeros((0,) + IMAGE_SHAPE, "float32"))
    with pytest.raises(TypeError, match="`images` must hold numbers"):
        attention_maps(model, np.full((1,) + IMAGE_SHAPE, "a"))
    with pytest.raises(ValueError, match=r"`layers` must hold block indices in \[-3, 2\]"):
        attention_maps(model, _images(), layers=[3])
    with pytest.raises(TypeError, match="`layers`"):
        attention_maps(model, _images(), layers=[0.5])
    with pytest.raises(TypeError, match="`layers`"):
        attention_maps(model, _images(), layers=[])
    with pytest.raises(ValueError, match="`batch_size`"):
        attention_maps(model, _images(), batch_size=0)
    with pytest.raises(TypeError, match="`model` must be a keras_vit VisionTransformer"):
        attention_maps("vit", _images())
    plain = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="transformer_block_0"):
        attention_maps(plain, _images())


# --- attention_rollout ------------------------------------------------------


def _stack(matrix, batch=1, heads=1):
    matrix = np.asarray(matrix, "float64")
    return np.broadcast_to(matrix, (batch, heads) + matrix.shape).copy()


def test_rollout_of_uniform_attention_by_hand():
    # 1 + 4 tokens, U = all 1/5. With the residual each layer is (U + I) / 2
    # and, as U @ U = U, two layers give (3U + I) / 4: 3/20 on every patch.
    uniform = _stack(np.full((5, 5), 0.2), batch=2, heads=3)
    rollout = attention_rollout({0: uniform, 1: uniform})
    assert rollout.shape == (2, 2, 2) and rollout.dtype == np.float32
    np.testing.assert_allclose(rollout, 3.0 / 20.0, rtol=1e-6)
    # Without the residual the product stays U.
    np.testing.assert_allclose(attention_rollout([uniform, uniform], residual=False), 0.2, rtol=1e-6)
    # Identity attention keeps the class token on itself: nothing on patches.
    identity = _stack(np.eye(5))
    np.testing.assert_allclose(attention_rollout([identity, identity]), 0.0, atol=1e-7)


def test_rollout_equals_hand_computed_product():
    # 3 tokens (class + a 1x2 grid), two known row-stochastic layers.
    a1 = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.25, 0.25, 0.5]])
    a2 = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    r1 = (a1 + np.eye(3)) / 2.0
    r2 = (a2 + np.eye(3)) / 2.0
    # Row 0 of r2 @ r1 is 0.5 * r1[0] + 0.5 * r1[2] = [0.4375, 0.1875, 0.375].
    np.testing.assert_allclose((r2 @ r1)[0], [0.4375, 0.1875, 0.375])
    rollout = attention_rollout([_stack(a1), _stack(a2)], grid_size=(1, 2))
    np.testing.assert_allclose(rollout, [[[0.1875, 0.375]]], rtol=1e-6)
    # The order matters: later layers multiply from the left.
    swapped = attention_rollout([_stack(a2), _stack(a1)], grid_size=(1, 2))
    assert not np.allclose(swapped, rollout)


def test_head_fusion_variants():
    # Two heads over 1 + 4 tokens: one attends to itself, one uniformly.
    heads = np.stack([np.eye(5), np.full((5, 5), 0.2)])[None]
    mean = attention_rollout([heads], residual=False)
    np.testing.assert_allclose(mean, 0.1, rtol=1e-6)  # (0 + 0.2) / 2, rows still sum to 1
    maximum = attention_rollout([heads], head_fusion="max", residual=False)
    np.testing.assert_allclose(maximum, 0.2 / 1.8, rtol=1e-6)  # row [1, .2, .2, .2, .2] / 1.8
    minimum = attention_rollout([heads], head_fusion="min", residual=False)
    np.testing.assert_allclose(minimum, 0.0, atol=1e-7)  # row [.2, 0, 0, 0, 0] / .2


def test_discard_ratio_zeroes_the_smallest_entries_of_each_row():
    row = np.array([0.05, 0.4, 0.1, 0.3, 0.15])  # class token row, 2x2 patches
    attention = _stack(np.tile(row, (5, 1)))
    # floor(0.5 * 5) = 2 entries dropped: 0.05 (class) and 0.1; then renormalised.
    kept = attention_rollout([attention], discard_ratio=0.5, residual=False)
    np.testing.assert_allclose(kept, [[[0.4 / 0.85, 0.0], [0.3 / 0.85, 0.15 / 0.85]]], rtol=1e-6)
    np.testing.assert_allclose(
        attention_rollout([attention], discard_ratio=0.1, residual=False), [[[0.4, 0.1], [0.3, 0.15]]], rtol=1e-6
    )


def test_register_tokens_take_part_but_are_left_out_of_the_grid():
    # Tokens: class, 2 registers, 2x2 patches. Layer 1: the class token reads
    # register 1 only; register 1 reads patch 3 (index 6). Layer 2 = layer 1.
    a = np.eye(7)
    a[0] = np.eye(7)[1]
    a[1] = np.eye(7)[6]
    one_layer = attention_rollout([_stack(a)], residual=False, num_prefix_tokens=3)
    np.testing.assert_allclose(one_layer, 0.0, atol=1e-7)  # all mass on a register
    two_layers = attention_rollout([_stack(a), _stack(a)], residual=False, num_prefix_tokens=3, grid_size=(2, 2))
    np.testing.assert_allclose(two_layers, [[[0.0, 0.0], [0.0, 1.0]]], atol=1e-7)


def test_rollout_of_real_maps_with_registers(register_model, keras_state):
    model = register_model
    maps = attention_maps(model, _images())
    rollout = attention_rollout(maps, num_prefix_tokens=model.num_prefix_tokens, grid_size=model.grid_size)
    assert rollout.shape == (3, 4, 4)
    assert np.all(rollout >= 0) and np.all(rollout.sum(axis=(1, 2)) < 1.0 + 1e-6)
    with pytest.raises(ValueError, match="`grid_size`"):
        attention_rollout(maps)  # 18 patch tokens with the default one prefix token


def test_rollout_bad_inputs():
    uniform = _stack(np.full((5, 5), 0.2))
    with pytest.raises(ValueError, match="`head_fusion`"):
        attention_rollout([uniform], head_fusion="median")
    with pytest.raises(ValueError, match="`discard_ratio`"):
        attention_rollout([uniform], discard_ratio=1.0)
    with pytest.raises(ValueError, match="consecutive"):
        attention_rollout({0: uniform, 2: uniform})
    with pytest.raises(ValueError, match="same shape"):
        attention_rollout([uniform, _stack(np.full((3, 3), 1 / 3))])
    with pytest.raises(ValueError, match=r"\(batch, heads, tokens, tokens\)"):
        attention_rollout([np.full((5, 5), 0.2)])
    with pytest.raises(ValueError, match="at least one"):
        attention_rollout([])
    with pytest.raises(TypeError, match="`maps`"):
        attention_rollout("maps")
    with pytest.raises(ValueError, match="`num_prefix_tokens`"):
        attention_rollout([uniform], num_prefix_tokens=5)
    with pytest.raises(ValueError, match="`grid_size`"):
        attention_rollout([uniform], grid_size=(1, 3))
    with pytest.raises(ValueError, match="non-negative"):
        attention_rollout([-uniform])


# --- overlay_attention ------------------------------------------------------


def test_overlay_writes_png_of_image_size_and_refuses_to_overwrite(tmp_path):
    from PIL import Image

    image = np.random.default_rng(0).uniform(0, 255, (24, 16, 3)).astype("float32")
    heatmap = np.arange(24, dtype="float32").reshape(6, 4)
    path = tmp_path / "out" / "overlay.png"
    rgb = overlay_attention(image, heatmap, path=path)
    assert rgb.shape == (24, 16, 3) and rgb.dtype == np.uint8
    with open(path, "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as written:
        assert written.format == "PNG" and written.mode == "RGB" and written.size == (16, 24)
        np.testing.assert_array_equal(np.asarray(written), rgb)

    stamp = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        overlay_attention(image, heatmap[::-1], path=path)
    assert path.read_bytes() == stamp
    overlay_attention(image, heatmap[::-1], path=str(path), overwrite=True)
    assert path.read_bytes() != stamp


def test_overlay_blending_and_placement():
    image = np.full((8, 8), 100, "uint8")  # grayscale
    heatmap = np.zeros((2, 2))
    heatmap[0, 1] = 5.0  # top-right patch is hot
    np.testing.assert_array_equal(overlay_attention(image, heatmap, alpha=0.0), 100)
    rgb = overlay_attention(image, heatmap, alpha=1.0, colormap="gray", interpolation="nearest")
    np.testing.assert_array_equal(rgb[:4, 4:], 255)
    np.testing.assert_array_equal(rgb[4:], 0)
    np.testing.assert_array_equal(rgb[:4, :4], 0)
    # Model-range images in [-1, 1] map to the full grey scale.
    signed = np.full((8, 8, 1), -1.0, "float32")
    np.testing.assert_array_equal(overlay_attention(signed, heatmap, alpha=0.0), 0)


def test_overlay_bad_inputs(tmp_path):
    image = np.zeros((8, 8, 3), "float32")
    heatmap = np.ones((2, 2))
    with pytest.raises(ValueError, match="`heatmap`"):
        overlay_attention(image, np.ones((1, 2, 2)))
    with pytest.raises(ValueError, match="`image`"):
        overlay_attention(np.zeros((2, 8, 8, 3)), heatmap)
    with pytest.raises(ValueError, match="`alpha`"):
        overlay_attention(image, heatmap, alpha=1.5)
    with pytest.raises(ValueError, match="`interpolation`"):
        overlay_attention(image, heatmap, interpolation="cubic")
    with pytest.raises(ValueError, match="`colormap`"):
        overlay_attention(image, heatmap, colormap="no-such-map")
    with pytest.raises(ValueError, match=r"\.png"):
        overlay_attention(image, heatmap, path=tmp_path / "overlay.jpg")
    assert not list(tmp_path.iterdir())
