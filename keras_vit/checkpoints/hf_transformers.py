"""The Hugging Face `transformers` ViT layout (`ViTModel`,
`ViTForImageClassification`), as `save_pretrained` writes it to
`model.safetensors` (e.g. the `google/vit-*` repositories on the Hub).

Keys, `P` being `vit.` in a `ViTForImageClassification` file and empty in a
`ViTModel` file:

- `P.embeddings.cls_token` `(1, 1, d)`;
  `P.embeddings.position_embeddings` `(1, 1 + n, d)`, with the class
  token's slot first (as keras_vit's table);
  `P.embeddings.patch_embeddings.projection.{weight, bias}`, the weight
  `(d, c, ph, pw)` (OIHW).
- per block `P.encoder.layer.{i}.`: `layernorm_before`,
  `attention.attention.{query, key, value}` (biases absent with
  `qkv_bias=False`), `attention.output.dense`, `layernorm_after`,
  `intermediate.dense` (MLP in) and `output.dense` (MLP out). Linear
  weights are `(out, in)`.
- `P.layernorm` (the final norm); `classifier.{weight (classes, d), bias}`
  in a classifier file.

transformers 5 names the same weights differently in memory
(`P.layers.{i}.attention.{q,k,v,o}_proj`, `P.layers.{i}.mlp.{fc1, fc2}`)
and renames them back when saving; a file holding the in-memory names
(`safetensors.torch.save_file(model.state_dict(), ...)`) is read too.

Keys read by nobody (`NON_FUNCTIONAL_PREFIXES`): `ViTModel`'s `pooler.dense`
(a tanh layer on the class token, feeding no keras_vit classifier: keras_vit
heads read the normalised class token directly, as
`ViTForImageClassification` does) and `embeddings.mask_token` (masked-image
modelling only; it never enters an inference pass).

What the file does not say: the weights carry neither the number of heads
(`to_keras` takes it) nor the configuration's `layer_norm_eps` and
`hidden_act`. `architecture` assumes `layer_norm_epsilon=1e-12`, the
`ViTConfig` default and the value in the configurations of Google's
converted checkpoints (`google/vit-*`; the original JAX models used 1e-6),
so a caller holding the repository's `config.json` should prefer its
`layer_norm_eps`. GELU: those configurations say `"hidden_act": "gelu"`,
the exact (erf) form (`MLP_ACTIVATION`), which is what transformers
computes (the JAX originals were trained with the tanh approximation;
the logits differ by about 1e-4).

Refused (`refusal`), each with a pointer to timm's copy of the same
weights, which keras_vit reads: transformers' `Dinov2Model` (its blocks are
named `norm1`/`mlp.fc1`/`layer_scale1.lambda1`, and the giant model's MLP
is a SwiGLU), `CLIPVisionModel`/`CLIPModel` (a 1-D `class_embedding`, a
LayerNorm before the blocks and quick-GELU) and
`SiglipVisionModel`/`SiglipModel` (no class token, an attention-pooling
head). This module converts the ViT layout only; timm's files of these
models are the same tensors in the layout `keras_vit.checkpoints.timm`
reads.
"""

import collections.abc
import re

import numpy as np

from keras_vit.checkpoints import layout

# Keys of a ViT file that no keras_vit model uses (see the docstring):
# ViTModel's tanh pooler, which the classifier does not use, and the
# masked-image-modelling mask token, unused at inference.
NON_FUNCTIONAL_PREFIXES = (
    "pooler.",
    "vit.pooler.",
    "embeddings.mask_token",
    "vit.embeddings.mask_token",
)
# What the file cannot say (see the docstring).
LAYER_NORM_EPSILON = 1e-12
MLP_ACTIVATION = "gelu"

