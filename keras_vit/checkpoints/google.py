"""The Google ViT / AugReg / big_vision `.npz` layout.

Flat arrays under '/'-joined Flax names. Three dialects are read:

- google-research/vision_transformer (original ViT and AugReg):
  `embedding/kernel`, `cls`, `Transformer/posembed_input/pos_embedding`
  (with the class slot), `Transformer/encoderblock_{i}/{LayerNorm_0,
  MultiHeadDotProductAttention_1, LayerNorm_2, MlpBlock_3}`,
  `Transformer/encoder_norm`, `head`; old files nest all of it under
  `opt/target/`, and the original ImageNet-21k files add `pre_logits`.
- big_vision: a `params/` prefix, sublayers numbered
  `MultiHeadDotProductAttention_0`, `LayerNorm_1`, `MlpBlock_0`, and
  `pos_embedding` at the top level **without** a class slot (big_vision
  adds position embeddings before prepending the class token, so the class
  token's slot is zero here).
- Either, with scanned blocks: `Transformer/encoderblock/...` arrays with a
  leading depth axis.

Arrays need no transposes: keras_vit's kernels have the Flax shapes. These
models were trained with the tanh approximation of GELU (Flax's
`nn.gelu` default), so builders loading them default to
`approximate_gelu=True`; timm evaluates the same files with the exact form.
"""

import numpy as np

from keras_vit.checkpoints import layout

PREFIXES = ("opt/target/", "params/", "")
_PROJECTIONS = {"query": "query", "key": "key", "value": "value", "out": "attention_output"}


def detect_prefix(keys):
    """The key prefix of a Google-layout file, or None if it is not one."""
    for prefix in PREFIXES:
        if f"{prefix}embedding/kernel" in keys:
            return prefix
    return None


def is_big_vision(keys, prefix):
    return (
        prefix == "params/"
        or f"{prefix}pos_embedding" in keys
        or any(k.startswith(f"{prefix}Transformer/encoderblock_0/MlpBlock_0/") for k in keys)
        or f"{prefix}Transformer/encoderblock/MlpBlock_0/Dense_0/kernel" in keys
    )


def _depth(arrays, keys, p):
    scanned = f"{p}Transformer/encoderblock/LayerNorm_0/scale" in keys
    if scanned:
        shape = layout.info_of(arrays, f"{p}Transformer/encoderblock/LayerNorm_0/scale").shape
        return shape[0] if len(shape) == 2 else None
    depth = 0
    while f"{p}Transformer/encoderblock_{depth}/LayerNorm_0/scale" in keys:
        depth += 1
    return depth


def architecture(arrays):
    """The options and sizes a Google/big_vision file determines (headers
    only): a class token with a position slot (big_vision's zero slot is
    equivalent), no LayerScale, registers, pre_norm, fc_norm or
    distillation; `use_qkv_bias`; `hidden_dim`, `num_layers`, `mlp_dim`,
    `patch_size`, `classes` (None without a usable head)."""
    keys = set(arrays)
    p = detect_prefix(keys) or ""
    block = "Transformer/encoderblock/" if f"{p}Transformer/encoderblock/LayerNorm_0/scale" in keys else \
        "Transformer/encoderblock_0/"
    mlp = "MlpBlock_0" if is_big_vision(keys, p) else "MlpBlock_3"
    kernel = tuple(layout.info_of(arrays, f"{p}embedding/kernel").shape)
    dense = f"{p}{block}{mlp}/Dense_0/kernel"
    attention = [k for k in keys if k.startswith(f"{p}{block}MultiHeadDotProductAttention_")
                 and k.endswith("/query/bias")]
    head = f"{p}head/kernel"
    usable_head = head in keys and f"{p}pre_logits/kernel" not in keys
    return dict(
        class_token=True, distillation=False, num_register_tokens=0, pre_norm=False,
        fc_norm=False, layer_scale_init=None, use_qkv_bias=bool(attention),
        hidden_dim=kernel[-1], num_layers=_depth(arrays, keys, p),
        mlp_dim=layout.info_of(arrays, dense).shape[-1] if dense in keys else None,
        patch_size=kernel[:2],
        classes=layout.info_of(arrays, head).shape[-1] if usable_head else None,
    )


