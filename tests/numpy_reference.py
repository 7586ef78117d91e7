"""An independent NumPy forward pass of the Vision Transformer.

Written from the paper's equations, in float64, sharing no code with
keras_vit; weights are looked up by their Keras variable paths. Tests compare
the Keras layers against it, and `fixtures/make_reference.py` uses it to
store reference logits.
"""

import math

import numpy as np

_erf = np.vectorize(math.erf)


def gelu(x, approximate=False):
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def layer_norm(x, gamma, beta, epsilon=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def softmax(x, axis=-1):
    x = x - x.max(axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis, keepdims=True)


def patchify(images, patch_size):
    """(B, H, W, C) -> (B, N, ph*pw*C), patches in row-major order."""
    b, h, w, c = images.shape
    ph, pw = patch_size
    x = images.reshape(b, h // ph, ph, w // pw, pw, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // ph) * (w // pw), ph * pw * c)


def attention(x, w, prefix, return_probs=False):
    """Multi-head self-attention with per-head loops (no einsum tricks)."""
    def get(name):
        return np.asarray(w[f"{prefix}/{name}"], "float64")

    wq, wk, wv = get("query/kernel"), get("key/kernel"), get("value/kernel")
    num_heads, head_dim = wq.shape[1], wq.shape[2]
    bias = {n: (get(f"{n}/bias") if f"{prefix}/{n}/bias" in w else np.zeros((num_heads, head_dim)))
            for n in ("query", "key", "value")}
    wo, bo = get("attention_output/kernel"), get("attention_output/bias")
    out = np.zeros(x.shape[:2] + (wo.shape[-1],))
    all_probs = []
    for head in range(num_heads):
        q = x @ wq[:, head] + bias["query"][head]
        k = x @ wk[:, head] + bias["key"][head]
        v = x @ wv[:, head] + bias["value"][head]
        probs = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(head_dim))
        all_probs.append(probs)
        out += (probs @ v) @ wo[head]
    out = out + bo
    if return_probs:
        return out, np.stack(all_probs, axis=1)
    return out


def mlp(x, w, prefix, approximate_gelu=False):
    def get(name):
        return np.asarray(w[f"{prefix}/{name}"], "float64")

    h = gelu(x @ get("dense_1/kernel") + get("dense_1/bias"), approximate_gelu)
    return h @ get("dense_2/kernel") + get("dense_2/bias")


def block(x, w, prefix, epsilon=1e-6, approximate_gelu=False):
    def get(name):
        return np.asarray(w[f"{prefix}/{name}"], "float64")

    def scale(name):
        key = f"{prefix}/{name}/layer_scale"
        return np.asarray(w[key], "float64") if key in w else 1.0

    h = layer_norm(x, get("layer_norm_1/gamma"), get("layer_norm_1/beta"), epsilon)
    x = x + scale("layer_scale_1") * attention(h, w, f"{prefix}/attention")
    h = layer_norm(x, get("layer_norm_2/gamma"), get("layer_norm_2/beta"), epsilon)
    return x + scale("layer_scale_2") * mlp(h, w, f"{prefix}/mlp", approximate_gelu)


def vision_transformer(images, w, config):
    """Full forward pass; returns the head's logits (no activation)."""
    def get(name):
        return np.asarray(w[name], "float64")

    patch = config["patch_size"]
    patch = (patch, patch) if isinstance(patch, int) else tuple(patch)
    kernel = get("patch_embedding/projection/kernel")  # (ph, pw, C, D)
    tokens = patchify(np.asarray(images, "float64"), patch) @ kernel.reshape(-1, kernel.shape[-1])
    tokens = tokens + get("patch_embedding/projection/bias")
    batch = tokens.shape[0]
    cls = np.broadcast_to(get("class_token/class_token"), (batch, 1, tokens.shape[-1]))
    x = np.concatenate([cls, tokens], axis=1) + get("position_embedding/position_embedding")
    num_registers = config.get("num_register_tokens", 0)
    if num_registers:
        reg = np.broadcast_to(get("register_tokens/register_tokens"), (batch, num_registers, x.shape[-1]))
        x = np.concatenate([x[:, :1], reg, x[:, 1:]], axis=1)
    eps = config.get("layer_norm_epsilon", 1e-6)
    for i in range(config["num_layers"]):
        x = block(x, w, f"transformer_block_{i}", eps, config.get("approximate_gelu", False))
    x = layer_norm(x, get("encoder_norm/gamma"), get("encoder_norm/beta"), eps)
    if config.get("pooling", "token") == "token":
        pooled = x[:, 0]
    else:
        pooled = x[:, 1 + num_registers:].mean(axis=1)
    return pooled @ get("head/kernel") + get("head/bias")
