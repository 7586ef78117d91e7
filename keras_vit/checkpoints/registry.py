"""The checkpoint layouts keras_vit reads, in the order they are tried.

Each layout module declares one `layout.Layout` record (how to recognise
it, convert it both ways, what architecture it determines, its GELU form);
the reader (`formats.read_checkpoint`) and the loader loop over `LAYOUTS`.
A new layout is one module and one line here.

Example:
>>> get_layout("google").approximate_gelu
True
>>> [layout.name for layout in LAYOUTS]
['google', 'big_vision', 'timm', 'transformers', 'keras']
"""

from keras_vit.checkpoints import google, hf_transformers, keras_h5, timm

LAYOUTS = (google.GOOGLE, google.BIG_VISION, timm.LAYOUT, hf_transformers.LAYOUT, keras_h5.LAYOUT)
_BY_NAME = {layout.name: layout for layout in LAYOUTS}


def get_layout(name):
    """The `layout.Layout` record named `name` (one of `FORMATS`).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in _BY_NAME:
        raise ValueError(f"Unknown checkpoint layout {name!r}. Known: {', '.join(_BY_NAME)}.")
    return _BY_NAME[name]


def layouts_for(container):
    """The layouts stored in `container` (`"npz"`, `"safetensors"`, `"keras"`)."""
    return [layout for layout in LAYOUTS if layout.container == container]


def refusals(arrays):
    """The first reason a registered layout gives to refuse `arrays` (a
    related architecture keras_vit does not build), or None."""
    for layout in LAYOUTS:
        if layout.refusal is not None:
            reason = layout.refusal(arrays)
            if reason:
                return reason
    return None
