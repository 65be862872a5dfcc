"""Training: ``fit`` (one loop for every family, through the step protocol), checkpoints, ``load``."""
from ..infer.step import STEPS, make_step
from .checkpoint import load
from .fit import fit
from .history import History
from .loop import evaluate_loss

__all__ = ["fit", "load", "History", "evaluate_loss", "make_step", "STEPS"]
