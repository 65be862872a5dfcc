"""``fit``: one training loop for every family, driven through the step protocol (infer/step.py).

``fit`` resolves the loss, lets :func:`pyprogen.infer.step.make_step` pick the step object for
the model (SVI for an estimator, AdversarialSVI for a critic on data, WAE-GAN's step for a
critic on codes), restores a checkpoint and hands over to the epoch loop (loop.py).
"""
import math
import numbers
import os

import pyro
import torch

from ..data.arrays import ArrayDataset, as_tensor
from ..errors import PyprogenError
from ..infer.step import make_step
from ..seeding import set_rng_state, set_seed
from . import distributed
from .checkpoint import checkpoint_path, load_checkpoint
from .guard import guard_step
from .history import History
from .lock import RunLock
from .loop import epoch_batches, evaluate_loss, run_epochs  # noqa: F401  (evaluate_loss re-exported)
from .losses import resolve_loss

RESUME_KEYS = ("batch_size", "lr", "seed")


def check_model(model):
    """A PyroModule (any ``torch.nn.Module``) with ``model`` and ``guide`` methods, or one line."""
    if not (isinstance(model, torch.nn.Module) and callable(getattr(model, "model", None))
            and callable(getattr(model, "guide", None))):
        raise PyprogenError(f"model: expected a PyroModule with model(x) and guide(x) methods, "
                            f"got {type(model).__name__}")
    return model


def device_of(model):
    """The device of the model's parameters (CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def as_training_tensor(model, data, argument="data"):
    """Validate ``data`` against the model's shape and likelihood; returns a float tensor.
    A model without ``data_shape`` takes the data's."""
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, ArrayDataset):
        data = torch.stack([torch.as_tensor(data[i]) for i in range(len(data))])
    x = as_tensor(data, argument)
    shape = getattr(model, "data_shape", None)
    if shape is None:
        model.data_shape = shape = tuple(x.shape[1:])
    if tuple(x.shape[1:]) != tuple(shape):
        if x[0].numel() != math.prod(shape):
            raise PyprogenError(f"{argument}: expected shape (N, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
        x = x.reshape(-1, *shape)
    likelihood = getattr(model, "likelihood", None)
    if likelihood is not None and hasattr(likelihood, "check"):
        likelihood.check(x, argument)
    return x


def _check_arguments(epochs, batch_size, lr, seed, resume, out):
    if not (isinstance(epochs, int) and epochs >= 1):
        raise PyprogenError(f"epochs: expected a positive integer, got {epochs!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise PyprogenError(f"batch_size: expected a positive integer, got {batch_size!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise PyprogenError(f"lr: expected a positive number, got {lr!r}")
    if not (isinstance(seed, numbers.Integral) and 0 <= seed < 2**32):  # seeds torch.Generator(seed·1000003 + epoch)
        raise PyprogenError(f"seed: expected an integer in [0, 2**32), got {seed!r}")
    if resume and out is None:
        raise PyprogenError("resume: needs out=DIR holding a checkpoint")


def fit(model, data, *, loss=None, epochs, batch_size=128, lr=1e-3, seed=0, out=None, resume=False,
        progress=True, test_data=None, grad_clip=None):
    """Train ``model`` on ``data`` and return its :class:`History` (one entry per epoch).

    :param model: a PyroModule with ``model(x)``/``guide(x)`` (a pyprogen model or the user's own).
    :param loss: an estimator (``pyro.infer.ELBO``, callable, or adversarial loss), a registry
        name, or ``None`` for ``model.default_loss()`` (``Trace_ELBO`` for a model without one).
    :param out: run directory; each epoch writes ``checkpoint.pt`` atomically and ``metrics.json``.
    :param resume: continue from ``out/checkpoint.pt`` exactly where it stopped.
    :param test_data: if given, each entry also holds ``test_loss`` (per data point).
    :param grad_clip: clip each optimiser's global gradient norm to this value (NaN/inf gradients
        always stop training with :class:`TrainingDiverged` before the update).
    """
    _check_arguments(epochs, batch_size, lr, seed, resume, out)
    check_model(model)
    device = device_of(model)
    x = as_training_tensor(model, data).to(device)
    x_test = None if test_data is None else as_training_tensor(model, test_data, "test_data").to(device)
    loss = resolve_loss(loss, model)
    step = make_step(model, loss, lr)  # refuses a loss that cannot train this model, before any work
    # PyroModule models keep their parameters in the module; the global param store only caches them
    # by name, and a stale entry from an earlier model of the same architecture would capture the
    # gradients of a JIT-compiled loss. Start every fit from an empty store (as Pyro's tutorials do).
    pyro.clear_param_store()
    set_seed(distributed.rank_seed(seed))  # the run seed itself in one process (distributed.py)
    step.initialise(x[epoch_batches(len(x), batch_size, seed, 0)[0]])
    distributed.synchronise(step)  # gradient all-reduce over ranks; no-op in one process
    guard_step(step, grad_clip)
    fit_args = {"batch_size": batch_size, "lr": float(lr), "seed": int(seed), "loss": type(loss).__name__}

    history, start = History(), 0
    if resume and os.path.isfile(checkpoint_path(out)):
        state = load_checkpoint(out)
        for key in RESUME_KEYS:
            if state["fit"][key] != fit_args[key]:
                raise PyprogenError(f"resume: {key} was {state['fit'][key]} in the checkpoint, got {fit_args[key]}")
        model.load_state_dict(state["model"])
        step.load_state_dict(state["step"])
        set_rng_state(distributed.rank_rng_state(state))
        history, start = History(state["history"]), int(state["epoch"])

    def checkpoint(history, epoch, rngs):
        return {"model": model.state_dict(), "step": step.state_dict(), "rng": rngs[0], "rng_ranks": rngs,
                "epoch": epoch, "config": getattr(model, "config", None), "fit": fit_args, "history": list(history)}

    lock = RunLock(out).acquire() if out is not None and distributed.is_main_process() else None
    try:  # a second run on `out` fails above, at once
        return run_epochs(model, step, x, epochs=epochs, start=start, history=history, batch_size=batch_size,
                          seed=seed, out=out, progress=progress, x_test=x_test, checkpoint=checkpoint)
    finally:
        if lock is not None:
            lock.release()
