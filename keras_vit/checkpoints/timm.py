"""timm's `VisionTransformer` state-dict layout (also the `timm/...`
repositories on the Hugging Face Hub), for every family keras_vit builds:
ViT/AugReg, DeiT, DeiT distilled, DeiT-III, DINOv2 (with and without
registers), CLIP, SigLIP and timm's class-token-free gap/register ViTs.

Keys: `patch_embed.proj.weight` (OIHW), `cls_token`, `dist_token`
(DeiT distilled), `reg_token` (registers), `pos_embed`, `norm_pre` (CLIP),
`blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2, ls1.gamma,
ls2.gamma}`, `norm` (absent with `fc_norm`), `fc_norm`, `attn_pool.{latent,
q, kv, proj, norm, mlp.fc1, mlp.fc2}` (SigLIP's MAP head), `head`,
`head_dist`. Linear weights are `(out, in)`; `attn.qkv.weight` stacks the
query, key and value rows, `attn_pool.kv.weight` the key and value rows.

`pos_embed` has slots for the prefix tokens (class, distillation,
registers) unless the model was built with `no_embed_class=True`, in which
case only the patch grid has position embeddings; the file does not record
which, so the loader splits the table with the model's own grid and tokens
(`architecture.choose_position_slots`). Register slots are folded into the
register tokens (exact: both are constants added to the same token).

Refused, naming what they are: timm's `Eva` files (EVA-02 and the RoPE
ViTs: rotary position embedding, `blocks.N.gamma_1`, `q_bias`), SwiGLU MLPs
(DINOv2 giant), query/key normalisation. timm uses the exact (erf) GELU
unless the architecture says otherwise (`act_layer="gelu_tanh"`,
`"quick_gelu"`): builders loading these files default to the exact form;
build by architecture name (`keras_vit.vit("vit_base_patch16_clip_quickgelu_224")`)
for the others.
"""

import numpy as np

from keras_vit.checkpoints import layout

# Markers of architectures keras_vit does not build, with what they are.
_REFUSED = (
    (".gamma_1", "timm Eva blocks (EVA-02 / RoPE ViT: rotary position embedding, blocks.N.gamma_1)"),
    (".attn.q_bias", "timm Eva attention (separate q_bias/v_bias, EVA-02 / RoPE ViT)"),
    ("rope.", "a rotary position embedding (RoPE ViT)"),
    (".mlp.fc1_g.", "a SwiGLU MLP (blocks.N.mlp.fc1_g)"),
    (".mlp.w12.", "a SwiGLU MLP (blocks.N.mlp.w12)"),
    (".attn.q_norm.", "query/key normalisation (qk_norm)"),
    (".attn.norm.", "a LayerNorm inside attention (scale_attn_norm)"),
    (".mlp.norm.", "a LayerNorm inside the MLP (scale_mlp_norm)"),
    ("attn_pool.q_norm.", "query/key normalisation in the MAP head"),
)
# Nothing a loaded model computes: none.
NON_FUNCTIONAL_PREFIXES = ()
_TOKENS = {"cls_token": layout.CLASS_TOKEN, "dist_token": layout.DISTILLATION_TOKEN,
           "reg_token": layout.REGISTER_TOKENS}
# The prefix slots a timm position table may have, in order of preference:
# none (no_embed_class), class and distillation tokens (keras_vit's own
# form), or every prefix token (timm's default no_embed_class=False).
POSITION_CANDIDATES = [(), ("class", "distillation"), ("class", "distillation", "registers")]


def looks_like_timm(keys):
    return "patch_embed.proj.weight" in keys and any(k.startswith("blocks.") for k in keys)


def refusal(arrays):
    """Why a timm-style file (mapping of arrays, or of `ArrayInfo`-readable
    arrays) cannot be built here, or None. Reads headers only."""
    keys = set(arrays)
    if not looks_like_timm(keys):
        return None
    for marker, what in _REFUSED:
        found = sorted(k for k in keys if marker in k)
        if found:
            return (f"has {what} ({found[0]!r}), which keras_vit does not build; it would be "
                    "computed wrongly, so it is refused")
    if _swiglu(arrays, keys):
        return ("has a SwiGLU MLP (blocks.N.mlp.fc1 twice as wide as fc2's input, DINOv2 "
                "giant), which keras_vit does not build; it would be computed wrongly, so it is "
                "refused")
    if "pos_embed" not in keys:
        return ("has no 'pos_embed' (a model without absolute position embeddings, e.g. a RoPE "
                "ViT), which keras_vit does not build")
    return None