_PREFIXES = ("vit.", "")
# Per block: keras_vit sublayer -> transformers name, for the names
# `save_pretrained` writes and for transformers 5's in-memory names.
_SAVED = {
    "block": "encoder.layer.{index}.",
    "layer_norm_1": "layernorm_before",
    "query": "attention.attention.query",
    "key": "attention.attention.key",
    "value": "attention.attention.value",
    "attention_output": "attention.output.dense",
    "layer_norm_2": "layernorm_after",
    "dense_1": "intermediate.dense",
    "dense_2": "output.dense",
}
_IN_MEMORY = {
    "block": "layers.{index}.",
    "layer_norm_1": "layernorm_before",
    "query": "attention.q_proj",
    "key": "attention.k_proj",
    "value": "attention.v_proj",
    "attention_output": "attention.o_proj",
    "layer_norm_2": "layernorm_after",
    "dense_1": "mlp.fc1",
    "dense_2": "mlp.fc2",
}
_PATCH = "embeddings.patch_embeddings.projection."


def _naming(keys):
    """`(prefix, names)` of a transformers ViT file, or None."""
    for prefix in _PREFIXES:
        if f"{prefix}{_PATCH}weight" not in keys or f"{prefix}embeddings.cls_token" not in keys:
            continue
        for names in (_SAVED, _IN_MEMORY):
            block = re.compile(_block_pattern(prefix, names) + re.escape(names["layer_norm_1"] + "."))
            if any(block.match(k) for k in keys):
                return prefix, names
    return None


def _block_pattern(prefix, names):
    return re.escape(prefix + names["block"]).replace(r"\{index\}", r"(\d+)")


def _block_indices(keys, prefix, names):
    pattern = re.compile(_block_pattern(prefix, names))
    return sorted({int(m.group(1)) for m in map(pattern.match, keys) if m})


# --- refused layouts -------------------------------------------------------

_DINOV2_SIZES = {384: "small", 768: "base", 1024: "large", 1536: "giant"}
# (width, patch, grid side) -> (transformers repository, timm model).
_CLIP_OPENAI = {
    (768, 32, 7): ("openai/clip-vit-base-patch32", "vit_base_patch32_clip_quickgelu_224.openai"),
    (768, 16, 14): ("openai/clip-vit-base-patch16", "vit_base_patch16_clip_quickgelu_224.openai"),
    (1024, 14, 16): ("openai/clip-vit-large-patch14", "vit_large_patch14_clip_quickgelu_224.openai"),
    (1024, 14, 24): ("openai/clip-vit-large-patch14-336", "vit_large_patch14_clip_quickgelu_336.openai"),
}
_SIGLIP_SIZES = {768: "base", 1024: "large", 1152: "so400m", 1536: "giantopt"}
# The SigLIP models timm publishes with a MAP head (timm 1.0.31,
# timm.list_pretrained("*siglip*webli")): name -> pretrained tags, SigLIP
# ("webli") before SigLIP 2 ("v2_webli").
_SIGLIP_TIMM = {
    **{f"vit_base_patch16_siglip_{r}": ("webli", "v2_webli") for r in (224, 256, 384, 512)},
    "vit_base_patch32_siglip_256": ("v2_webli",),
    "vit_large_patch16_siglip_256": ("webli", "v2_webli"),
    "vit_large_patch16_siglip_384": ("webli", "v2_webli"),
    "vit_large_patch16_siglip_512": ("v2_webli",),
    "vit_so400m_patch14_siglip_224": ("webli", "v2_webli"),
    # google/siglip-so400m-patch14-384 has a 27 x 27 grid: timm's 378 model
    # (378 = 27 * 14, the same weights) is what the grid names.
    "vit_so400m_patch14_siglip_378": ("webli", "v2_webli"),
    "vit_so400m_patch14_siglip_384": ("webli",),
    **{f"vit_so400m_patch16_siglip_{r}": ("v2_webli",) for r in (256, 384, 512)},
    **{f"vit_giantopt_patch16_siglip_{r}": ("v2_webli",) for r in (256, 384)},
}


def _side(slots, prefix_slots):
    """The side of the square patch grid of a position table, or None."""
    if not slots or slots <= prefix_slots:
        return None
    side = int(round((slots - prefix_slots) ** 0.5))
    return side if side * side == slots - prefix_slots else None


def _pointer(timm_name, origin=None):
    same = f", the same weights as {origin}" if origin else ""
    return (f"load timm's copy instead: keras_vit.vit({timm_name!r}) "
            f"(huggingface.co/timm/{timm_name}{same}).")


