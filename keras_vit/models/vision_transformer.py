import keras
from keras import ops

from keras_vit.layers.initializers import TruncatedNormal
from keras_vit import layer_names as names
from keras_vit.layers import (
    AttentionPool,
    ClassToken,
    DistillationToken,
    PatchEmbedding,
    PositionEmbedding,
    RegisterTokens,
    TransformerBlock,
)
from keras_vit.layers.mlp import check_mlp_activation
from keras_vit.models.variants import get_variant_config  # noqa: F401 (doctest)
from keras_vit._validation import (
    check_bool,
    check_float,
    check_int_tuple,
    check_non_negative_int,
    check_optional,
    check_optional_positive_float,
    check_pair,
    check_positive_int,
    check_rate,
    check_remat,
)

POOLING_MODES = ("token", "gap", "map", None)
DEFAULT_INPUT_SHAPE = (224, 224, 3)

# The most parameters a model may have unless its `max_parameters` says
# otherwise: 10 billion, 40 GB of float32 weights. The largest plain ViTs
# fit (ViT-G/14: 1.8B, ViT-e: 3.9B); a typo such as hidden_dim=10**9 is
# refused at once instead of attempting the allocation.
MAX_PARAMETERS = 10_000_000_000


def _check_input_shape(input_shape, patch_size):
    if input_shape is None:
        input_shape = DEFAULT_INPUT_SHAPE
    try:
        input_shape = check_int_tuple("input_shape", input_shape, 3, "(height, width, channels)")
    except ValueError as error:
        raise ValueError(
            f"{error}. The position embedding needs a static grid: use "
            "`resize_model` to run at another resolution."
        ) from None
    height, width, _ = input_shape
    if height % patch_size[0] or width % patch_size[1]:
        raise ValueError(
            f"The image size in `input_shape`={tuple(input_shape)} must be divisible "
            f"by `patch_size`={patch_size[0] if patch_size[0] == patch_size[1] else patch_size}."
        )
    return input_shape


# Options that change the architecture beyond the four sizes, with their
# defaults (a plain ViT). `count_parameters` and `VisionTransformer` take them.
ARCHITECTURE_DEFAULTS = dict(
    patch_bias=True,
    class_token=True,
    distillation=False,
    num_register_tokens=0,
    no_embed_class=False,
    pre_norm=False,
    fc_norm=False,
    layer_scale_init=None,
    use_qkv_bias=True,
    pooling="token",
)


