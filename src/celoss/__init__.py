"""celoss: cross-entropy loss from logits to loss, in NumPy, checked against PyTorch.

The modules follow the walkthrough: :mod:`celoss.probabilities`,
:mod:`celoss.correct_class`, :mod:`celoss.nll`, :mod:`celoss.reduction`,
:mod:`celoss.gradient`, :mod:`celoss.loss`; then :mod:`celoss.binary`
(sigmoid and binary cross-entropy), :mod:`celoss.information` (entropy and
KL divergence), and :mod:`celoss.parity`, the one module that imports torch
(lazily).
"""

from .binary import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    log_sigmoid,
    sigmoid,
)
from .correct_class import correct_class_log_probs, correct_class_probs
from .fused import fused_cross_entropy
from .gradient import cross_entropy_grad, smoothed_targets
from .information import entropy, kl_div
from .loss import cross_entropy
from .nll import nll_loss, soft_target_loss, target_weights
from .parity import (
    TOLERANCES,
    ParityError,
    ParityReport,
    StepCheck,
    compare_binary_with_torch,
    compare_with_torch,
)
from .probabilities import log_softmax, logsumexp, softmax
from .reduction import reduce_loss

__version__ = "0.1.0"

__all__ = [
    "softmax",
    "log_softmax",
    "logsumexp",
    "correct_class_probs",
    "correct_class_log_probs",
    "target_weights",
    "nll_loss",
    "soft_target_loss",
    "reduce_loss",
    "smoothed_targets",
    "cross_entropy_grad",
    "cross_entropy",
    "fused_cross_entropy",
    "sigmoid",
    "log_sigmoid",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "entropy",
    "kl_div",
    "TOLERANCES",
    "ParityError",
    "ParityReport",
    "StepCheck",
    "compare_with_torch",
    "compare_binary_with_torch",
]