def to_keras(arrays, description="The checkpoint", expected=None):
    """Converts Google/big_vision arrays to keras_vit's layout.

    Args:
        arrays: mapping name -> array, as read from the `.npz`.
        description: str naming the file in error messages.
        expected: optional dict keras_vit variable path -> shape of the
            model being loaded: each array's declared size is checked
            against it before the array is read (`layout.KeySource`).

    Returns:
        `(weights, source)`: a dict keyed by keras_vit variable paths and the
        `layout.KeySource` (its `unused()` lists keys not converted, e.g.
        `pre_logits/*`).

    Raises:
        ValueError: on a file this layout cannot represent (no class token,
            a MAP head), naming the keys.
    """
    keys = set(arrays)
    prefix = detect_prefix(keys)
    if prefix is None:
        raise ValueError(f"{description} is not in the Google ViT layout: no 'embedding/kernel'.")
    big_vision = is_big_vision(keys, prefix)
    source = layout.KeySource(arrays, description, expected)
    p = prefix
    if f"{p}cls" not in keys:
        raise ValueError(
            f"{description} has no class token ('{p}cls'): it is a big_vision model with "
            "pool_type 'gap' or 'map', whose sequence has no class token. keras_vit models "
            "always carry one, so this checkpoint cannot be represented exactly."
        )
    if any(k.startswith(f"{p}MAPHead_0/") for k in keys):
        raise ValueError(f"{description} has a MAP head ('{p}MAPHead_0/...'), which keras_vit does not build.")
    weights = layout.AssignOnce()
    weights[layout.PATCH_KERNEL] = source.take(f"{p}embedding/kernel", layout.PATCH_KERNEL)
    weights[layout.PATCH_BIAS] = source.take(f"{p}embedding/bias", layout.PATCH_BIAS)
    weights[layout.CLASS_TOKEN] = source.take(f"{p}cls", layout.CLASS_TOKEN)
    if big_vision and f"{p}pos_embedding" in keys:
        grid = source.take(f"{p}pos_embedding", layout.POSITION_EMBEDDING, ndim=(2, 3))
        if grid.ndim == 2:
            grid = grid[None]
        # The class token got no position embedding: its slot is zero.
        class_slot = np.zeros_like(grid[:, :1])
        weights[layout.POSITION_EMBEDDING] = np.concatenate([class_slot, grid], axis=1)
    else:
        weights[layout.POSITION_EMBEDDING] = source.take(
            f"{p}Transformer/posembed_input/pos_embedding", layout.POSITION_EMBEDDING
        )
    attention, norm_2, mlp = (0, 1, 0) if big_vision else (1, 2, 3)
    scanned = f"{p}Transformer/encoderblock/LayerNorm_0/scale" in keys
    if scanned:
        # The depth is the leading axis of every scanned array (from the
        # header: nothing is read yet).
        shape = source.info(f"{p}Transformer/encoderblock/LayerNorm_0/scale").shape
        if len(shape) != 2:
            raise ValueError(
                f"{description}: scanned array '{p}Transformer/encoderblock/LayerNorm_0/scale' "
                f"has shape {tuple(shape)}; expected (depth, width)."
            )
        depth = shape[0]
    else:
        depth = 0
        while f"{p}Transformer/encoderblock_{depth}/LayerNorm_0/scale" in keys:
            depth += 1
    scanned_cache = {}

    def block_array(index, name, ours):
        if not scanned:
            return source.take(f"{p}Transformer/encoderblock_{index}/{name}", layout.block_prefix(index) + ours)
        key = f"{p}Transformer/encoderblock/{name}"
        if key not in scanned_cache:
            if tuple(source.info(key).shape[:1]) != (depth,):
                raise ValueError(
                    f"{description}: scanned array {key!r} has shape {tuple(source.info(key).shape)}; "
                    f"its leading axis must be the depth, {depth}."
                )
            # One array holds this weight of every block: its size is
            # checked against all of them together.
            targets = [layout.block_prefix(i) + ours for i in range(depth)]
            scanned_cache[key] = source.take(key, *targets)
        return scanned_cache[key][index]

    for index in range(depth):
        b = layout.block_prefix(index)
        mha = f"MultiHeadDotProductAttention_{attention}"
        for ours, theirs in (("layer_norm_1", "LayerNorm_0"), ("layer_norm_2", f"LayerNorm_{norm_2}")):
            weights[f"{b}{ours}/gamma"] = block_array(index, f"{theirs}/scale", f"{ours}/gamma")
            weights[f"{b}{ours}/beta"] = block_array(index, f"{theirs}/bias", f"{ours}/beta")
        for theirs, ours in _PROJECTIONS.items():
            kernel = f"attention/{ours}/kernel"
            weights[b + kernel] = block_array(index, f"{mha}/{theirs}/kernel", kernel)
            bias_name = f"{mha}/{theirs}/bias"
            present = (f"{p}Transformer/encoderblock/{bias_name}" if scanned
                       else f"{p}Transformer/encoderblock_{index}/{bias_name}") in keys
            if present:
                weights[f"{b}attention/{ours}/bias"] = block_array(index, bias_name, f"attention/{ours}/bias")
        for dense in (0, 1):
            for kind in ("kernel", "bias"):
                ours = f"mlp/dense_{dense + 1}/{kind}"
                weights[b + ours] = block_array(index, f"MlpBlock_{mlp}/Dense_{dense}/{kind}", ours)
    weights[layout.NORM_SCALE] = source.take(f"{p}Transformer/encoder_norm/scale", layout.NORM_SCALE)
    weights[layout.NORM_BIAS] = source.take(f"{p}Transformer/encoder_norm/bias", layout.NORM_BIAS)
    if f"{p}head/kernel" in keys and f"{p}pre_logits/kernel" not in keys:
        weights[layout.HEAD_KERNEL] = source.take(f"{p}head/kernel", layout.HEAD_KERNEL, ndim=2)
        weights[layout.HEAD_BIAS] = source.take(f"{p}head/bias", layout.HEAD_BIAS)
    # With `pre_logits` (a tanh Dense the original ImageNet-21k models put
    # before the head) the head expects that layer's output; keras_vit does
    # not build it, so head and pre_logits stay unused and the loader skips
    # the head, as timm does.
    return weights, source