def _dinov2(arrays, shape):
    for prefix in ("", "dinov2."):
        lambdas = [k for k in arrays if k.startswith(f"{prefix}encoder.layer.") and k.endswith(".layer_scale1.lambda1")]
        mask = f"{prefix}embeddings.mask_token"
        if not lambdas and not (mask in arrays and f"{prefix}encoder.layer.0.norm1.weight" in arrays):
            continue
        marker = min(lambdas) if lambdas else mask
        registers = f"{prefix}embeddings.register_tokens" in arrays
        name = "Dinov2WithRegistersModel" if registers else "Dinov2Model"
        width = (shape(f"{prefix}embeddings.cls_token") or (None,))[-1]
        size = _DINOV2_SIZES.get(width)
        if size is None:
            advice = ("load timm's copy of the same weights instead "
                      "(huggingface.co/timm/vit_*_patch14_dinov2.lvd142m) with keras_vit.vit(<timm name>).")
        else:
            reg = "_reg4" if registers else ""
            origin = f"facebook/dinov2-{'with-registers-' if registers else ''}{size}"
            advice = _pointer(f"vit_{size}_patch14{reg}_dinov2.lvd142m", origin)
        return f"a transformers {name} file ({marker!r}), which keras_vit does not convert; {advice}"
    return None


def _clip(arrays, shape):
    for prefix in ("vision_model.", ""):
        marker = f"{prefix}embeddings.class_embedding"
        if marker not in arrays:
            continue
        name = "CLIPModel" if any(k.startswith("text_model.") for k in arrays) else "CLIPVisionModel"
        width = (shape(marker) or (None,))[-1]
        patch = (shape(f"{prefix}embeddings.patch_embedding.weight") or (None,) * 4)[-1]
        slots = (shape(f"{prefix}embeddings.position_embedding.weight") or (None,))[0]
        side = _side(slots, 1)
        known = _CLIP_OPENAI.get((width, patch, side))
        if known is None:
            advice = ("load timm's copy of the same weights instead "
                      "(huggingface.co/timm/vit_*_clip_*) with keras_vit.vit(<timm name>).")
        else:
            advice = "if these are OpenAI's weights, " + _pointer(known[1], known[0])
        return f"a transformers {name} file ({marker!r}), which keras_vit does not convert; {advice}"
    return None


def _siglip(arrays, shape):
    for prefix in ("vision_model.", ""):
        probe = f"{prefix}head.probe"
        patch_key = f"{prefix}embeddings.patch_embedding.weight"
        headless = (f"{prefix}post_layernorm.weight" in arrays and patch_key in arrays
                    and f"{prefix}embeddings.class_embedding" not in arrays)
        if probe not in arrays and not headless:
            continue
        marker = probe if probe in arrays else f"{prefix}post_layernorm.weight"
        name = "SiglipModel" if any(k.startswith("text_model.") for k in arrays) else "SiglipVisionModel"
        patch_shape = shape(patch_key) or ()
        slots = (shape(f"{prefix}embeddings.position_embedding.weight") or (None,))[0]
        side = _side(slots, 0)
        candidate = None
        if len(patch_shape) == 4 and side:
            size = _SIGLIP_SIZES.get(patch_shape[0])
            candidate = f"vit_{size}_patch{patch_shape[-1]}_siglip_{side * patch_shape[-1]}"
        tags = _SIGLIP_TIMM.get(candidate, ())
        if tags:
            advice = _pointer(f"{candidate}.{tags[0]}")
            if len(tags) > 1:
                advice += f" For SigLIP 2 weights: {candidate}.{tags[1]}."
        else:
            advice = ("load timm's copy of the same weights instead "
                      "(huggingface.co/timm/vit_*_siglip_*.webli) with keras_vit.vit(<timm name>).")
        return f"a transformers {name} file ({marker!r}), which keras_vit does not convert; {advice}"
    return None


