"""Training: ``fit`` (one loop for every family), checkpoints, ``load``."""
from .checkpoint import load
from .fit import evaluate_loss, fit
from .history import History
from .steps import make_step, register_step

__all__ = ["fit", "load", "History", "evaluate_loss", "make_step", "register_step"]