def from_keras(weights, options=None):
    """Converts keras_vit-layout weights to the Google ViT `.npz` layout.

    Args:
        weights: dict keras_vit variable path -> NumPy array (all of a
            model's weights).
        options: dict of the model's architecture options
            (`VisionTransformer.architecture_options()`); None for a plain
            ViT.

    Returns:
        A dict in the google-research/vision_transformer layout (no prefix,
        class slot inside `Transformer/posembed_input/pos_embedding`).

    Raises:
        ValueError: if the model uses something the layout cannot hold
            (register tokens, LayerScale).
    """
    options = dict(options or {})
    unsupported = [
        ("register tokens", layout.REGISTER_TOKENS in weights),
        ("LayerScale", any(k.endswith("/layer_scale") for k in weights)),
        ("a model without class token", layout.CLASS_TOKEN not in weights),
        ("a distillation token", layout.DISTILLATION_TOKEN in weights),
        ("a LayerNorm before the blocks (pre_norm)", layout.PRE_NORM_SCALE in weights),
        ("fc_norm", layout.FC_NORM_SCALE in weights),
        ("an attention-pooling head", layout.POOL + "latent" in weights),
    ]
    for what, present in unsupported:
        if present:
            raise ValueError(f"The Google .npz layout has no {what}; export with format='timm' instead."
                             if not what.startswith("a model") else
                             f"The Google .npz layout cannot hold {what}; export with format='timm' instead.")
    position = weights[layout.POSITION_EMBEDDING]
    if options.get("no_embed_class"):
        # The class token's missing slot is a zero slot.
        position = np.concatenate([np.zeros_like(position[:, :1]), position], axis=1)
    out = {
        "embedding/kernel": weights[layout.PATCH_KERNEL],
        "embedding/bias": weights[layout.PATCH_BIAS],
        "cls": weights[layout.CLASS_TOKEN],
        "Transformer/posembed_input/pos_embedding": position,
        "Transformer/encoder_norm/scale": weights[layout.NORM_SCALE],
        "Transformer/encoder_norm/bias": weights[layout.NORM_BIAS],
    }
    for index in range(layout.count_blocks(weights)):
        b = layout.block_prefix(index)
        t = f"Transformer/encoderblock_{index}/"
        for ours, theirs in (("layer_norm_1", "LayerNorm_0"), ("layer_norm_2", "LayerNorm_2")):
            out[f"{t}{theirs}/scale"] = weights[f"{b}{ours}/gamma"]
            out[f"{t}{theirs}/bias"] = weights[f"{b}{ours}/beta"]
        for theirs, ours in _PROJECTIONS.items():
            for kind in ("kernel", "bias"):
                key = f"{b}attention/{ours}/{kind}"
                if key in weights:
                    out[f"{t}MultiHeadDotProductAttention_1/{theirs}/{kind}"] = weights[key]
        for dense in (0, 1):
            for kind in ("kernel", "bias"):
                out[f"{t}MlpBlock_3/Dense_{dense}/{kind}"] = weights[f"{b}mlp/dense_{dense + 1}/{kind}"]
    if layout.HEAD_KERNEL in weights:
        out["head/kernel"] = weights[layout.HEAD_KERNEL]
        out["head/bias"] = weights[layout.HEAD_BIAS]
    return out


def _to_keras(arrays, num_heads, description="The checkpoint", expected=None):
    return to_keras(arrays, description, expected)


def _recognise(big_vision):
    def recognise(keys):
        prefix = detect_prefix(keys)
        return prefix is not None and is_big_vision(keys, prefix) == big_vision
    return recognise


GOOGLE = layout.Layout(
    name="google", container="npz", recognise=_recognise(False), to_keras=_to_keras,
    architecture=architecture, approximate_gelu=True, from_keras=from_keras,
    head_keys=("head/", "pre_logits/"),
    # Old files keep the optimizer's state beside its `opt/target/` weights.
    non_functional=("opt/state/",),
    description="google-research/vision_transformer .npz (ViT, AugReg)",
)
BIG_VISION = layout.Layout(
    name="big_vision", container="npz", recognise=_recognise(True), to_keras=_to_keras,
    architecture=architecture, approximate_gelu=True, head_keys=("head/", "pre_logits/"),
    description="big_vision .npz (params/ prefix, class token without position slot)",
)