def refusal(keys):
    """Why a transformers file of another model cannot be read, or None.

    Recognised (from the keys, or a mapping whose shapes are read from the
    headers only): `Dinov2Model` and `Dinov2WithRegistersModel`
    (`encoder.layer.{i}.layer_scale1.lambda1`, `embeddings.mask_token`),
    `CLIPVisionModel`/`CLIPModel` (`[vision_model.]embeddings.class_embedding`)
    and `SiglipVisionModel`/`SiglipModel` (`[vision_model.]head.probe`, or
    `post_layernorm` without a class embedding). The message names the
    layout and the timm copy of the same weights (picked by width, patch
    and grid when the file matches a published model), e.g.
    `"This is a transformers Dinov2Model file ('encoder.layer.0.layer_scale1.lambda1'),
    which keras_vit does not convert; load timm's copy instead:
    keras_vit.vit('vit_base_patch14_dinov2.lvd142m') (...)."`

    Args:
        keys: the file's keys: a mapping key -> array (shapes make the
            pointer precise) or any collection of keys.

    Returns:
        A one-line str, or None for any other file (a ViT file included).
    """
    keyset, shape = _key_shapes(keys)
    for check in (_dinov2, _clip, _siglip):
        message = check(keyset, shape)
        if message:
            return f"This is {message}"
    return None


def _key_shapes(keys):
    """`(set of keys, shape(key) -> tuple or None)` of a mapping or a key
    collection, never reading array data."""
    keyset = set(keys)
    if isinstance(keys, layout.LazyArrays):
        return keyset, lambda key: tuple(keys.info(key).shape) if key in keyset else None
    if isinstance(keys, collections.abc.Mapping):
        return keyset, lambda key: tuple(np.shape(keys[key])) if key in keyset else None
    return keyset, lambda key: None


# --- the ViT layout ----------------------------------------------------------


def looks_like(keys):
    """Whether the keys are a transformers file this module answers for: a
    ViT file (`to_keras` converts it) or one of the layouts `refusal`
    explains (`to_keras` raises its message)."""
    return _naming(set(keys)) is not None or refusal(keys) is not None


def _check_shape(description, key, array, expected, what):
    if tuple(array.shape) != tuple(expected):
        raise ValueError(
            f"{description}: array {key!r} has shape {tuple(array.shape)}; expected "
            f"{tuple(expected)} ({what})."
        )


def _require_vit(arrays, description):
    message = refusal(arrays)
    if message:
        raise ValueError(f"{description}: {message}")
    naming = _naming(set(arrays))
    if naming is None:
        raise ValueError(
            f"{description} is not a transformers ViTModel / ViTForImageClassification file (no "
            f"'[vit.]{_PATCH}weight', '[vit.]embeddings.cls_token' and blocks; first keys: "
            f"{sorted(arrays)[:5]})."
        )
    prefix, names = naming
    indices = _block_indices(arrays, prefix, names)
    if indices != list(range(len(indices))):
        missing = sorted(set(range(max(indices) + 1)) - set(indices))
        raise ValueError(
            f"{description}: the blocks are not numbered 0..n-1 (no "
            f"{prefix + names['block'].format(index=missing[0])!r}...; found {indices})."
        )
    return prefix, names, len(indices)


