import keras


def _in_tf_graph():
    """Whether the code runs inside a TensorFlow graph (`tf.data`, `tf.function`):
    Keras's own test, which RandAugment uses in every Keras from 3.10 on."""
    from keras.src.utils import backend_utils

    return backend_utils.in_tf_graph()


class _Equalization(keras.layers.Equalization):
    # Keras 3.15 chooses its JAX-only histogram (a 256-step unrolled loop) by
    # the *global* backend, so inside tf.data under JAX it runs that loop in
    # TensorFlow: 20x slower than TensorFlow's bincount (118 vs 2,295 images/s
    # measured at 32 px). Choose by the backend the layer is running on.
    def __init__(self, **kwargs):
        kwargs.setdefault("name", "equalization")  # "_equalization" is no valid TF scope name
        super().__init__(**kwargs)

    def _custom_histogram_fixed_width(self, values, value_range, nbins):
        if self.backend.name == "jax" or keras.backend.backend() != "jax":
            return super()._custom_histogram_fixed_width(values, value_range, nbins)
        values = self.backend.cast(values, "float32")
        low, high = (float(v) for v in value_range)
        indices = self.backend.cast((values - low) * (nbins - 1) / (high - low), "int32")
        indices = self.backend.numpy.clip(indices, 0, nbins - 1)
        return self.backend.numpy.bincount(self.backend.numpy.reshape(indices, [-1]), minlength=nbins)


@keras.saving.register_keras_serializable(package="keras_vit")
class RandAugment(keras.layers.RandAugment):
    """`keras.layers.RandAugment`, fixed for `tf.data` pipelines under JAX.

    Same arguments and augmentations as Keras's layer (Cubuk et al. 2020:
    `num_ops` random operations per call, of strength `factor` in [0, 1]),
    with two fixes that matter when the Keras backend is JAX (or PyTorch)
    and the layer runs inside `tf.data`:

    - its equalization takes TensorFlow's histogram there instead of the
      JAX-only loop, which made the whole layer about 10x slower (52 images/s
      against 504 with the fix, at 32 px on two CPU cores);
    - after a `tf.data` call its sublayers go back to the active backend, so
      the same layer still works eagerly or in a model afterwards (Keras's
      leaves them on TensorFlow).

    Args:
        value_range: pair. Range of the input pixels. Defaults to `(0, 255)`.
        num_ops: int. Operations applied per call. Defaults to 2.
        factor: float in [0, 1]. Strength of every operation. Defaults to 0.5.
        interpolation: `"bilinear"` or `"nearest"`.
        seed: int or None.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        data: images, or a dict with `"images"` (labels pass through).
        training: bool. Defaults to True; False is the identity.

    Returns:
        The augmented images (or dict).

    Example:
    >>> import numpy as np
    >>> layer = RandAugment(num_ops=2, factor=0.2, seed=0)
    >>> tuple(layer(np.random.uniform(0, 255, (2, 8, 8, 3)).astype("float32")).shape)
    (2, 8, 8, 3)
    """

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(value_range=value_range, num_ops=num_ops, factor=factor, interpolation=interpolation,
                         seed=seed, data_format=data_format, **kwargs)
        self.equalization = _Equalization(value_range=self.value_range, data_format=data_format)

    # The operations are drawn from the layer's seeded generator, as a
    # tensor, and every operation is selected with `where`: the same seed
    # gives the same operations, and inside `tf.data` or a compiled function
    # each batch draws anew. This is Keras 3.11+'s own scheme; Keras 3.10
    # drew them with Python's unseeded `random.shuffle`, once per trace.
    def get_random_transformation(self, data, training=True, seed=None):
        if not training:
            return None
        if _in_tf_graph():
            self.backend.set_backend("tensorflow")
            for name in self._AUGMENT_LAYERS:
                getattr(self, name).backend.set_backend("tensorflow")
        generator = self._get_seed_generator(self.backend._backend)
        indices = self.backend.random.randint((self.num_ops,), 0, len(self._AUGMENT_LAYERS), seed=generator)
        transforms = {
            name: getattr(self, name).get_random_transformation(data, training=training, seed=generator)
            for name in self._AUGMENT_LAYERS
        }
        return {"transforms": transforms, "layer_idxes": indices}

    def _select(self, method, values, transformation):
        for op in range(self.num_ops):
            for index, (name, value) in enumerate(transformation["transforms"].items()):
                transformed = getattr(getattr(self, name), method)(values, value)
                values = self.backend.numpy.where(transformation["layer_idxes"][op] == index, transformed, values)
        return values

    def transform_images(self, images, transformation, training=True):
        images = self.backend.cast(images, self.compute_dtype)
        if training:
            images = self.backend.cast(self._select("transform_images", images, transformation), self.compute_dtype)
        return images

    def transform_segmentation_masks(self, segmentation_masks, transformation, training=True):
        if training:
            return self._select("transform_segmentation_masks", segmentation_masks, transformation)
        return segmentation_masks

    def transform_bounding_boxes(self, bounding_boxes, transformation, training=True):
        raise NotImplementedError("keras_vit's RandAugment augments images and segmentation masks only.")

    def call(self, data, training=True):
        try:
            return super().call(data, training=training)
        finally:
            for name in self._AUGMENT_LAYERS:
                getattr(self, name).backend.reset()
