"""Experiment tracking: the logger protocol ``fit`` calls each step and each epoch.

A logger is any object with these methods (subclass :class:`Logger` to get no-op defaults):

- ``start(model, global_step)``: training starts, or resumes after ``global_step`` steps (a
  logger that appends to files drops what an interrupted run wrote after that step);
- ``log_step(global_step, scalars)``: after every step: each loss term the step returned
  (``loss`` or ``gen_loss``/``critic_loss``/``penalty``, means per data point, global over ranks),
  ``lr/<optimiser>`` and ``grad_norm/<optimiser>`` (the global gradient norm before clipping,
  computed by the guard, see guard.py);
- ``log_epoch(epoch, entry, model, global_step)``: after every epoch, with the very entry that
  goes into metrics.json (and the model, e.g. for :func:`sample_grid`);
- ``close()``: training ended (also on an error or preemption);
- ``state_dict()``/``load_state_dict(state)``: carried by checkpoints, so a resumed run continues
  the logger where the checkpoint left it.

Only the main process (rank 0) logs. Logging never changes training: samples for images are drawn
with every RNG state saved and restored (:func:`sample_grid`).
"""
import math

import torch

from ..seeding import get_rng_state, set_rng_state, set_seed
from .guard import grad_norms


class Logger:
    """No-op base class of the logger protocol (see the module docstring)."""

    def start(self, model, global_step):
        """Called once before the first step (``global_step`` > 0 on a resume); records nothing here."""

    def log_step(self, global_step, scalars):
        """Called after every step with the loss terms, learning rates and gradient norms; ignored here."""

    def log_epoch(self, epoch, entry, model, global_step):
        """Called after every epoch with its metrics.json entry; ignored here."""

    def close(self):
        """Called when fit ends (normally or not); nothing to release here."""

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        """A logger without state restores nothing."""


def step_scalars(step, result):
    """What ``log_step`` receives: the loss terms, each optimiser's learning rate and gradient norm."""
    scalars = dict(result)
    for spec in step.optimizers():
        scalars[f"lr/{spec.name}"] = float(spec.optimizer.param_groups[0]["lr"])
    for name, norm in grad_norms(step).items():
        scalars[f"grad_norm/{name}"] = norm
    return scalars


def epoch_scalars(entry):
    """The numeric values of a metrics.json entry (not the epoch number itself)."""
    return {k: float(v) for k, v in entry.items()
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def is_image_shape(shape):
    return len(shape) == 3 and shape[0] in (1, 3)


@torch.no_grad()
def sample_grid(model, n=16, seed=0):
    """``n`` samples of an image model tiled into one ``(C, H', W')`` image in [0, 1], or None when
    the model has no ``sample`` or its data are not ``(C, H, W)`` images with 1 or 3 channels.

    Drawn from a fixed seed (the same noise every epoch) with every RNG state restored afterwards and
    the model's train/eval mode kept, so training continues exactly as without the logger."""
    shape = tuple(getattr(model, "data_shape", ()) or ())
    if not callable(getattr(model, "sample", None)) or not is_image_shape(shape):
        return None
    state, training = get_rng_state(), model.training
    try:
        set_seed(seed)
        model.eval()
        x = model.sample(n).detach().float().cpu().reshape(n, *shape).clamp(0, 1)
    finally:
        set_rng_state(state)
        model.train(training)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    c, h, w = shape
    grid = torch.ones(c, rows * (h + 2), cols * (w + 2))
    for i in range(n):
        r, k = divmod(i, cols)
        grid[:, r * (h + 2) + 1:r * (h + 2) + 1 + h, k * (w + 2) + 1:k * (w + 2) + 1 + w] = x[i]
    return grid
