"""Small data sets for examples and tests, returned as NumPy arrays."""

from keras_vit.data.digits import DigitsSplits, load_digits

__all__ = ["DigitsSplits", "load_digits"]