def _parameter_count(patch_size, hidden_dim, num_layers, mlp_dim, input_shape, include_top,
                     classes, options):
    """The closed form of `count_parameters`, on checked arguments."""
    d = hidden_dim
    o = options
    grid = (input_shape[0] // patch_size[0]) * (input_shape[1] // patch_size[1])
    tokens = int(o["class_token"]) + int(o["distillation"])
    slots = 0 if o["no_embed_class"] else tokens
    embeddings = (
        patch_size[0] * patch_size[1] * input_shape[2] * d  # patch projection
        + (d if o["patch_bias"] else 0)  # its bias
        + tokens * d  # class and distillation tokens
        + (slots + grid) * d  # position table: slotted tokens and patches
        + o["num_register_tokens"] * d  # registers (no position)
        + (2 * d if o["pre_norm"] else 0)  # pre_norm
    )
    block = (
        2 * d  # layer_norm_1
        + 3 * d * d + (3 * d if o["use_qkv_bias"] else 0)  # query, key, value
        + d * d + d  # attention_output
        + 2 * d  # layer_norm_2
        + d * mlp_dim + mlp_dim + mlp_dim * d + d  # mlp dense_1, dense_2
        + (2 * d if o["layer_scale_init"] is not None else 0)  # layer_scale_1, layer_scale_2
    )
    pool = 0
    if o["pooling"] == "map":
        pool = d + 4 * (d * d + d) + 2 * d + d * mlp_dim + mlp_dim + mlp_dim * d + d
    heads = 1 + int(o["distillation"])
    head = heads * (d * classes + classes) if include_top else 0
    # encoder_norm, or fc_norm in its place
    return embeddings + num_layers * block + 2 * d + pool + head


def _check_options(options):
    """Checks the architecture options (see `ARCHITECTURE_DEFAULTS`) and
    returns them with defaults filled in."""
    unknown = sorted(set(options) - set(ARCHITECTURE_DEFAULTS))
    if unknown:
        raise TypeError(f"Unknown architecture option(s): {', '.join(unknown)}.")
    o = {**ARCHITECTURE_DEFAULTS, **options}
    for key in ("patch_bias", "class_token", "distillation", "no_embed_class", "pre_norm", "fc_norm",
                "use_qkv_bias"):
        o[key] = check_bool(key, o[key])
    o["num_register_tokens"] = check_non_negative_int("num_register_tokens", o["num_register_tokens"])
    o["layer_scale_init"] = check_optional_positive_float("layer_scale_init", o["layer_scale_init"])
    if o["pooling"] not in POOLING_MODES:
        raise ValueError(
            f"`pooling` must be one of {POOLING_MODES}. Received: pooling={o['pooling']!r}"
        )
    if o["pooling"] == "token" and not o["class_token"]:
        raise ValueError(
            "`pooling`='token' needs the class token; with class_token=False use pooling='gap' "
            "or 'map' (or None)."
        )
    if o["distillation"]:
        if not o["class_token"]:
            raise ValueError("`distillation`=True needs the class token (class_token=True).")
        if o["pooling"] not in ("token", None):
            raise ValueError(
                "A distilled ViT (distillation=True) pools its class and distillation tokens: "
                f"`pooling` must be 'token' or None. Received: pooling={o['pooling']!r}"
            )
    return o


def count_parameters(
    patch_size=16,
    hidden_dim=768,
    num_layers=12,
    mlp_dim=3072,
    input_shape=None,
    include_top=True,
    classes=1000,
    num_register_tokens=0,
    layer_scale_init=None,
    use_qkv_bias=True,
    num_heads=None,
    class_token=True,
    distillation=False,
    no_embed_class=False,
    pre_norm=False,
    fc_norm=False,
    patch_bias=True,
    pooling=None,
    **kwargs,
):
    """Parameter count of a `VisionTransformer`, from its configuration alone.

    The closed form, with `d = hidden_dim`, `m = mlp_dim` and a grid of
    `n = (height / patch_h) * (width / patch_w)` patches:
    patch embedding `patch_h * patch_w * channels * d + d`; class and
    distillation tokens `d` each; position table `(s + n) * d` with `s`
    slotted tokens (class and distillation, none with `no_embed_class`);
    registers `num_register_tokens * d`; `pre_norm` `2 d`; per block
    `4 d^2 + 4 d` (query/key/value and output projections with biases,
    less `3 d` without the query/key/value biases) `+ 2 d m + m + d` (MLP)
    `+ 4 d` (two LayerNorms) `+ 2 d` (LayerScale, if used); final LayerNorm
    (`encoder_norm` or `fc_norm`) `2 d`; a MAP head
    `d + 4 (d^2 + d) + 2 d + 2 d m + m + d`; head `d * classes + classes`,
    twice for a distilled model (with `include_top`). It equals
    `model.count_params()` and is what `VisionTransformer` checks against
    `max_parameters` before creating any layer. Python integers: no
    overflow, and nothing is allocated.

    Args:
        patch_size: int or tuple `(patch_h, patch_w)`.
        hidden_dim: int. Token width.
        num_layers: int. Number of transformer blocks.
        mlp_dim: int. Hidden width of each MLP block.
        input_shape: tuple `(height, width, channels)`; None is
            `(224, 224, 3)`.
        include_top: bool. Whether the classification head is counted.
        classes: int. Classes of the head (with `include_top`).
        num_register_tokens: int >= 0. Register tokens.
        layer_scale_init: float > 0 or None. Whether LayerScale is used.
        use_qkv_bias: bool. Whether the query/key/value projections have
            biases.
        num_heads: int or None. Does not change the count; accepted so that
            a configuration dictionary can be passed as it is.
        class_token, distillation, no_embed_class, pre_norm, fc_norm,
            patch_bias: bool. The architecture options of
            `VisionTransformer`.
        pooling: `"token"`, `"gap"`, `"map"` or None. Only `"map"` (an
            attention-pooling head) changes the count; None is `"token"`
            with a class token, `"gap"` without.
        **kwargs: other `VisionTransformer` arguments, which do not change
            the count (rates, `mlp_activation`, `layer_norm_epsilon`,
            `weights`, ...): accepted so that `model.get_config()` can be
            passed as it is; unknown names are a `TypeError`.

    Returns:
        int: the number of parameters (weights) of the model.

    Example:
    >>> count_parameters(**get_variant_config("B/16"))  # ViT-B/16, 224 px, 1000 classes
    86567656
    >>> count_parameters(patch_size=14, hidden_dim=1664, num_layers=48, mlp_dim=8192)  # ViT-G/14
    1844440680
    """
    patch_size = check_pair("patch_size", patch_size)
    hidden_dim = check_positive_int("hidden_dim", hidden_dim)
    num_layers = check_positive_int("num_layers", num_layers)
    mlp_dim = check_positive_int("mlp_dim", mlp_dim)
    check_optional(check_positive_int, "num_heads", num_heads)
    input_shape = _check_input_shape(input_shape, patch_size)
    include_top = check_bool("include_top", include_top)
    classes = check_positive_int("classes", classes) if include_top else 0
    import inspect

    accepted = set(inspect.signature(VisionTransformer.__init__).parameters)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise TypeError(f"count_parameters() got unexpected argument(s): {', '.join(unknown)}.")
    if pooling is None and include_top:
        pooling = "token" if class_token else "gap"
    options = _check_options(dict(
        num_register_tokens=num_register_tokens, layer_scale_init=layer_scale_init,
        use_qkv_bias=use_qkv_bias, class_token=class_token, distillation=distillation,
        no_embed_class=no_embed_class, pre_norm=pre_norm, fc_norm=fc_norm, patch_bias=patch_bias,
        pooling=pooling,
    ))
    return _parameter_count(patch_size, hidden_dim, num_layers, mlp_dim, input_shape, include_top,
                            classes, options)


def _check_size(count, max_parameters, config):
    limit = MAX_PARAMETERS if max_parameters is None else max_parameters
    if count > limit:
        described = ", ".join(f"{key}={value!r}" for key, value in config.items())
        raise ValueError(
            f"This VisionTransformer ({described}) would have {count:,} parameters "
            f"({count * 4 / 1e9:,.1f} GB in float32), more than `max_parameters`={limit:,}"
            f"{' (the default, MAX_PARAMETERS)' if max_parameters is None else ''}. "
            "Check the sizes, or pass a larger `max_parameters` to build it anyway."
        )


def _resolve_dtype(dtype):
    if isinstance(dtype, dict):
        return keras.dtype_policies.deserialize(dtype)
    return keras.dtype_policies.get(dtype) if dtype is not None else None


@keras.saving.register_keras_serializable(package="keras_vit")
class VisionTransformer(keras.Model):
    """Vision Transformer (ViT) image classifier and backbone.

    Images are cut into `patch_size` patches, each projected to `hidden_dim`;
    a class token is prepended, a learned position embedding added, optional
    register tokens inserted, and the sequence runs through `num_layers`
    pre-LayerNorm transformer blocks and a final LayerNorm. The image is then
    represented by the class token (`pooling="token"`), the mean of the
    patch tokens (`pooling="gap"`) or an attention-pooling head
    (`pooling="map"`), followed by a linear head.

    The options of the published ViT families are arguments: DeiT's
    distillation token and second head (`distillation`), DeiT-III's and
    DINOv2's LayerScale (`layer_scale_init`) and position table without a
    class slot (`no_embed_class`), DINOv2's register tokens, CLIP's
    LayerNorm before the blocks (`pre_norm`, `patch_bias=False`,
    `layer_norm_epsilon=1e-5`, OpenAI's `mlp_activation="quick_gelu"`),
    SigLIP's class-token-free MAP head (`class_token=False,
    pooling="map"`), timm's `fc_norm`. `keras_vit.vit(name)` builds timm's
    architectures by name with the right options.

    Reference: Dosovitskiy et al., "An Image is Worth 16x16 Words:
    Transformers for Image Recognition at Scale", ICLR 2021.

    **Inputs.** Float images `(batch, height, width, channels)`, channels
    last, at the static size given by `input_shape`. The model does not
    rescale: train on what you feed it. The Google checkpoints expect pixels
    in `[-1, 1]`, i.e. `keras_vit.preprocess_input(images)` on `[0, 255]`
    images.

    **Initialisation** follows timm and the reference JAX code: truncated
    normal (std 0.02) for every dense kernel, the class token, register
    tokens, position embedding and head; LeCun normal for the patch
    projection; zero biases; LayerNorm scale 1 and offset 0.

    **Layer names** are stable (they are part of every weight file; they
    are defined in `keras_vit.layer_names`): `patch_embedding` (with
    sublayer `projection`), `class_token`, `distillation_token`,
    `position_embedding`, `register_tokens`, `embedding_dropout`,
    `pre_norm`, `transformer_block_{i}` for `i` in `0..num_layers-1`
    (sublayers `layer_norm_1`, `attention` with
    `query`/`key`/`value`/`attention_output`, `layer_scale_1`,
    `layer_norm_2`, `mlp` with `dense_1`/`dense_2`, `layer_scale_2`),
    `encoder_norm`, `attention_pool`, `fc_norm`, `head`, `head_dist`; each
    only when the configuration uses it.

    Args:
        patch_size: int or tuple `(patch_h, patch_w)`. Patch side; must
            divide the image height and width. Defaults to 16.
        hidden_dim: int. Token width; must be divisible by `num_heads`.
        num_layers: int. Number of transformer blocks.
        num_heads: int. Attention heads per block.
        mlp_dim: int. Hidden width of each MLP block.
        include_top: bool. Whether to add the classification head.
        weights: None (random initialisation), a preset name (see
            `keras_vit.checkpoints.list_presets()`; fetched into the Keras
            cache) or a path to a checkpoint file: Google/big_vision `.npz`,
            timm `.safetensors`, Keras `.weights.h5` or `.keras`, told apart
            by content. Options the file determines (LayerScale, registers,
            class and distillation tokens, `no_embed_class`, `pre_norm`,
            `fc_norm`, the MAP head, qkv and patch biases) are taken from it
            when left at their defaults, with a printed line; an explicit
            argument the file contradicts is a `ValueError`. Loading is
            strict (see `keras_vit.checkpoints.load_weights`): the load
            reproduces the file's function or raises; another resolution
            resamples the position embedding, another `classes` keeps a new
            head, `include_top=False` drops the file's head. What was done
            is in `model.load_report`.
        input_shape: tuple `(height, width, channels)`. Defaults to the
            preset's resolution, else `(224, 224, 3)`.
        pooling: `"token"` (class token; a distilled model averages the
            class and distillation tokens' heads), `"gap"` (mean of the
            patch tokens, excluding class, distillation and register
            tokens), `"map"` (an `AttentionPool` over the patch tokens,
            SigLIP) or None (the whole token sequence, normalised unless
            `fc_norm`; only with `include_top=False`).
        classes: int. Number of classes of the head (with `include_top`).
        classifier_activation: str, callable or None. Activation of the head;
            None returns logits. Defaults to `"softmax"`, as in Keras
            Applications.
        dropout_rate: float in [0, 1). Dropout after the embeddings, after
            each attention output and inside each MLP block.
        attention_dropout_rate: float in [0, 1). Dropout on attention
            probabilities.
        drop_path_rate: float in [0, 1). Stochastic depth, rising linearly
            from 0 at the first block to this rate at the last (as in DeiT).
        layer_scale_init: float > 0 or None. LayerScale initial value; None
            disables LayerScale.
        num_register_tokens: int >= 0. Register tokens inserted after the
            class token (they get no position embedding).
        approximate_gelu: bool or None. Use tanh-approximated GELU (the
            original JAX checkpoints' form) instead of the exact one. None:
            the form of the `weights` file's layout (tanh for Google and
            big_vision `.npz`, exact otherwise), or `mlp_activation`.
        layer_norm_epsilon: float. Epsilon of every LayerNorm (1e-6; CLIP
            1e-5; a transformers file's 1e-12 when `weights` is one and
            this is left at 1e-6).
        use_qkv_bias: bool. Bias on the query/key/value projections.
        fused_qkv: bool or None. One matmul for the query/key/value
            projections instead of three (same weights, same results); None
            picks the form measured faster on the current backend.
        remat: bool. Rematerialise every transformer block in training:
            activations are recomputed in the backward pass instead of kept
            (about a third more compute for a much smaller activation
            footprint; for ViT-L/H at large batch sizes).
        name: str. Model name.
        dtype: dtype or `keras.DTypePolicy` of the model's layers, e.g.
            `"mixed_bfloat16"`; None uses the global policy. The head always
            computes in float32.
        class_token: bool. Prepend a class token (False: SigLIP and timm's
            gap ViTs; then `pooling` must be `"gap"`, `"map"` or None).
        distillation: bool. DeiT's distillation token (after the class
            token) and second head `head_dist`; the output is the average
            of both heads' logits (then `classifier_activation`), as timm
            does; `keras_vit.models.distillation_outputs(model)` gives both
            for training with a teacher.
        no_embed_class: bool. The position table covers the patch grid
            only; the class and distillation tokens get no position
            (DeiT-III, DINOv2 with registers, timm's `no_embed_class`).
            Register tokens never have position slots.
        pre_norm: bool. A LayerNorm (`pre_norm`) after the embeddings,
            before the blocks (CLIP).
        fc_norm: bool. Normalise after pooling (`fc_norm`) instead of the
            final `encoder_norm` on every token (timm's `fc_norm`).
        mlp_activation: str or None. `"gelu"`, `"gelu_tanh"` or
            `"quick_gelu"` (OpenAI CLIP); None follows `approximate_gelu`.
        patch_bias: bool. Bias on the patch projection (CLIP has none).
        max_parameters: int or None. Refuse (ValueError, before any layer
            is created) a configuration with more parameters than this, as
            counted by `keras_vit.models.count_parameters`; None uses
            `MAX_PARAMETERS` (10 billion: ViT-G/14 and ViT-e fit, a typo
            like `hidden_dim=10**9` does not). Saved in the config when set.

    Returns:
        A `keras.Model` mapping images to class scores `(batch, classes)`;
        with `include_top=False`, to features `(batch, hidden_dim)`, or to the
        token sequence `(batch, num_tokens, hidden_dim)` when `pooling=None`.
        The configuration is kept in attributes of the arguments' names
        (`model.classes`, `model.patch_size`, ...), except `input_shape`,
        kept as `image_shape` (`(height, width, channels)`; Keras's own
        `model.input_shape` has the batch axis in front).

    Naming: keras_vit takes Keras Applications' names everywhere:
    `input_shape` for the image shape and `classes` for the number of
    classes (`build_segmenter`, `unet_head` and `make_dataset` included).

    Example:
    >>> model = VisionTransformer(patch_size=4, hidden_dim=32, num_layers=2,
    ...     num_heads=2, mlp_dim=64, input_shape=(16, 16, 3), classes=10)
    >>> tuple(model.output_shape)
    (None, 10)
    """

    def __init__(
        self,
        patch_size=16,
        hidden_dim=768,
        num_layers=12,
        num_heads=12,
        mlp_dim=3072,
        include_top=True,
        weights=None,
        input_shape=None,
        pooling="token",
        classes=1000,
        classifier_activation="softmax",
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
        drop_path_rate=0.0,
        layer_scale_init=None,
        num_register_tokens=0,
        approximate_gelu=None,
        layer_norm_epsilon=1e-6,
        use_qkv_bias=True,
        fused_qkv=None,
        remat=False,
        name="vision_transformer",
        dtype=None,
        max_parameters=None,
        class_token=True,
        distillation=False,
        no_embed_class=False,
        pre_norm=False,
        fc_norm=False,
        mlp_activation=None,
        patch_bias=True,
        **kwargs,
    ):
        # Every argument is checked before any layer or weight is created.
        patch_size = check_pair("patch_size", patch_size)
        hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        num_layers = check_positive_int("num_layers", num_layers)
        num_heads = check_positive_int("num_heads", num_heads)
        mlp_dim = check_positive_int("mlp_dim", mlp_dim)
        if hidden_dim % num_heads:
            raise ValueError(
                f"`hidden_dim` must be divisible by `num_heads`. Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        include_top = check_bool("include_top", include_top)
        options = dict(
            class_token=class_token, distillation=distillation,
            num_register_tokens=num_register_tokens, no_embed_class=no_embed_class,
            pre_norm=pre_norm, fc_norm=fc_norm, layer_scale_init=layer_scale_init,
            use_qkv_bias=use_qkv_bias, pooling=pooling, patch_bias=patch_bias,
        )
        dropout_rate = check_rate("dropout_rate", dropout_rate)
        attention_dropout_rate = check_rate("attention_dropout_rate", attention_dropout_rate)
        drop_path_rate = check_rate("drop_path_rate", drop_path_rate)
        layer_norm_epsilon = check_float("layer_norm_epsilon", layer_norm_epsilon, low=0.0, low_open=True)
        approximate_gelu = check_bool("approximate_gelu", approximate_gelu, allow_none=True)
        if mlp_activation is not None:
            check_mlp_activation(mlp_activation, approximate_gelu)
        fused_qkv = check_bool("fused_qkv", fused_qkv, allow_none=True)
        remat = check_remat(remat, dropout_rate, attention_dropout_rate)
        max_parameters = check_optional(check_positive_int, "max_parameters", max_parameters)
        if classifier_activation is not None:
            keras.activations.get(classifier_activation)  # raises on unknown names
        checkpoint = None
        if weights is not None:
            # Read (and, for a preset, fetch) the file's headers before
            # building, so a bad path or format fails before any work, and
            # the file can determine options left at their defaults.
            from keras_vit.checkpoints.architecture import infer_options
            from keras_vit.checkpoints.loading import resolve_checkpoint

            checkpoint = resolve_checkpoint(weights)
            preset = checkpoint.preset
            if preset is not None and input_shape is None:
                input_shape = (preset.image_size, preset.image_size, 3)
            grid = None
            if input_shape is not None:
                shape = _check_input_shape(input_shape, patch_size)
                grid = (shape[0] // patch_size[0], shape[1] // patch_size[1])
            options, implied, notes = infer_options(
                checkpoint, options, ARCHITECTURE_DEFAULTS, grid,
                dict(patch_size=patch_size, hidden_dim=hidden_dim, num_layers=num_layers,
                     mlp_dim=mlp_dim, num_heads=num_heads),
            )
            if approximate_gelu is None and mlp_activation is None:
                mlp_activation = implied.get("mlp_activation")
            if layer_norm_epsilon == 1e-6 and "layer_norm_epsilon" in implied:
                # The default, where the layout records another (transformers).
                layer_norm_epsilon = implied["layer_norm_epsilon"]
            for note in notes:
                print(f"keras_vit: {note}")
        options = _check_options(options)
        if include_top:
            if options["pooling"] is None:
                raise ValueError(
                    "`pooling` must be 'token', 'gap' or 'map' when include_top=True. "
                    "Received: pooling=None"
                )
            # Checked only with a head: without one, `classes` is unused.
            classes = check_positive_int("classes", classes)
        mlp_activation = check_mlp_activation(mlp_activation, bool(approximate_gelu))
        approximate_gelu = mlp_activation == "gelu_tanh"
        input_shape = _check_input_shape(input_shape, patch_size)
        num_parameters = _parameter_count(
            patch_size, hidden_dim, num_layers, mlp_dim, input_shape, include_top, classes, options,
        )
        _check_size(num_parameters, max_parameters, dict(
            patch_size=patch_size, hidden_dim=hidden_dim, num_layers=num_layers, mlp_dim=mlp_dim,
            input_shape=input_shape,
        ))
        dtype = _resolve_dtype(dtype)
        policy = dtype if dtype is not None else keras.config.dtype_policy()
        # The head and its activation stay in float32 under mixed precision,
        # so logits and probabilities never round to bfloat16/float16.
        head_dtype = "float32" if policy.compute_dtype in ("float16", "bfloat16") else policy

        o = options
        pooling = o["pooling"]
        grid_size = (input_shape[0] // patch_size[0], input_shape[1] // patch_size[1])
        images = keras.Input(shape=input_shape, name="images")
        x = PatchEmbedding(patch_size, hidden_dim, use_bias=o["patch_bias"], dtype=policy,
                           name=names.PATCH_EMBEDDING)(images)

        def prefix_tokens(x):
            # [class][distillation][patches]: the distillation token is
            # prepended first, then the class token in front of it.
            if o["distillation"]:
                x = DistillationToken(dtype=policy, name=names.DISTILLATION_TOKEN)(x)
            if o["class_token"]:
                x = ClassToken(dtype=policy, name=names.CLASS_TOKEN)(x)
            return x

        num_tokens = int(o["class_token"]) + int(o["distillation"])
        if o["no_embed_class"]:
            x = PositionEmbedding(grid_size, num_prefix_tokens=0, dtype=policy,
                                  name=names.POSITION_EMBEDDING)(x)
            x = prefix_tokens(x)
        else:
            x = prefix_tokens(x)
            x = PositionEmbedding(grid_size, num_prefix_tokens=num_tokens, dtype=policy,
                                  name=names.POSITION_EMBEDDING)(x)
        if o["num_register_tokens"]:
            x = RegisterTokens(o["num_register_tokens"], insert_index=num_tokens, dtype=policy,
                               name=names.REGISTER_TOKENS)(x)
        x = keras.layers.Dropout(dropout_rate, dtype=policy, name=names.EMBEDDING_DROPOUT)(x)
        if o["pre_norm"]:
            x = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy,
                                                name=names.PRE_NORM)(x)
        for index in range(num_layers):
            block_rate = drop_path_rate * index / max(num_layers - 1, 1)
            x = TransformerBlock(
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                dropout_rate=dropout_rate,
                attention_dropout_rate=attention_dropout_rate,
                drop_path_rate=block_rate,
                layer_scale_init=o["layer_scale_init"],
                mlp_activation=mlp_activation,
                layer_norm_epsilon=layer_norm_epsilon,
                use_qkv_bias=o["use_qkv_bias"],
                fused_qkv=fused_qkv,
                remat=remat,
                dtype=policy,
                name=names.block_name(index),
            )(x)
        if not o["fc_norm"]:
            x = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy,
                                                name=names.ENCODER_NORM)(x)
        num_prefix_tokens = num_tokens + o["num_register_tokens"]
        fc_norm_layer = None
        if o["fc_norm"] and pooling is not None:
            fc_norm_layer = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy,
                                                            name=names.FC_NORM)
        pooled = [x]
        if pooling == "token":
            pooled = [x[:, 0], x[:, 1]] if o["distillation"] else [x[:, 0]]
        elif pooling == "gap":
            pooled = [ops.mean(x[:, num_prefix_tokens:], axis=1)]
        elif pooling == "map":
            pool = AttentionPool(num_heads, mlp_dim, mlp_activation=mlp_activation,
                                 layer_norm_epsilon=layer_norm_epsilon, dtype=policy,
                                 name=names.ATTENTION_POOL)
            pooled = [pool(x[:, num_prefix_tokens:] if num_prefix_tokens else x)]
        if fc_norm_layer is not None:
            pooled = [fc_norm_layer(p) for p in pooled]
        if include_top:
            kernel_init = TruncatedNormal(stddev=0.02)
            if len(pooled) == 1:
                x = keras.layers.Dense(classes, activation=classifier_activation,
                                       kernel_initializer=kernel_init, dtype=head_dtype,
                                       name=names.HEAD)(pooled[0])
            else:
                # DeiT: the average of the class head and the distillation
                # head (`distillation_outputs` gives both, for training).
                logits = keras.layers.Dense(classes, kernel_initializer=kernel_init,
                                            dtype=head_dtype, name=names.HEAD)(pooled[0])
                logits_dist = keras.layers.Dense(classes, kernel_initializer=kernel_init,
                                                 dtype=head_dtype, name=names.HEAD_DIST)(pooled[1])
                x = keras.layers.Average(dtype=head_dtype, name="head_average")([logits, logits_dist])
                x = keras.layers.Activation(classifier_activation or "linear", dtype=head_dtype,
                                            name=names.HEAD_ACTIVATION)(x)
        elif len(pooled) == 2:
            x = keras.layers.Average(dtype=policy, name="token_average")(pooled)
        else:
            x = pooled[0]
        super().__init__(inputs=images, outputs=x, name=name, dtype=dtype, **kwargs)
        # A functional Model ignores `dtype`; set the model's own policy so
        # that `compile` sees "mixed_float16" (and adds loss scaling) and
        # `get_config` saves the policy the layers were built with.
        self.dtype_policy = policy

        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.mlp_dim = mlp_dim
        self.include_top = include_top
        self.image_shape = input_shape
        self.pooling = pooling
        self.classes = classes
        self.classifier_activation = classifier_activation
        self.dropout_rate = dropout_rate
        self.attention_dropout_rate = attention_dropout_rate
        self.drop_path_rate = drop_path_rate
        self.layer_scale_init = o["layer_scale_init"]
        self.num_register_tokens = o["num_register_tokens"]
        self.class_token = o["class_token"]
        self.distillation = o["distillation"]
        self.no_embed_class = o["no_embed_class"]
        self.pre_norm = o["pre_norm"]
        self.fc_norm = o["fc_norm"]
        self.patch_bias = o["patch_bias"]
        self.mlp_activation = mlp_activation
        self.approximate_gelu = approximate_gelu
        self.layer_norm_epsilon = layer_norm_epsilon
        self.use_qkv_bias = o["use_qkv_bias"]
        self.fused_qkv = fused_qkv
        self.remat = remat
        self.max_parameters = max_parameters
        self.grid_size = grid_size
        self.num_prefix_tokens = num_prefix_tokens
        self.load_report = None
        if checkpoint is not None:
            from keras_vit.checkpoints.loading import load_weights

            self.load_report = load_weights(self, checkpoint)

    @property
    def blocks(self):
        """The transformer blocks (`TransformerBlock` layers), in order."""
        return [self.get_layer(names.block_name(index)) for index in range(self.num_layers)]

    def architecture_options(self):
        """The architecture options (see `ARCHITECTURE_DEFAULTS`) of this model.

        Returns:
            dict.
        """
        return {key: getattr(self, key) for key in ARCHITECTURE_DEFAULTS}

    def get_config(self):
        activation = self.classifier_activation
        if activation is not None and not isinstance(activation, str):
            activation = keras.saving.serialize_keras_object(activation)
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "patch_size": self.patch_size,
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "mlp_dim": self.mlp_dim,
            "include_top": self.include_top,
            "input_shape": self.image_shape,
            "pooling": self.pooling,
            "classes": self.classes,
            "classifier_activation": activation,
            "dropout_rate": self.dropout_rate,
            "attention_dropout_rate": self.attention_dropout_rate,
            "drop_path_rate": self.drop_path_rate,
            "layer_scale_init": self.layer_scale_init,
            "num_register_tokens": self.num_register_tokens,
            "approximate_gelu": self.approximate_gelu,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "use_qkv_bias": self.use_qkv_bias,
            "fused_qkv": self.fused_qkv,
            "remat": self.remat,
            "class_token": self.class_token,
            "distillation": self.distillation,
            "no_embed_class": self.no_embed_class,
            "pre_norm": self.pre_norm,
            "fc_norm": self.fc_norm,
            "patch_bias": self.patch_bias,
            "mlp_activation": self.mlp_activation,
        }
        if self.max_parameters is not None:  # only an override is saved
            config["max_parameters"] = self.max_parameters
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        activation = config.get("classifier_activation")
        if isinstance(activation, dict):
            config["classifier_activation"] = keras.saving.deserialize_keras_object(activation)
        for key in ("input_shape", "patch_size"):
            if isinstance(config.get(key), list):
                config[key] = tuple(config[key])
        return cls(**config)
