"""The base class of Keras's own image augmentation layers.

`BaseImagePreprocessingLayer` is what `keras.layers.RandAugment`, `MixUp`,
`CutMix` and `RandomErasing` are built on: layers written against its
`self.backend` ops run on every backend *and* inside a `tf.data` pipeline
whatever the backend, handle `{"images": ..., "labels": ...}` dicts and
unbatched images, and are the identity with `training=False`. Keras does not
export it under a public name; keras_vit pins Keras to 3.15.x, and this is the
only module that imports it.
"""

from keras.src.layers.preprocessing.image_preprocessing.base_image_preprocessing_layer import (  # noqa: E501
    BaseImagePreprocessingLayer,
)

__all__ = ["BaseImagePreprocessingLayer"]
