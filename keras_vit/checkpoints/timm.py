"""timm's `VisionTransformer` state-dict layout (also the `timm/...`
repositories on the Hugging Face Hub).

Keys: `patch_embed.proj.weight` (OIHW), `cls_token`, `reg_token` (with
registers), `pos_embed`, `blocks.{i}.{norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2, ls1.gamma, ls2.gamma}`, `norm`, `head`. Linear weights are
`(out, in)`; `attn.qkv.weight` stacks the query, key and value rows.

`pos_embed` holds slots for the prefix tokens (class, then registers) unless
the model was built with `no_embed_class=True`, in which case only the patch
grid has position embeddings. keras_vit gives the class token a slot and the
register tokens none; both timm forms map exactly (a register slot is folded
into the register token, a missing class slot becomes zero).

timm uses the exact (erf) GELU unless the model says otherwise
(`act_layer="gelu_tanh"`); builders loading these files default to the exact
form.
"""

import numpy as np

from keras_vit.checkpoints import layout

_UNSUPPORTED = {
    "fc_norm.": "a LayerNorm after pooling (timm fc_norm, its default for global_pool='avg')",
    "norm_pre.": "a LayerNorm before the blocks (timm norm_pre, CLIP-style)",
    "attn_pool.": "an attention-pooling (MAP) head",
    ".attn.q_norm.": "query/key normalisation (qk_norm)",
    "dist_token": "a DeiT distillation token",
    "head_dist.": "a DeiT distillation head",
}


def looks_like_timm(keys):
    return "patch_embed.proj.weight" in keys and any(k.startswith("blocks.") for k in keys)


def _check_shape(description, key, array, expected):
    # Slicing and reshaping below would otherwise fail with NumPy's message,
    # which names no key.
    if tuple(array.shape) != tuple(expected):
        raise ValueError(
            f"{description}: array {key!r} has shape {tuple(array.shape)}; expected "
            f"{tuple(expected)} for a width of {expected[-1]}."
        )


def to_keras(arrays, num_heads, grid_hint=None, description="The checkpoint", expected=None):
    """Converts a timm state dict (NumPy arrays) to keras_vit's layout.

    Args:
        arrays: mapping key -> array.
        num_heads: int. Attention heads of the target model (timm's fused
            qkv weight does not record it).
        grid_hint: optional `(h, w)`: the patch grid to assume for a
            non-square position table.
        description: str naming the file in error messages.
        expected: optional dict keras_vit variable path -> shape of the
            model being loaded: each array's declared size is checked
            against it before the array is read (`layout.KeySource`).

    Returns:
        `(weights, source)` as `google.to_keras`.
    """
    keys = set(arrays)
    for marker, what in _UNSUPPORTED.items():
        found = sorted(k for k in keys if marker in k)
        if found:
            raise ValueError(
                f"{description} has {what} ({found[0]!r}), which keras_vit's ViT does not build."
            )
    source = layout.KeySource(arrays, description, expected)
    kernel = source.take("patch_embed.proj.weight", layout.PATCH_KERNEL, ndim=4)
    weights = layout.AssignOnce()
    weights[layout.PATCH_KERNEL] = kernel.transpose(2, 3, 1, 0)
    weights[layout.PATCH_BIAS] = source.take("patch_embed.proj.bias", layout.PATCH_BIAS)
    if "cls_token" not in keys:
        raise ValueError(f"{description} has no 'cls_token' (class_token=False); keras_vit models always carry one.")
    class_token = source.take("cls_token", layout.CLASS_TOKEN, ndim=3)
    hidden = class_token.shape[-1]
    registers = source.take("reg_token", layout.REGISTER_TOKENS, ndim=3) if "reg_token" in keys else None
    num_registers = 0 if registers is None else registers.shape[1]
    # The table may carry the register tokens' slots, folded into them below.
    position = source.take("pos_embed", layout.POSITION_EMBEDDING, layout.REGISTER_TOKENS, ndim=3)
    num_slots = position.shape[1]
    # Which prefix slots the table has: none (no_embed_class), the class
    # token's, or class and registers'. The rest is a patch grid.
    for prefix in (1 + num_registers, 1, 0):
        try:
            layout.grid_of(num_slots - prefix, grid_hint)
        except ValueError:
            continue
        break
    else:
        raise ValueError(
            f"{description}: cannot split 'pos_embed' of shape {position.shape} into prefix "
            f"slots and a patch grid ({num_registers} register tokens)."
        )
    if prefix == 0:
        class_slot = np.zeros_like(position[:, :1])
    else:
        class_slot = position[:, :1]
    if registers is not None and prefix == 1 + num_registers:
        _check_shape(description, "reg_token", registers, (1, num_registers, position.shape[-1]))
        registers = registers + position[:, 1:prefix]
    weights[layout.CLASS_TOKEN] = class_token
    weights[layout.POSITION_EMBEDDING] = np.concatenate([class_slot, position[:, prefix:]], axis=1)
    if registers is not None:
        weights[layout.REGISTER_TOKENS] = registers
    if hidden % num_heads:
        raise ValueError(f"`num_heads`={num_heads} does not divide the checkpoint's width {hidden}.")
    head_dim = hidden // num_heads
    index = 0
    while f"blocks.{index}.norm1.weight" in keys:
        t, b = f"blocks.{index}.", layout.block_prefix(index)
        for ours, theirs in (("layer_norm_1", "norm1"), ("layer_norm_2", "norm2")):
            weights[f"{b}{ours}/gamma"] = source.take(f"{t}{theirs}.weight", f"{b}{ours}/gamma")
            weights[f"{b}{ours}/beta"] = source.take(f"{t}{theirs}.bias", f"{b}{ours}/beta")
        names = ("query", "key", "value")
        # The fused weight holds the three projections: its size is checked
        # against the three together.
        qkv = source.take(f"{t}attn.qkv.weight", *(f"{b}attention/{n}/kernel" for n in names))
        _check_shape(description, f"{t}attn.qkv.weight", qkv, (3 * hidden, hidden))
        qkv_bias = None
        if f"{t}attn.qkv.bias" in keys:
            qkv_bias = source.take(f"{t}attn.qkv.bias", *(f"{b}attention/{n}/bias" for n in names))
            _check_shape(description, f"{t}attn.qkv.bias", qkv_bias, (3 * hidden,))
        for j, name in enumerate(names):
            rows = qkv[j * hidden:(j + 1) * hidden]
            weights[f"{b}attention/{name}/kernel"] = rows.T.reshape(hidden, num_heads, head_dim)
            if qkv_bias is not None:
                weights[f"{b}attention/{name}/bias"] = qkv_bias[j * hidden:(j + 1) * hidden].reshape(num_heads, head_dim)
        output = f"{b}attention/attention_output/"
        proj = source.take(f"{t}attn.proj.weight", output + "kernel")
        _check_shape(description, f"{t}attn.proj.weight", proj, (hidden, hidden))
        weights[output + "kernel"] = proj.T.reshape(num_heads, head_dim, hidden)
        weights[output + "bias"] = source.take(f"{t}attn.proj.bias", output + "bias")
        for ours, theirs in (("dense_1", "fc1"), ("dense_2", "fc2")):
            weights[f"{b}mlp/{ours}/kernel"] = source.take(f"{t}mlp.{theirs}.weight", f"{b}mlp/{ours}/kernel").T
            weights[f"{b}mlp/{ours}/bias"] = source.take(f"{t}mlp.{theirs}.bias", f"{b}mlp/{ours}/bias")
        for ours, theirs in (("layer_scale_1", "ls1"), ("layer_scale_2", "ls2")):
            if f"{t}{theirs}.gamma" in keys:
                target = f"{b}{ours}/layer_scale"
                weights[target] = source.take(f"{t}{theirs}.gamma", target)
        index += 1
    weights[layout.NORM_SCALE] = source.take("norm.weight", layout.NORM_SCALE)
    weights[layout.NORM_BIAS] = source.take("norm.bias", layout.NORM_BIAS)
    if "head.weight" in keys:
        weights[layout.HEAD_KERNEL] = source.take("head.weight", layout.HEAD_KERNEL, ndim=2).T
        weights[layout.HEAD_BIAS] = source.take("head.bias", layout.HEAD_BIAS)
    return weights, source


