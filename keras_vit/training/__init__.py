"""The ViT training recipe on Keras's own machinery: schedule, optimizer,
precision, callbacks, fine-tuning (freezing, layer-wise learning-rate decay).

Backend-agnostic except `compute_gradients`, which imports the active
backend's autodiff lazily.
"""

from keras_vit.training.determinism import make_deterministic
from keras_vit.training.freezing import (
    UnfreezeCallback,
    freeze,
    freeze_backbone,
    frozen_layers,
    unfreeze,
)
from keras_vit.training.gradient_monitor import GradientNormMonitor
from keras_vit.training.gradients import compute_gradients, gradient_function
from keras_vit.training.layer_decay import (
    LayerDecayAdamW,
    create_layer_decay_adamw,
    layer_decay_multipliers,
)
from keras_vit.training.optimizers import (
    NO_WEIGHT_DECAY_NAMES,
    create_adamw,
    scale_learning_rate,
)
from keras_vit.training.precision import PRECISIONS, precision_policy
from keras_vit.training.scheduler import WarmupCosineScheduler
from keras_vit.training.schedules import WarmupCosine
from keras_vit.training.throughput import ThroughputMeter

__all__ = [
    "GradientNormMonitor",
    "LayerDecayAdamW",
    "NO_WEIGHT_DECAY_NAMES",
    "PRECISIONS",
    "ThroughputMeter",
    "UnfreezeCallback",
    "WarmupCosine",
    "WarmupCosineScheduler",
    "compute_gradients",
    "create_adamw",
    "create_layer_decay_adamw",
    "freeze",
    "freeze_backbone",
    "frozen_layers",
    "gradient_function",
    "layer_decay_multipliers",
    "make_deterministic",
    "precision_policy",
    "scale_learning_rate",
    "unfreeze",
]
