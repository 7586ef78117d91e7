"""The values of keras_vit's choice arguments, in one module without Keras.

`keras-vit --help` lists them without importing Keras (importing TensorFlow
alone takes seconds). Each tuple belongs to the module named in its comment,
which imports it from here: the library and the command line share one
object, so a value added here is accepted by both.
"""

# The training precisions `keras_vit.training.precision_policy` accepts
# (owner: keras_vit.training.precision; `keras-vit train --precision`).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")

# The input scalings of `keras_vit.preprocess_input` and
# `keras_vit.preprocessing_layer` (owner: keras_vit.models.preprocessing;
# `keras-vit train --preprocessing`).
PREPROCESSING_MODES = ("vit", "imagenet", "unit", "clip", "siglip")

# What `keras_vit.data.load_image_folder` does with a file that does not
# decode (owner: keras_vit.data.image_folder; `keras-vit train --bad-images`).
BAD_IMAGE_CHOICES = ("raise", "skip", "unchecked")

# The `strategy` values of `keras_vit.distribute.auto_distribute` (owner:
# keras_vit.distribute.auto; `keras-vit train --strategy`).
STRATEGY_CHOICES = ("auto", "mirrored", "multiworker", "tpu", "jax-data-parallel", "jax-model-parallel")

# The forms of the `source` of `keras_vit.data.load_dataset` (owner:
# keras_vit.data.sources; `keras-vit train --dataset`).
SOURCE_FORMS = ("digits", "tfds:NAME", "folder:PATH")
