"""Data and model parallelism with `keras.distribution` (the JAX backend)."""

import keras

from keras_vit import layer_names
from keras_vit._validation import check_positive_int

_B = layer_names.BLOCK_PATH_REGEX

# Shard attention heads and the MLP's hidden units along the "model" axis,
# Megatron-style: q/k/v kernels (hidden, heads, head_dim) on the heads axis,
# the output projection (heads, head_dim, hidden) on its heads axis, the
# first MLP kernel (hidden, mlp) on its output and the second (mlp, hidden)
# on its input. Each block then needs one all-reduce after attention and one
# after the MLP. Embeddings, norms and the head stay replicated.
_VIT_MODEL_PARALLEL_RULES = (
    (_B + "/attention/(query|key|value)/kernel", (None, "model", None)),
    (_B + "/attention/(query|key|value)/bias", ("model", None)),
    (_B + "/attention/attention_output/kernel", ("model", None, None)),
    (_B + "/mlp/dense_1/kernel", (None, "model")),
    (_B + "/mlp/dense_1/bias", ("model",)),
    (_B + "/mlp/dense_2/kernel", ("model", None)),
)


def _devices(devices):
    return list(devices) if devices is not None else keras.distribution.list_devices()


def data_parallel(devices=None):
    """Returns `keras.distribution.DataParallel` over all (or the given) devices.

    Every device holds the whole model and a slice of each batch; gradients
    are averaged by the compiled step. Activate it with
    `keras.distribution.set_distribution(...)` before building the model.

    Args:
        devices: list of device names or None for all of them.

    Returns:
        A `keras.distribution.DataParallel`.
    """
    return keras.distribution.DataParallel(devices=_devices(devices))


def vit_layout_map(mesh, model_axis="model"):
    """A `keras.distribution.LayoutMap` that shards a keras_vit ViT's blocks.

    Attention is split by heads and the MLP by hidden units along
    `model_axis` of `mesh` (the layout of Megatron-LM); the rules match
    keras_vit's stable variable paths (`transformer_block_{i}/attention/query/kernel`, ...).
    The number of heads and the MLP width must be divisible by the size of
    `model_axis`.

    Args:
        mesh: `keras.distribution.DeviceMesh` with an axis named `model_axis`.
        model_axis: str. Name of the model axis.

    Returns:
        A `keras.distribution.LayoutMap`.
    """
    layout_map = keras.distribution.LayoutMap(mesh)
    for pattern, axes in _VIT_MODEL_PARALLEL_RULES:
        layout_map[pattern] = tuple(model_axis if axis == "model" else axis for axis in axes)
    return layout_map


def model_parallel(model_axis_size=2, devices=None):
    """Returns `keras.distribution.ModelParallel` for a ViT (meant for L and H).

    The devices form a mesh `(batch, model)` of shape
    `(num_devices / model_axis_size, model_axis_size)`: each group of
    `model_axis_size` devices holds one copy of the model, sharded as
    `vit_layout_map` says, and the batch is split across the groups.

    Args:
        model_axis_size: int. Devices one model copy is sharded over; must
            divide the device count, the number of heads and the MLP width.
        devices: list of device names or None for all of them.

    Returns:
        A `keras.distribution.ModelParallel`.
    """
    devices = _devices(devices)
    model_axis_size = check_positive_int("model_axis_size", model_axis_size)
    if len(devices) % model_axis_size:
        raise ValueError(
            f"`model_axis_size` must divide the number of devices ({len(devices)}). "
            f"Received: model_axis_size={model_axis_size}"
        )
    mesh = keras.distribution.DeviceMesh(
        shape=(len(devices) // model_axis_size, model_axis_size), axis_names=("batch", "model"), devices=devices
    )
    return keras.distribution.ModelParallel(layout_map=vit_layout_map(mesh), batch_dim_name="batch")


def check_model_parallel(num_heads, mlp_dim, model_axis_size):
    """Raises a `ValueError` if a ViT cannot be sharded over `model_axis_size`."""
    for name, value in (("num_heads", num_heads), ("mlp_dim", mlp_dim)):
        if value % model_axis_size:
            raise ValueError(
                f"Model parallelism over {model_axis_size} devices needs `{name}` divisible by "
                f"{model_axis_size}. Received: {name}={value}"
            )


def num_replicas(distribution=None):
    """Number of data-parallel replicas of a `keras.distribution` (1 if None)."""
    if distribution is None:
        return 1
    mesh = distribution.device_mesh
    batch_axis = getattr(distribution, "batch_dim_name", None) or mesh.axis_names[0]
    return mesh.shape[list(mesh.axis_names).index(batch_axis)]