def to_keras(arrays, num_heads, description="The checkpoint", expected=None):
    """Converts a transformers ViT state dict (NumPy arrays) to keras_vit's layout.

    Args:
        arrays: mapping key -> array (a dict or a `layout.LazyArrays`).
        num_heads: int. Attention heads of the target model (the file does
            not record it).
        description: str naming the file in error messages.
        expected: optional dict keras_vit variable path -> shape of the
            model being loaded: each array's declared size is checked
            against it before the array is read (`layout.KeySource`), and
            the attention weights' head split against the model's.

    Returns:
        `(weights, source)`: a `layout.AssignOnce` of keras_vit paths ->
        arrays (the position table keeps the class slot) and the
        `layout.KeySource` recording which keys were used.

    Raises:
        ValueError: for a layout `refusal` names, a file that is not a ViT
            file, a missing key, a shape that does not fit the width taken
            from `cls_token`, or a `num_heads` that does not divide it.
    """
    prefix, names, depth = _require_vit(arrays, description)
    if isinstance(num_heads, bool) or not isinstance(num_heads, (int, np.integer)) or num_heads < 1:
        raise ValueError(f"`num_heads` must be a positive int. Received: {num_heads!r}")
    source = layout.KeySource(arrays, description, expected)
    weights = layout.AssignOnce()
    embeddings = f"{prefix}embeddings."
    class_token = source.take(f"{embeddings}cls_token", layout.CLASS_TOKEN, ndim=3)
    hidden = class_token.shape[-1]
    _check_shape(description, f"{embeddings}cls_token", class_token, (1, 1, hidden), "one class token")
    if hidden % num_heads:
        raise ValueError(
            f"`num_heads`={num_heads} does not divide the checkpoint's width {hidden} "
            f"({description})."
        )
    head_dim = hidden // num_heads
    if expected is not None:
        wanted = expected.get(layout.block_prefix(0) + "attention/query/kernel")
        if wanted is not None and tuple(wanted)[1:] != (num_heads, head_dim) and tuple(wanted)[0] == hidden:
            raise ValueError(
                f"{description}: `num_heads`={num_heads} splits the width {hidden} into heads of "
                f"{head_dim}, but the model's attention is {tuple(wanted)[1]} heads of "
                f"{tuple(wanted)[2]}."
            )
    weights[layout.CLASS_TOKEN] = class_token

    kernel_key = f"{embeddings}patch_embeddings.projection.weight"
    kernel = source.take(kernel_key, layout.PATCH_KERNEL, ndim=4)
    if kernel.shape[0] != hidden:
        raise ValueError(
            f"{description}: array {kernel_key!r} has shape {kernel.shape}; expected "
            f"({hidden}, channels, patch_h, patch_w) for the width {hidden} of 'cls_token'."
        )
    weights[layout.PATCH_KERNEL] = kernel.transpose(2, 3, 1, 0)
    bias_key = f"{embeddings}patch_embeddings.projection.bias"
    bias = source.take(bias_key, layout.PATCH_BIAS)
    _check_shape(description, bias_key, bias, (hidden,), "the patch projection's bias")
    weights[layout.PATCH_BIAS] = bias

    position_key = f"{embeddings}position_embeddings"
    position = source.take(position_key, layout.POSITION_EMBEDDING, ndim=3)
    if position.shape[0] != 1 or position.shape[2] != hidden or position.shape[1] < 2:
        raise ValueError(
            f"{description}: array {position_key!r} has shape {position.shape}; expected "
            f"(1, 1 + patches, {hidden}): the class slot then the patch grid."
        )
    weights[layout.POSITION_EMBEDDING] = position

    def dense(theirs, ours, in_dim, out_dim, bias_required=True):
        weight_key, bias_key = f"{theirs}.weight", f"{theirs}.bias"
        value = source.take(weight_key, f"{ours}/kernel", ndim=2)
        _check_shape(description, weight_key, value, (out_dim, in_dim), "(out, in)")
        kernel = value.T
        bias = None
        if bias_required or bias_key in arrays:
            bias = source.take(bias_key, f"{ours}/bias", ndim=1)
            _check_shape(description, bias_key, bias, (out_dim,), "the bias")
        return kernel, bias

    def norm(theirs, ours):
        for kind, target in (("weight", "gamma"), ("bias", "beta")):
            key = f"{theirs}.{kind}"
            value = source.take(key, f"{ours}/{target}", ndim=1)
            _check_shape(description, key, value, (hidden,), f"a LayerNorm {kind} of the width {hidden}")
            weights[f"{ours}/{target}"] = value

    mlp = None
    for index in range(depth):
        t = prefix + names["block"].format(index=index)
        b = layout.block_prefix(index)
        norm(t + names["layer_norm_1"], f"{b}layer_norm_1")
        norm(t + names["layer_norm_2"], f"{b}layer_norm_2")
        for name in ("query", "key", "value"):
            kernel, bias = dense(t + names[name], f"{b}attention/{name}", hidden, hidden, bias_required=False)
            weights[f"{b}attention/{name}/kernel"] = kernel.reshape(hidden, num_heads, head_dim)
            if bias is not None:
                weights[f"{b}attention/{name}/bias"] = bias.reshape(num_heads, head_dim)
        output = f"{b}attention/attention_output"
        kernel, bias = dense(t + names["attention_output"], output, hidden, hidden)
        weights[f"{output}/kernel"] = kernel.reshape(num_heads, head_dim, hidden)
        weights[f"{output}/bias"] = bias
        if mlp is None:
            mlp_key = f"{t}{names['dense_1']}.weight"
            mlp = source.info(mlp_key).shape[0]
        for ours, theirs, in_dim, out_dim in (("dense_1", "dense_1", hidden, mlp), ("dense_2", "dense_2", mlp, hidden)):
            kernel, bias = dense(t + names[theirs], f"{b}mlp/{ours}", in_dim, out_dim)
            weights[f"{b}mlp/{ours}/kernel"] = kernel
            weights[f"{b}mlp/{ours}/bias"] = bias
    norm(f"{prefix}layernorm", layout.NORM_SCALE.split("/")[0])

    if "classifier.weight" in arrays:
        kernel = source.take("classifier.weight", layout.HEAD_KERNEL, ndim=2)
        if kernel.shape[1] != hidden:
            raise ValueError(
                f"{description}: array 'classifier.weight' has shape {kernel.shape}; expected "
                f"(classes, {hidden})."
            )
        bias = source.take("classifier.bias", layout.HEAD_BIAS, ndim=1)
        _check_shape(description, "classifier.bias", bias, (kernel.shape[0],), "one bias per class")
        weights[layout.HEAD_KERNEL] = kernel.T
        weights[layout.HEAD_BIAS] = bias
    return weights, source


