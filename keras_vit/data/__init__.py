"""Data sources and the `tf.data` pipeline that feeds `model.fit`.

`load_dataset` loads any source by name (`"digits"`, `"tfds:NAME"`,
`"folder:PATH"`) as three batched `tf.data` splits. Underneath,
`load_digits` is plain NumPy (the embedded demo data); the others build
`tf.data` pipelines, which need TensorFlow installed but feed `fit` on any
Keras backend.
"""

from keras_vit.data.digits import DigitsSplits, load_digits
from keras_vit.data.image_folder import load_image_folder
from keras_vit.data.pipeline import make_dataset
from keras_vit.data.sources import DatasetSplits, load_dataset
from keras_vit.data.tfds import load_tfds

__all__ = [
    "DatasetSplits",
    "DigitsSplits",
    "load_dataset",
    "load_digits",
    "load_image_folder",
    "load_tfds",
    "make_dataset",
]
