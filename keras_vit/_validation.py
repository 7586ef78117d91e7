"""Argument checks shared by the whole package.

Every check raises before any weight is created, and its message names the
argument, the value received and what would have been accepted. Each kind
of check has one helper here:

- booleans: `check_bool` accepts `True`/`False` and NumPy bools (returned as
  Python bools), and None only where None has a meaning (`allow_none`);
  strings, numbers and containers are refused rather than read as truthy.
- integers: `is_integer` is the one test (any integral type, NumPy's
  included; never a bool or a float, even a whole one), used by
  `check_positive_int`, `check_non_negative_int`, `check_pair`,
  `check_int_tuple` and `check_seed`, which return Python ints.
- floats: `check_float` (and `check_rate`, `check_optional_positive_float`)
  accept real numbers, NumPy's included, and refuse inf and nan.
"""

import math
import numbers

import numpy as np


def is_integer(value):
    """Whether `value` is an integer: any `numbers.Integral` (Python or NumPy
    ints) but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _describe(name, value):
    return f"Received: {name}={value!r} of type {type(value).__name__}"


def check_bool(name, value, allow_none=False):
    """Checks that `value` is a bool (Python or NumPy; or None, with
    `allow_none`) and returns it as a Python bool (or None)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if allow_none and value is None:
        return None
    accepted = "True, False or None" if allow_none else "True or False"
    raise TypeError(f"`{name}` must be {accepted}. {_describe(name, value)}")


def _check_int(name, value, minimum, description):
    if not is_integer(value):
        raise TypeError(f"`{name}` must be {description}. {_describe(name, value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be {description}. Received: {name}={value!r}")
    return int(value)


def check_positive_int(name, value):
    """Checks that `value` is an integer >= 1; returns it as a Python int."""
    return _check_int(name, value, 1, "a positive integer")


def check_non_negative_int(name, value):
    """Checks that `value` is an integer >= 0; returns it as a Python int."""
    return _check_int(name, value, 0, "a non-negative integer")


def check_seed(name, value):
    """Checks that a random seed is None or an integer."""
    return None if value is None else _check_int(name, value, None, "None or an integer")


def check_unsigned_seed(name, value):
    """Checks that `value` is an integer in [0, 2**32 - 1] (a seed for
    NumPy and every backend's generator); returns it as a Python int."""
    description = "an integer in [0, 2**32 - 1]"
    if not is_integer(value):
        raise TypeError(f"`{name}` must be {description}. {_describe(name, value)}")
    if not 0 <= value < 2**32:
        raise ValueError(f"`{name}` must be {description}. Received: {name}={value!r}")
    return int(value)


def check_int_tuple(name, value, length, description):
    """Checks that `value` is a tuple or list of `length` positive integers
    and returns it as a tuple of Python ints; `description` says what the
    entries are, e.g. "(height, width, channels)"."""
    if not isinstance(value, (tuple, list)):
        raise TypeError(
            f"`{name}` must be a tuple of {length} positive integers {description}. "
            f"{_describe(name, value)}"
        )
    if len(value) != length or not all(is_integer(item) and item >= 1 for item in value):
        raise ValueError(
            f"`{name}` must hold {length} positive integers {description}. "
            f"Received: {name}={value!r}"
        )
    return tuple(int(item) for item in value)


def check_pair(name, value):
    """Normalises an int or a pair of ints (height, width) to a tuple of two
    positive ints."""
    if is_integer(value):
        value = (value, value)
    elif not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(
            f"`{name}` must be a positive int or a pair of them (height, width). "
            f"{_describe(name, value)}"
        )
    return check_int_tuple(name, value, 2, "(height, width)")


def check_float(name, value, low=None, high=None, low_open=False, high_open=False, allow_none=False):
    """Checks that `value` is a finite real number in the interval from `low`
    to `high` (None: unbounded; `*_open`: the bound itself is excluded), or
    None with `allow_none`; returns it as a Python float (or None)."""
    if allow_none and value is None:
        return None
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
    accepted = f"{'None or ' if allow_none else ''}a finite float in {interval}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be {accepted}. {_describe(name, value)}")
    value = float(value)
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if too_low or too_high or not math.isfinite(value):
        raise ValueError(f"`{name}` must be {accepted}. Received: {name}={value!r}")
    return value


def check_range(name, value):
    """Checks that `value` is a pair `(low, high)` of finite real numbers with
    `low < high`; returns it as a tuple of Python floats."""
    accepted = "a pair (low, high) of finite floats with low < high"
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"`{name}` must be {accepted}. {_describe(name, value)}")
    if not all(
        isinstance(item, numbers.Real) and not isinstance(item, (bool, np.bool_)) and math.isfinite(item)
        for item in value
    ) or not value[0] < value[1]:
        raise ValueError(f"`{name}` must be {accepted}. Received: {name}={value!r}")
    return (float(value[0]), float(value[1]))


def check_rate(name, value):
    """Checks that a probability-like rate lies in `[0, 1)`."""
    return check_float(name, value, 0.0, 1.0, high_open=True)


def check_optional_positive_float(name, value):
    """Checks that `value` is None or a finite float > 0."""
    return check_float(name, value, low=0.0, low_open=True, allow_none=True)


def check_optional(check, name, value, *args, **kwargs):
    """Applies `check` unless `value` is None."""
    return None if value is None else check(name, value, *args, **kwargs)


def check_remat(remat, dropout_rate, attention_dropout_rate):
    """Checks `remat` and that it comes without dropout inside the branches:
    a recomputed branch would draw new dropout masks in the backward pass,
    so its gradients would not match its forward pass."""
    remat = check_bool("remat", remat)
    if remat and (dropout_rate or attention_dropout_rate):
        raise ValueError(
            "`remat=True` needs dropout_rate=0 and attention_dropout_rate=0 "
            "(drop_path_rate is fine: drop path stays outside the recomputed "
            f"branches). Received: dropout_rate={dropout_rate}, "
            f"attention_dropout_rate={attention_dropout_rate}"
        )
    return remat
