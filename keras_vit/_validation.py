"""Argument checks shared by the whole package.

Every check raises before any weight is created, and its message names the
argument, the value received and what would have been accepted.
"""

import numbers


def check_rate(name, value):
    """Checks that a probability-like rate lies in `[0, 1)`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a float in [0, 1). Received: {name}={value!r} "
            f"of type {type(value).__name__}"
        )
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"`{name}` must be in [0, 1). Received: {name}={value!r}"
        )
    return float(value)


def _check_int(name, value, minimum, description):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"`{name}` must be {description}. Received: {name}={value!r} "
            f"of type {type(value).__name__}"
        )
    if value < minimum:
        raise ValueError(f"`{name}` must be {description}. Received: {name}={value!r}")
    return int(value)


def check_positive_int(name, value):
    """Checks that `value` is an integer >= 1."""
    return _check_int(name, value, 1, "a positive integer")


def check_non_negative_int(name, value):
    """Checks that `value` is an integer >= 0."""
    return _check_int(name, value, 0, "a non-negative integer")


def check_pair(name, value):
    """Normalises an int or a pair of ints (height, width) to a tuple of two
    positive ints."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = tuple(value)
    else:
        raise TypeError(
            f"`{name}` must be an int or a pair of ints (height, width). "
            f"Received: {name}={value!r}"
        )
    for item in pair:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral) or item < 1:
            raise ValueError(
                f"`{name}` must hold positive integers. Received: {name}={value!r}"
            )
    return (int(pair[0]), int(pair[1]))


def check_optional_positive_float(name, value):
    """Checks that `value` is None or a float > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be None or a positive float. Received: "
            f"{name}={value!r} of type {type(value).__name__}"
        )
    if not float(value) > 0.0:
        raise ValueError(
            f"`{name}` must be None or a positive float. Received: {name}={value!r}"
        )
    return float(value)


def check_float(name, value, low=None, high=None, low_open=False, high_open=False):
    """Checks that `value` is a real number in the interval from `low` to
    `high` (None: unbounded; `*_open`: the bound itself is excluded)."""
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"`{name}` must be a float in {interval}. Received: {name}={value!r} "
            f"of type {type(value).__name__}"
        )
    value = float(value)
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if too_low or too_high or value != value:
        raise ValueError(f"`{name}` must be in {interval}. Received: {name}={value!r}")
    return value


def check_optional(check, name, value, *args, **kwargs):
    """Applies `check` unless `value` is None."""
    return None if value is None else check(name, value, *args, **kwargs)


def check_bool(name, value, allow_none=False):
    """Checks that `value` is a bool (or None, with `allow_none`)."""
    if isinstance(value, bool) or (allow_none and value is None):
        return value
    accepted = "True, False or None" if allow_none else "True or False"
    raise TypeError(f"`{name}` must be {accepted}. Received: {name}={value!r}")


def check_remat(remat, dropout_rate, attention_dropout_rate):
    """Checks `remat` and that it comes without dropout inside the branches:
    a recomputed branch would draw new dropout masks in the backward pass,
    so its gradients would not match its forward pass."""
    check_bool("remat", remat)
    if remat and (dropout_rate or attention_dropout_rate):
        raise ValueError(
            "`remat=True` needs dropout_rate=0 and attention_dropout_rate=0 "
            "(drop_path_rate is fine: drop path stays outside the recomputed "
            f"branches). Received: dropout_rate={dropout_rate}, "
            f"attention_dropout_rate={attention_dropout_rate}"
        )
    return remat
