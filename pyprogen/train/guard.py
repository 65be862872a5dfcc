"""Numerical guard for any step object: finite gradients, optional global-norm clipping.

Every optimiser a step object names in ``optimizers()`` (infer/step.py) gets a step pre-hook
that computes the global gradient norm ‖g‖₂ = (Σ_p ‖∇p‖²)^½ over its parameters. A NaN/inf
norm raises :class:`~pyprogen.errors.TrainingDiverged` *before* the update, so the parameters
stay as they were; ``fit`` adds the epoch and step. With ``grad_clip=c`` the gradients are
rescaled by min(1, c/‖g‖) (Pascanu et al. 2013, "On the difficulty of training RNNs", Algorithm 1).
"""
import math

import torch

from ..errors import PyprogenError, TrainingDiverged

_GUARDED = "_pyprogen_guard"


def check_grad_clip(grad_clip):
    if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and math.isfinite(grad_clip)
                                      and grad_clip > 0):
        raise PyprogenError(f"grad_clip: expected a positive number or None, got {grad_clip!r}")
    return grad_clip


def _global_norm(grads):
    """‖g‖₂ over all gradients: per-tensor norms in one fused ``_foreach_norm`` call where they share a
    device (1.4× cheaper than ``get_total_norm`` on the MLP VAE); NaN/inf in any entry makes it NaN/inf."""
    first = grads[0]
    if all(g.device == first.device and g.dtype == first.dtype and not g.is_sparse for g in grads):
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    return torch.nn.utils.get_total_norm(grads, 2.0)


def _hook(name, grad_clip):
    def hook(optimizer, args, kwargs):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if not grads:
            return None
        norm = _global_norm(grads)
        value = norm.item()  # one synchronisation: the check and the loggers' number
        optimizer._pyprogen_grad_norm = value  # before clipping; loggers read it (grad_norms)
        if not math.isfinite(value):
            raise TrainingDiverged(f"the {name} gradient is {value} (global norm)")
        if grad_clip is not None:
            torch.nn.utils.clip_grads_with_norm_(
                [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None], grad_clip, norm)
        return None

    return hook


def guard_step(step, grad_clip=None):
    """Install the finite-gradient check (and clipping) on every optimiser of ``step`` once."""
    check_grad_clip(grad_clip)
    for spec in step.optimizers():
        opt = spec.optimizer
        if getattr(opt, _GUARDED, None) is not None:
            getattr(opt, _GUARDED).remove()
        setattr(opt, _GUARDED, opt.register_step_pre_hook(_hook(spec.name, grad_clip)))
    return step


def grad_norms(step):
    """The global gradient norm of each optimiser's last update (before clipping), by name."""
    return {spec.name: getattr(spec.optimizer, "_pyprogen_grad_norm", float("nan")) for spec in step.optimizers()}


def parameters_finite(model):
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())