def _num_blocks(keys):
    index = 0
    while f"blocks.{index}.norm1.weight" in keys:
        index += 1
    return index


def _swiglu(arrays, keys):
    # SwiGLUPacked (DINOv2 giant) keeps timm's fc1/fc2 names but fc1 has twice
    # the rows fc2 has columns: the gate and the value.
    if "blocks.0.mlp.fc1.weight" in keys and "blocks.0.mlp.fc2.weight" in keys:
        fc1 = layout.info_of(arrays, "blocks.0.mlp.fc1.weight").shape
        fc2 = layout.info_of(arrays, "blocks.0.mlp.fc2.weight").shape
        if len(fc1) == 2 and len(fc2) == 2 and fc1[0] == 2 * fc2[1]:
            return True
    return False


def _check_refused(arrays, description):
    reason = refusal(arrays)
    if reason:
        raise ValueError(f"{description} {reason}.")


def architecture(arrays):
    """The options and sizes a timm file determines (headers only).

    Returns:
        dict with `class_token`, `distillation`, `num_register_tokens`,
        `pre_norm`, `fc_norm`, `layer_scale_init` (None or a float),
        `use_qkv_bias`, `pooling` (`"map"`, `"gap"` without a class token,
        or None), sizes (`hidden_dim`, `num_layers`, `mlp_dim`,
        `patch_size`, `classes` or None), `position_length`,
        `position_candidates` and `token_counts`.
    """
    keys = set(arrays)

    def shape(key):
        return tuple(layout.info_of(arrays, key).shape)

    kernel = shape("patch_embed.proj.weight")
    counts = {"class": int("cls_token" in keys), "distillation": int("dist_token" in keys),
              "registers": shape("reg_token")[1] if "reg_token" in keys else 0}
    pooling = "map" if any(k.startswith("attn_pool.") for k in keys) else (
        None if "cls_token" in keys else "gap")
    return dict(
        patch_bias="patch_embed.proj.bias" in keys,
        class_token="cls_token" in keys,
        distillation="dist_token" in keys,
        num_register_tokens=counts["registers"],
        pre_norm="norm_pre.weight" in keys,
        fc_norm="fc_norm.weight" in keys and "norm.weight" not in keys,
        layer_scale_init=1e-5 if "blocks.0.ls1.gamma" in keys else None,
        use_qkv_bias="blocks.0.attn.qkv.bias" in keys,
        pooling=pooling,
        hidden_dim=kernel[0],
        num_layers=_num_blocks(keys),
        mlp_dim=shape("blocks.0.mlp.fc1.weight")[0] if "blocks.0.mlp.fc1.weight" in keys else None,
        patch_size=tuple(kernel[2:]),
        classes=shape("head.weight")[0] if "head.weight" in keys else None,
        position_length=shape("pos_embed")[1],
        position_candidates=POSITION_CANDIDATES,
        token_counts=counts,
    )


def _check_shape(description, key, array, expected):
    # Slicing and reshaping below would otherwise fail with NumPy's message,
    # which names no key.
    if tuple(array.shape) != tuple(expected):
        raise ValueError(
            f"{description}: array {key!r} has shape {tuple(array.shape)}; expected "
            f"{tuple(expected)} for a width of {expected[-1]}."
        )


def _linear(source, weights, theirs, ours, description, shape=None):
    """A timm Linear `theirs.{weight,bias}` into a Dense `ours/{kernel,bias}`."""
    kernel = source.take(f"{theirs}.weight", f"{ours}/kernel", ndim=2)
    if shape is not None:
        _check_shape(description, f"{theirs}.weight", kernel, shape)
    weights[f"{ours}/kernel"] = kernel.T
    if f"{theirs}.bias" in source:
        weights[f"{ours}/bias"] = source.take(f"{theirs}.bias", f"{ours}/bias")


def _norm(source, weights, theirs, ours):
    weights[f"{ours}/gamma"] = source.take(f"{theirs}.weight", f"{ours}/gamma")
    weights[f"{ours}/beta"] = source.take(f"{theirs}.bias", f"{ours}/beta")


