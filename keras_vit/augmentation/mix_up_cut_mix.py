import keras
from keras.random import SeedGenerator

from keras_vit._validation import check_float
from keras_vit.augmentation._base import BaseImagePreprocessingLayer
from keras_vit.augmentation.cut_mix import CutMix


@keras.saving.register_keras_serializable(package="keras_vit")
class MixUpCutMix(BaseImagePreprocessingLayer):
    """MixUp or CutMix, one of the two per batch, as in DeiT.

    For each batch a coin decides: with probability `switch_probability`
    CutMix (`keras_vit.augmentation.CutMix`), otherwise MixUp
    (`keras.layers.MixUp`). With `mixup_alpha=0` only CutMix is used, with
    `cutmix_alpha=0` only MixUp. Labels must be one-hot (or already soft);
    mixed labels stay distributions (they sum to 1). Label smoothing belongs
    in the loss (`CategoricalCrossentropy(label_smoothing=...)`), which
    applied after mixing is what DeiT and timm do.

    Being a Keras augmentation layer, it works on any backend on batched
    arrays or tensors, and inside a `tf.data` pipeline after `batch()`
    whatever the backend.

    Args:
        mixup_alpha: float >= 0. MixUp's Beta parameter (DeiT: 0.8); 0
            disables MixUp.
        cutmix_alpha: float in [0, 1]. CutMix's Beta parameter (DeiT: 1.0);
            0 disables CutMix.
        switch_probability: float in [0, 1]. Probability of CutMix when both
            are enabled. Defaults to 0.5.
        seed: int or None. Seed of the layer and its two sublayers.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        data: dict with batched `"images"` and one-hot `"labels"`.
        training: bool. Defaults to True; False is the identity.

    Returns:
        The dict with mixed images and labels.

    Example:
    >>> import numpy as np
    >>> batch = {"images": np.random.rand(4, 8, 8, 3).astype("float32"),
    ...          "labels": np.eye(4, dtype="float32")}
    >>> out = MixUpCutMix(seed=0)(batch)
    >>> keras.ops.convert_to_numpy(out["labels"]).sum(-1).round(5).tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    _USE_BASE_FACTOR = False

    def __init__(self, mixup_alpha=0.8, cutmix_alpha=1.0, switch_probability=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.mixup_alpha = check_float("mixup_alpha", mixup_alpha, low=0.0)
        self.cutmix_alpha = check_float("cutmix_alpha", cutmix_alpha, 0.0, 1.0)
        self.switch_probability = check_float("switch_probability", switch_probability, 0.0, 1.0)
        if self.mixup_alpha == 0 and self.cutmix_alpha == 0:
            raise ValueError("At least one of `mixup_alpha` and `cutmix_alpha` must be positive. Received: both 0")
        self.seed = seed
        self.generator = SeedGenerator(seed)
        offset = (lambda k: None) if seed is None else (lambda k: seed + k)
        self.mix_up = keras.layers.MixUp(alpha=self.mixup_alpha, seed=offset(1)) if self.mixup_alpha else None
        self.cut_mix = CutMix(alpha=self.cutmix_alpha, seed=offset(2)) if self.cutmix_alpha else None

    def _sublayers(self):
        return [layer for layer in (self.mix_up, self.cut_mix) if layer is not None]

    def call(self, data, training=True):
        # The sublayers' methods are called directly, not through __call__, so
        # they follow this layer's backend (TensorFlow inside tf.data).
        for layer in self._sublayers():
            layer.backend.set_backend(self.backend._backend)
        try:
            return super().call(data, training=training)
        finally:
            for layer in self._sublayers():
                layer.backend.reset()

    def build(self, input_shape):
        for layer in self._sublayers():
            layer.built = True
        self.built = True

    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        # One generator, this layer's, drives the sublayers too (as in
        # keras.layers.RandAugment), so one seed fixes the whole draw.
        seed = seed or self._get_seed_generator(self.backend._backend)
        transformation = {}
        for key, layer in (("mix_up", self.mix_up), ("cut_mix", self.cut_mix)):
            if layer is not None:
                transformation[key] = layer.get_random_transformation(data, training=training, seed=seed)
        if self.mix_up is not None and self.cut_mix is not None:
            coin = self.backend.random.uniform((), 0.0, 1.0, seed=seed)
            transformation["use_cut_mix"] = coin < self.switch_probability
        return transformation

    def _apply(self, method, values, transformation, training):
        if not training or transformation is None:
            return values
        mixed = {
            key: getattr(layer, method)(values, transformation[key], training=training)
            for key, layer in (("mix_up", self.mix_up), ("cut_mix", self.cut_mix))
            if layer is not None
        }
        if len(mixed) == 1:
            return next(iter(mixed.values()))
        return self.backend.numpy.where(transformation["use_cut_mix"], mixed["cut_mix"], mixed["mix_up"])

    def transform_images(self, images, transformation=None, training=True):
        images = self.backend.cast(images, self.compute_dtype)
        return self._apply("transform_images", images, transformation, training)

    def transform_labels(self, labels, transformation, training=True):
        labels = self.backend.cast(labels, self.compute_dtype)
        return self._apply("transform_labels", labels, transformation, training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mixup_alpha": self.mixup_alpha,
                "cutmix_alpha": self.cutmix_alpha,
                "switch_probability": self.switch_probability,
                "seed": self.seed,
            }
        )
        return config
