import numpy as np

from keras_vit.layers import AttentionPool
from tests import numpy_reference as ref
from tests.test_case import random_inputs, run_layer_test, to_numpy


def test_layer_contract(tmp_path):
    run_layer_test(AttentionPool, {"num_heads": 2, "mlp_dim": 16}, (2, 5, 8), (2, 8), tmp_path,
                   expected_num_trainable_weights=15)


def test_matches_a_numpy_reference():
    # A learned latent query attends to every token (multi-head, scaled
    # dot product), then the output projection and a residual MLP branch:
    # y = o + mlp(layer_norm(o)).
    layer = AttentionPool(num_heads=2, mlp_dim=16, name="pool")
    x = random_inputs((2, 5, 8)) * 2
    out = to_numpy(layer(x))
    w = {v.path: to_numpy(v).astype("float64") for v in layer.weights}
    x = x.astype("float64")
    q = w["pool/latent"][0] @ w["pool/query/kernel"] + w["pool/query/bias"]  # (1, 8)
    k = x @ w["pool/key/kernel"] + w["pool/key/bias"]
    v = x @ w["pool/value/kernel"] + w["pool/value/bias"]
    heads = []
    for h in range(2):
        s = slice(4 * h, 4 * h + 4)
        scores = np.einsum("d,btd->bt", q[0, s], k[..., s]) / 2.0
        heads.append(np.einsum("bt,btd->bd", ref.softmax(scores), v[..., s]))
    o = np.concatenate(heads, -1) @ w["pool/attention_output/kernel"] + w["pool/attention_output/bias"]
    n = ref.layer_norm(o, w["pool/layer_norm/gamma"], w["pool/layer_norm/beta"])
    hidden = ref.gelu(n @ w["pool/mlp/dense_1/kernel"] + w["pool/mlp/dense_1/bias"])
    expected = o + hidden @ w["pool/mlp/dense_2/kernel"] + w["pool/mlp/dense_2/bias"]
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_attention_scores_are_returned_on_request():
    layer = AttentionPool(num_heads=2, mlp_dim=16, return_attention_scores=True)
    pooled, probs = layer(random_inputs((2, 5, 8)))
    assert tuple(pooled.shape) == (2, 8) and tuple(probs.shape) == (2, 2, 1, 5)
    np.testing.assert_allclose(to_numpy(probs).sum(-1), 1.0, atol=1e-5)
