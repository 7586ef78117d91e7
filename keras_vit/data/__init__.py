"""Data sources and the `tf.data` pipeline that feeds `model.fit`.

`load_digits` is plain NumPy (the embedded demo data); the others build
`tf.data` pipelines, which need TensorFlow installed but feed `fit` on any
Keras backend.
"""

from keras_vit.data.digits import DigitsSplits, load_digits
from keras_vit.data.image_folder import load_image_folder
from keras_vit.data.pipeline import make_dataset
from keras_vit.data.tfds import load_tfds

__all__ = ["DigitsSplits", "load_digits", "load_image_folder", "load_tfds", "make_dataset"]