def architecture(arrays):
    """The `VisionTransformer` options a transformers ViT file determines.

    Read from the keys and the headers' shapes only (`layout.info_of`), no
    array data: `hidden_dim` (`cls_token`), `num_layers` (blocks),
    `mlp_dim` (`intermediate.dense`), `patch_size` (the projection's kernel;
    a tuple when not square), `use_qkv_bias`, `classes` (only with a
    `classifier`), and `layer_norm_epsilon`: 1e-12, which the file does not
    record (see the module docstring; `config.json`'s `layer_norm_eps` is
    authoritative when at hand). `num_heads` is not determined by the file.

    Raises:
        ValueError: as `to_keras` for a refused or unrecognised file.
    """
    prefix, names, depth = _require_vit(arrays, "The checkpoint")
    info = lambda key: tuple(layout.info_of(arrays, key).shape)  # noqa: E731
    embeddings = f"{prefix}embeddings."
    kernel = info(f"{embeddings}patch_embeddings.projection.weight")
    if len(kernel) != 4:
        raise ValueError(f"The checkpoint's patch projection has shape {kernel}; expected 4 dimensions.")
    first = prefix + names["block"].format(index=0)
    options = {
        "hidden_dim": int(info(f"{embeddings}cls_token")[-1]),
        "num_layers": depth,
        "mlp_dim": int(info(f"{first}{names['dense_1']}.weight")[0]),
        "patch_size": int(kernel[2]) if kernel[2] == kernel[3] else (int(kernel[2]), int(kernel[3])),
        "use_qkv_bias": f"{first}{names['query']}.bias" in arrays,
        "layer_norm_epsilon": LAYER_NORM_EPSILON,
    }
    if "classifier.weight" in arrays:
        options["classes"] = int(info("classifier.weight")[0])
    return options


_UNREPRESENTABLE = {
    layout.REGISTER_TOKENS: "register tokens",
    "distillation_token/distillation_token": "a distillation token",
    "pre_norm/gamma": "a LayerNorm before the blocks",
    "fc_norm/gamma": "a LayerNorm after pooling (fc_norm)",
    "attention_pool/latent": "an attention-pooling head",
    "head_dist/kernel": "a distillation head",
}


