"""Data augmentation of the DeiT recipe, built on Keras's augmentation layers.

Every layer here works on any backend, as an in-model layer or on arrays,
and inside `tf.data` whatever the backend.
"""

from keras_vit.augmentation.cut_mix import CutMix
from keras_vit.augmentation.mix_up_cut_mix import MixUpCutMix
from keras_vit.augmentation.pipeline import image_augmentation, label_mixing
from keras_vit.augmentation.rand_augment import RandAugment
from keras_vit.augmentation.random_resized_crop import RandomResizedCrop

__all__ = ["CutMix", "MixUpCutMix", "RandAugment", "RandomResizedCrop", "image_augmentation", "label_mixing"]
