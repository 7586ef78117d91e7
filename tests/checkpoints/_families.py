"""Access to the family fixtures in tests/fixtures/families/ (made from timm
and transformers by tests/fixtures/make_families.py): tiny random-weight
checkpoints of each ViT family and the reference outputs."""

import json
import pathlib

import keras
import numpy as np

from keras_vit import vit

DIRECTORY = pathlib.Path(__file__).parents[1] / "fixtures" / "families"
# keras_vit (float32) against timm/transformers (float64), every backend.
TOLERANCE = 1e-5

# Each timm case and the timm architecture it mirrors (at tiny sizes).
TIMM_CASES = {
    "deit_distilled": "deit_small_distilled_patch16_224",
    "deit3": "deit3_small_patch16_224",
    "dinov2": "vit_small_patch14_dinov2",
    "dinov2_reg4": "vit_small_patch14_reg4_dinov2",
    "dinov2_reg8": "vit_small_patch14_reg4_dinov2",
    "dinov2_reg16": "vit_small_patch14_reg4_dinov2",
    "clip_laion": "vit_base_patch16_clip_224",
    "clip_openai": "vit_base_patch16_clip_quickgelu_224",
    "siglip_map": "vit_base_patch16_siglip_224",
    "siglip_gap": "vit_base_patch16_siglip_gap_224",
    "medium_gap": "vit_medium_patch16_gap_256",
    "betwixt_reg4_gap": "vit_betwixt_patch16_reg4_gap_256",
    "little_reg1_gap": "vit_little_patch16_reg1_gap_256",
}


def path(case):
    return DIRECTORY / f"{case}.safetensors"


def reference(case, name="logits"):
    with np.load(DIRECTORY / "reference.npz", allow_pickle=False) as data:
        return data[f"{case}/{name}"]


def config(case):
    with np.load(DIRECTORY / "reference.npz", allow_pickle=False) as data:
        return json.loads(str(data[f"{case}/config"]))


def sizes(case):
    """The tiny case's sizes as `VisionTransformer` arguments."""
    kwargs = config(case)["kwargs"]
    image = kwargs["img_size"]
    return dict(
        patch_size=kwargs["patch_size"], hidden_dim=kwargs["embed_dim"], num_layers=kwargs["depth"],
        num_heads=kwargs["num_heads"], mlp_dim=int(kwargs["embed_dim"] * kwargs["mlp_ratio"]),
        input_shape=(image, image, 3), classes=kwargs["num_classes"],
    )


def by_name(case, **overrides):
    """The case's model built by its timm architecture name, at its sizes."""
    kwargs = {**sizes(case), "classifier_activation": None}
    registers = config(case)["kwargs"].get("reg_tokens")
    if registers:
        kwargs["num_register_tokens"] = registers
    kwargs.update(overrides)
    return vit(TIMM_CASES[case], **kwargs)


def outputs(model, case):
    images = reference(case, "images")
    return np.asarray(keras.ops.convert_to_numpy(model(images, training=False)), dtype="float64")


def max_difference(model, case, name="logits"):
    return float(np.abs(outputs(model, case) - reference(case, name)).max())