def _block(source, weights, keys, index, hidden, num_heads, description):
    t, b = f"blocks.{index}.", layout.block_prefix(index)
    head_dim = hidden // num_heads
    _norm(source, weights, f"{t}norm1", f"{b}layer_norm_1")
    _norm(source, weights, f"{t}norm2", f"{b}layer_norm_2")
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
            weights[f"{b}attention/{name}/bias"] = qkv_bias[j * hidden:(j + 1) * hidden].reshape(
                num_heads, head_dim)
    output = f"{b}attention/attention_output/"
    proj = source.take(f"{t}attn.proj.weight", output + "kernel")
    _check_shape(description, f"{t}attn.proj.weight", proj, (hidden, hidden))
    weights[output + "kernel"] = proj.T.reshape(num_heads, head_dim, hidden)
    weights[output + "bias"] = source.take(f"{t}attn.proj.bias", output + "bias")
    _linear(source, weights, f"{t}mlp.fc1", f"{b}mlp/dense_1", description)
    _linear(source, weights, f"{t}mlp.fc2", f"{b}mlp/dense_2", description)
    for ours, theirs in (("layer_scale_1", "ls1"), ("layer_scale_2", "ls2")):
        if f"{t}{theirs}.gamma" in keys:
            target = f"{b}{ours}/layer_scale"
            weights[target] = source.take(f"{t}{theirs}.gamma", target)


def _attention_pool(source, weights, hidden, description):
    p = layout.POOL
    weights[p + "latent"] = source.take("attn_pool.latent", p + "latent", ndim=3)
    _linear(source, weights, "attn_pool.q", p + "query", description, (hidden, hidden))
    kv = source.take("attn_pool.kv.weight", p + "key/kernel", p + "value/kernel", ndim=2)
    _check_shape(description, "attn_pool.kv.weight", kv, (2 * hidden, hidden))
    weights[p + "key/kernel"], weights[p + "value/kernel"] = kv[:hidden].T, kv[hidden:].T
    if "attn_pool.kv.bias" in source:
        kv_bias = source.take("attn_pool.kv.bias", p + "key/bias", p + "value/bias")
        _check_shape(description, "attn_pool.kv.bias", kv_bias, (2 * hidden,))
        weights[p + "key/bias"], weights[p + "value/bias"] = kv_bias[:hidden], kv_bias[hidden:]
    _linear(source, weights, "attn_pool.proj", p + "attention_output", description, (hidden, hidden))
    _norm(source, weights, "attn_pool.norm", p + "layer_norm")
    _linear(source, weights, "attn_pool.mlp.fc1", p + "mlp/dense_1", description)
    _linear(source, weights, "attn_pool.mlp.fc2", p + "mlp/dense_2", description)


def to_keras(arrays, num_heads, description="The checkpoint", expected=None):
    """Converts a timm state dict (NumPy arrays) to keras_vit's layout.

    Args:
        arrays: mapping key -> array.
        num_heads: int. Attention heads of the target model (timm's fused
            qkv weight does not record it).
        description: str naming the file in error messages.
        expected: optional dict keras_vit variable path -> shape of the
            model being loaded: each array's declared size is checked
            against it before the array is read (`layout.KeySource`).

    Returns:
        `(weights, source)` as `google.to_keras`. The position table is the
        file's, with `weights.position_candidates` saying which prefix slots
        it may hold (the loader decides with the model's grid).

    Raises:
        ValueError: for an architecture keras_vit does not build (Eva/RoPE,
            SwiGLU, qk_norm), naming it; for arrays of the wrong shape.
    """
    _check_refused(arrays, description)
    keys = set(arrays)
    source = layout.KeySource(arrays, description, expected)
    weights = layout.AssignOnce()
    kernel = source.take("patch_embed.proj.weight", layout.PATCH_KERNEL, ndim=4)
    hidden = kernel.shape[0]
    weights[layout.PATCH_KERNEL] = kernel.transpose(2, 3, 1, 0)
    if "patch_embed.proj.bias" in keys:
        weights[layout.PATCH_BIAS] = source.take("patch_embed.proj.bias", layout.PATCH_BIAS)
    for theirs, ours in _TOKENS.items():
        if theirs in keys:
            weights[ours] = source.take(theirs, ours, ndim=3)
            _check_shape(description, theirs, weights[ours], (1, weights[ours].shape[1], hidden))
    # The table may carry the prefix tokens' slots: the loader splits it.
    weights[layout.POSITION_EMBEDDING] = source.take(
        "pos_embed", layout.POSITION_EMBEDDING, *(t for t in _TOKENS.values() if t in weights), ndim=3)
    weights.position_candidates = POSITION_CANDIDATES
    if "norm_pre.weight" in keys:
        _norm(source, weights, "norm_pre", layout.PRE_NORM_SCALE.split("/")[0])
    if hidden % num_heads:
        raise ValueError(f"`num_heads`={num_heads} does not divide the checkpoint's width {hidden}.")
    for index in range(_num_blocks(keys)):
        _block(source, weights, keys, index, hidden, num_heads, description)
    if "norm.weight" in keys:
        _norm(source, weights, "norm", layout.NORM_SCALE.split("/")[0])
    if "fc_norm.weight" in keys:
        _norm(source, weights, "fc_norm", layout.FC_NORM_SCALE.split("/")[0])
    if "attn_pool.latent" in keys:
        _attention_pool(source, weights, hidden, description)
    for theirs, ours in (("head", layout.HEAD_KERNEL), ("head_dist", layout.HEAD_DIST_KERNEL)):
        if f"{theirs}.weight" in keys:
            weights[ours] = source.take(f"{theirs}.weight", ours, ndim=2).T
            bias = ours.replace("/kernel", "/bias")
            weights[bias] = source.take(f"{theirs}.bias", bias)
    return weights, source


