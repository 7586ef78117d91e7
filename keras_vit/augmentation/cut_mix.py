import keras

from keras_vit._validation import check_float


@keras.saving.register_keras_serializable(package="keras_vit")
class CutMix(keras.layers.CutMix):
    """`keras.layers.CutMix` with a fixed alpha and an exact label weight.

    CutMix (Yun et al., ICCV 2019) pastes a random box from another image of
    the batch into each image and mixes the one-hot labels by area. Two
    changes to Keras's layer, which does the sampling and pasting:

    - the box's area fraction `1 - lambda` is drawn from `Beta(alpha, alpha)`
      with a fixed `alpha`, as in the paper, DeiT and timm (Keras's `factor`
      draws alpha itself uniformly from a range);
    - the label weight is the fraction of pixels actually pasted. Keras
      computes it from the box's real-valued corners, while the pasted region
      is whole pixels, so on small images the two differ by up to a pixel row
      and column; here they are equal.

    Args:
        alpha: float in (0, 1]. Beta distribution parameter; DeiT uses 1.0
            (a uniform box area).
        seed: int or None. Seed of the layer's random generator.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        data: a dict with batched `"images"` `(batch, height, width,
            channels)` and one-hot `"labels"` `(batch, classes)`.
        training: bool. Defaults to True; False is the identity.

    Returns:
        The dict with mixed images and labels.

    Example:
    >>> import numpy as np
    >>> batch = {"images": np.random.rand(4, 8, 8, 3).astype("float32"),
    ...          "labels": np.eye(4, dtype="float32")}
    >>> out = CutMix(alpha=1.0, seed=1)(batch)
    >>> np.allclose(keras.ops.convert_to_numpy(out["labels"]).sum(-1), 1.0)
    True
    """

    def __init__(self, alpha=1.0, seed=None, **kwargs):
        kwargs.pop("factor", None)
        alpha = check_float("alpha", alpha, 0.0, 1.0, low_open=True)
        super().__init__(factor=(alpha, alpha), seed=seed, **kwargs)
        self.alpha = alpha

    def get_random_transformation(self, data, training=True, seed=None):
        transformation = super().get_random_transformation(data, training=training, seed=seed)
        if transformation is None:
            return None
        pasted = self.backend.cast(transformation["batch_masks"], "float32")
        pasted_fraction = self.backend.numpy.mean(pasted, axis=(1, 2, 3))
        transformation["mix_weight"] = 1.0 - pasted_fraction
        return transformation

    def get_config(self):
        config = super().get_config()
        config.pop("factor", None)
        config["alpha"] = self.alpha
        return config