def from_keras(weights, options=None):
    """Converts keras_vit-layout weights to a transformers ViT state dict.

    With a head, the keys are `ViTForImageClassification`'s (`vit.` prefix
    and `classifier`); without, `ViTModel`'s (load it with
    `ViTModel(config, add_pooling_layer=False)`: the file has no pooler).
    Names are those `save_pretrained` writes. transformers computes the same
    outputs when its config matches the model (`hidden_act` "gelu" for
    exact GELU, "gelu_pytorch_tanh" for the tanh form; `layer_norm_eps`).

    Args:
        weights: dict keras_vit variable path -> NumPy array.
        options: dict of the model's architecture options; accepted for the common
            export signature (the layout has none to record).

    Returns:
        A dict of transformers keys -> NumPy arrays.

    Raises:
        ValueError: if the model has parts the ViT layout cannot hold
            (register tokens, LayerScale, distillation, fc_norm, a MAP head,
            a norm before the blocks) or no class token.
    """
    for key, what in _UNREPRESENTABLE.items():
        if key in weights:
            raise ValueError(f"transformers' ViT has no {what}; export with format='timm' instead.")
    if any(k.endswith("/layer_scale") for k in weights):
        raise ValueError("transformers' ViT has no LayerScale; export with format='timm' instead.")
    if layout.CLASS_TOKEN not in weights:
        raise ValueError("transformers' ViT always has a class token; this model has none.")
    prefix = "vit." if layout.HEAD_KERNEL in weights else ""
    e = f"{prefix}embeddings."
    out = {
        f"{e}cls_token": weights[layout.CLASS_TOKEN],
        f"{e}position_embeddings": weights[layout.POSITION_EMBEDDING],
        f"{e}patch_embeddings.projection.weight": weights[layout.PATCH_KERNEL].transpose(3, 2, 0, 1),
        f"{e}patch_embeddings.projection.bias": weights[layout.PATCH_BIAS],
        f"{prefix}layernorm.weight": weights[layout.NORM_SCALE],
        f"{prefix}layernorm.bias": weights[layout.NORM_BIAS],
    }
    for index in range(layout.count_blocks(weights)):
        b, t = layout.block_prefix(index), prefix + _SAVED["block"].format(index=index)
        hidden = weights[f"{b}attention/query/kernel"].shape[0]
        for ours in ("layer_norm_1", "layer_norm_2"):
            out[f"{t}{_SAVED[ours]}.weight"] = weights[f"{b}{ours}/gamma"]
            out[f"{t}{_SAVED[ours]}.bias"] = weights[f"{b}{ours}/beta"]
        for name in ("query", "key", "value"):
            out[f"{t}{_SAVED[name]}.weight"] = weights[f"{b}attention/{name}/kernel"].reshape(hidden, hidden).T
            if f"{b}attention/{name}/bias" in weights:
                out[f"{t}{_SAVED[name]}.bias"] = weights[f"{b}attention/{name}/bias"].reshape(hidden)
        output = f"{b}attention/attention_output/"
        out[f"{t}{_SAVED['attention_output']}.weight"] = weights[output + "kernel"].reshape(hidden, hidden).T
        out[f"{t}{_SAVED['attention_output']}.bias"] = weights[output + "bias"]
        for ours in ("dense_1", "dense_2"):
            out[f"{t}{_SAVED[ours]}.weight"] = weights[f"{b}mlp/{ours}/kernel"].T
            out[f"{t}{_SAVED[ours]}.bias"] = weights[f"{b}mlp/{ours}/bias"]
    if layout.HEAD_KERNEL in weights:
        out["classifier.weight"] = weights[layout.HEAD_KERNEL].T
        out["classifier.bias"] = weights[layout.HEAD_BIAS]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


LAYOUT = layout.Layout(
    name="transformers",
    container="safetensors",
    recognise=looks_like,
    to_keras=to_keras,
    architecture=architecture,
    approximate_gelu=False,
    from_keras=from_keras,
    refusal=refusal,
    non_functional=NON_FUNCTIONAL_PREFIXES,
    head_keys=("classifier.",),
    description="Hugging Face transformers ViTModel / ViTForImageClassification",
)