def from_keras(weights):
    """Converts keras_vit-layout weights to a timm state dict.

    The position table keeps the class slot and gets zero slots for the
    register tokens (timm's default `no_embed_class=False`), so the file
    loads into `timm.models.vision_transformer.VisionTransformer(...,
    reg_tokens=R)` with identical outputs.

    Args:
        weights: dict keras_vit variable path -> NumPy array.

    Returns:
        A dict of timm state-dict keys -> NumPy arrays.
    """
    position = weights[layout.POSITION_EMBEDDING]
    out = {
        "patch_embed.proj.weight": weights[layout.PATCH_KERNEL].transpose(3, 2, 0, 1),
        "patch_embed.proj.bias": weights[layout.PATCH_BIAS],
        "cls_token": weights[layout.CLASS_TOKEN],
        "norm.weight": weights[layout.NORM_SCALE],
        "norm.bias": weights[layout.NORM_BIAS],
    }
    if layout.REGISTER_TOKENS in weights:
        registers = weights[layout.REGISTER_TOKENS]
        out["reg_token"] = registers
        position = np.concatenate([position[:, :1], np.zeros_like(registers), position[:, 1:]], axis=1)
    out["pos_embed"] = position
    for index in range(layout.count_blocks(weights)):
        b, t = layout.block_prefix(index), f"blocks.{index}."
        hidden = weights[f"{b}attention/query/kernel"].shape[0]
        for ours, theirs in (("layer_norm_1", "norm1"), ("layer_norm_2", "norm2")):
            out[f"{t}{theirs}.weight"] = weights[f"{b}{ours}/gamma"]
            out[f"{t}{theirs}.bias"] = weights[f"{b}{ours}/beta"]
        out[f"{t}attn.qkv.weight"] = np.concatenate(
            [weights[f"{b}attention/{n}/kernel"].reshape(hidden, hidden).T for n in ("query", "key", "value")]
        )
        if f"{b}attention/query/bias" in weights:
            out[f"{t}attn.qkv.bias"] = np.concatenate(
                [weights[f"{b}attention/{n}/bias"].reshape(-1) for n in ("query", "key", "value")]
            )
        out[f"{t}attn.proj.weight"] = weights[f"{b}attention/attention_output/kernel"].reshape(hidden, hidden).T
        out[f"{t}attn.proj.bias"] = weights[f"{b}attention/attention_output/bias"]
        for ours, theirs in (("dense_1", "fc1"), ("dense_2", "fc2")):
            out[f"{t}mlp.{theirs}.weight"] = weights[f"{b}mlp/{ours}/kernel"].T
            out[f"{t}mlp.{theirs}.bias"] = weights[f"{b}mlp/{ours}/bias"]
        for ours, theirs in (("layer_scale_1", "ls1"), ("layer_scale_2", "ls2")):
            if f"{b}{ours}/layer_scale" in weights:
                out[f"{t}{theirs}.gamma"] = weights[f"{b}{ours}/layer_scale"]
    if layout.HEAD_KERNEL in weights:
        out["head.weight"] = weights[layout.HEAD_KERNEL].T
        out["head.bias"] = weights[layout.HEAD_BIAS]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}
