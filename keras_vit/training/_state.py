"""Reading and writing variables from callbacks in the middle of an epoch.

The JAX trainer keeps the training state outside the Keras variables during
an epoch and writes it back only at the epoch's end; a callback that reads or
assigns a variable between batches must first write that state back
(`jax_state_sync`), after which the next step reloads it from the variables.
The other backends update the variables in place, so there is nothing to do.
"""

import keras


def sync_before_assign(model):
    """Writes the JAX trainer's state back into the variables (no-op elsewhere)."""
    if keras.backend.backend() == "jax" and hasattr(model, "jax_state_sync"):
        model.jax_state_sync()