def from_keras(weights, options=None):
    """Converts keras_vit-layout weights to a timm state dict.

    The position table follows timm's form for the architecture: with
    `no_embed_class`, the patch grid only; otherwise slots for the class
    and distillation tokens and zero slots for the register tokens. The
    file loads into the timm model of the same architecture
    (`timm.create_model(name, ...)` for the name the model was built from,
    or `VisionTransformer(..., reg_tokens=R, no_embed_class=...)`) with
    identical outputs.

    Args:
        weights: dict keras_vit variable path -> NumPy array.
        options: dict of the model's architecture options
            (`VisionTransformer.architecture_options()`); None for a plain
            ViT.

    Returns:
        A dict of timm state-dict keys -> NumPy arrays.
    """
    options = dict(options or {})
    position = weights[layout.POSITION_EMBEDDING]
    out = {"patch_embed.proj.weight": weights[layout.PATCH_KERNEL].transpose(3, 2, 0, 1)}
    if layout.PATCH_BIAS in weights:
        out["patch_embed.proj.bias"] = weights[layout.PATCH_BIAS]
    for theirs, ours in _TOKENS.items():
        if ours in weights:
            out[theirs] = weights[ours]
    slotted = 0 if options.get("no_embed_class") else (
        int(layout.CLASS_TOKEN in weights) + int(layout.DISTILLATION_TOKEN in weights))
    if layout.REGISTER_TOKENS in weights and not options.get("no_embed_class"):
        registers = weights[layout.REGISTER_TOKENS]
        position = np.concatenate(
            [position[:, :slotted], np.zeros_like(registers), position[:, slotted:]], axis=1)
    out["pos_embed"] = position
    for ours, theirs in ((layout.PRE_NORM_SCALE, "norm_pre"), (layout.NORM_SCALE, "norm"),
                         (layout.FC_NORM_SCALE, "fc_norm")):
        if ours in weights:
            out[f"{theirs}.weight"] = weights[ours]
            out[f"{theirs}.bias"] = weights[ours.replace("/gamma", "/beta")]
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
    p = layout.POOL
    if p + "latent" in weights:
        out["attn_pool.latent"] = weights[p + "latent"]
        for ours, theirs in (("query", "q"), ("attention_output", "proj"), ("mlp/dense_1", "mlp.fc1"),
                             ("mlp/dense_2", "mlp.fc2")):
            out[f"attn_pool.{theirs}.weight"] = weights[f"{p}{ours}/kernel"].T
            out[f"attn_pool.{theirs}.bias"] = weights[f"{p}{ours}/bias"]
        out["attn_pool.kv.weight"] = np.concatenate(
            [weights[f"{p}key/kernel"].T, weights[f"{p}value/kernel"].T])
        out["attn_pool.kv.bias"] = np.concatenate([weights[f"{p}key/bias"], weights[f"{p}value/bias"]])
        out["attn_pool.norm.weight"] = weights[f"{p}layer_norm/gamma"]
        out["attn_pool.norm.bias"] = weights[f"{p}layer_norm/beta"]
    for ours, theirs in ((layout.HEAD_KERNEL, "head"), (layout.HEAD_DIST_KERNEL, "head_dist")):
        if ours in weights:
            out[f"{theirs}.weight"] = weights[ours].T
            out[f"{theirs}.bias"] = weights[ours.replace("/kernel", "/bias")]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


LAYOUT = layout.Layout(
    name="timm",
    container="safetensors",
    recognise=looks_like_timm,
    to_keras=to_keras,
    architecture=architecture,
    approximate_gelu=False,
    from_keras=from_keras,
    refusal=refusal,
    non_functional=NON_FUNCTIONAL_PREFIXES,
    head_keys=("head.", "head_dist."),
    description="timm VisionTransformer state dict (and timm/... on the Hugging Face Hub)",
)
