"""``fit``: one training loop for every family, driven through the step protocol (infer/step.py).

``fit`` resolves the loss, lets :func:`pyprogen.infer.step.make_step` pick the step object for
the model (SVI for an estimator, AdversarialSVI for a critic on data, WAE-GAN's step for a
critic on codes), restores a checkpoint and hands over to the epoch loop (loop.py).
"""
import contextlib
import math
import numbers
import os

import pyro
import torch

from ..data.arrays import ArrayDataset, as_tensor
from ..errors import PyprogenError
from ..infer.kl_warmup import with_kl_options
from ..infer.step import make_step
from ..seeding import set_rng_state, set_seed
from . import distributed, preemption
from .checkpoint import checkpoint_path, load_checkpoint
from .guard import guard_step
from .history import History
from .lock import RunLock
from .precision import autocast, check_precision
from .loop import Position, epoch_batches, evaluate_loss, run_epochs  # noqa: F401  (evaluate_loss re-exported)
from .losses import resolve_loss
from .schedules import attach
from .source import check_rows, make_source, step_arguments

RESUME_KEYS = ("batch_size", "lr", "seed", "precision")


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
    """Validate ``data`` against the model's shape and likelihood; returns a float tensor (a Dataset
    is stacked: ``fit`` itself streams one, see source.py). A model without ``data_shape`` takes the data's."""
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, ArrayDataset):
        data = torch.stack([torch.as_tensor(data[i]) for i in range(len(data))])
    return check_rows(model, as_tensor(data, argument), argument)


def _check_arguments(epochs, batch_size, lr, seed, resume, out, checkpoint_every):
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
    if checkpoint_every is not None and not (isinstance(checkpoint_every, int) and checkpoint_every >= 1
                                             and not isinstance(checkpoint_every, bool)):
        raise PyprogenError(f"checkpoint_every: expected a positive integer (steps) or None, got {checkpoint_every!r}")


def _restore(out, resume, model, step, fit_args, logger):
    """``(history, position)`` from ``out/checkpoint.pt`` when resuming (asked for, or a restarted
    torchrun worker of the same elastic run, see preemption.py); a fresh start otherwise."""
    # restarted: on any rank (an agent on a replacement node counts from 0), so that every rank decides alike
    restarted = distributed.all_reduce_mean({"r": float(preemption.restart_count() > 0)})["r"] > 0
    state = load_checkpoint(out) if out is not None and os.path.isfile(checkpoint_path(out)) and (
        resume or restarted) else None
    if state is None or not (resume or preemption.elastic_resume(state, restarted)):
        return History(), Position()
    for key in RESUME_KEYS:
        if state["fit"].get(key, "fp32" if key == "precision" else None) != fit_args[key]:  # older runs: fp32
            raise PyprogenError(f"resume: {key} was {state['fit'][key]} in the checkpoint, got {fit_args[key]}")
    model.load_state_dict(state["model"])
    step.load_state_dict(state["step"])
    set_rng_state(distributed.rank_rng_state(state))
    if logger is not None and state.get("logger"):
        logger.load_state_dict(state["logger"])
    return History(state["history"]), Position.from_checkpoint(state)


def fit(model, data, *, loss=None, epochs, batch_size=128, lr=1e-3, seed=0, out=None, resume=False,
        progress=True, test_data=None, grad_clip=None, checkpoint_every=None, logger=None, kl_warmup=None,
        free_bits=None, lr_schedule=None, labels=None, precision="fp32"):
    """Train ``model`` on ``data`` and return its :class:`History` (one entry per epoch).

    :param model: a PyroModule with ``model(x)``/``guide(x)`` (a pyprogen model or the user's own).
    :param data: a tensor or array, or a ``torch.utils.data.Dataset``/``DataLoader``, which is
        streamed: each step reads only its rows, in the same order as the stacked tensor (source.py).
    :param loss: an estimator (``pyro.infer.ELBO``, callable, or adversarial loss), a registry
        name, or ``None`` for ``model.default_loss()`` (``Trace_ELBO`` for a model without one).
    :param out: run directory; each epoch writes ``checkpoint.pt`` atomically and ``metrics.json``.
        While ``fit`` runs with ``out``, SIGTERM/SIGUSR1 finish the current step, write a checkpoint
        and exit with status 143 (preemption.py).
    :param resume: continue from ``out/checkpoint.pt`` exactly where it stopped (inside an epoch, too).
        A worker that torchrun restarted (``--max-restarts``) resumes by itself.
    :param labels: one label per data point for a model whose ``model(x, y)``/``guide(x, y)`` take them
        (cvae, m2; M2 reads −1 as missing): each step then calls them with ``(x, y)`` of its rows, as
        ``SVI.step(x, y)`` would. Tensor data only.
    :param test_data: if given, each entry also holds ``test_loss`` (per data point).
    :param grad_clip: clip each optimiser's global gradient norm to this value (NaN/inf gradients
        always stop training with :class:`TrainingDiverged` before the update).
    :param checkpoint_every: also checkpoint every this many steps (bounds what a hard kill loses).
    :param logger: a logger (logger.py), e.g. :class:`~pyprogen.train.tensorboard_logger.TensorBoardLogger`.
    :param kl_warmup: KL weight min(1, t / kl_warmup) at update t (infer/kl_warmup.py); ``free_bits``: λ nats
        per latent dimension (infer/free_bits.py); ``lr_schedule``: ``"cosine"``, ``"step"``, ... (schedules.py).
        A schedule's horizon is this call's ``epochs`` × batches per epoch, so resuming a scheduled run with a
        larger ``epochs`` is not the same as one longer run: the horizon moves at the resume (cosine's factor
        jumps back up from where the shorter run had decayed it). For a longer scheduled run, train anew with
        the larger ``epochs``; a resume with the same ``epochs`` continues exactly.
    :param precision: ``"fp32"`` or ``"bf16"`` (each step's forward pass under bf16 autocast; parameters,
        gradients and optimiser state stay fp32; precision.py). Part of what a resume must share.
    """
    _check_arguments(epochs, batch_size, lr, seed, resume, out, checkpoint_every)
    check_precision(precision)
    check_model(model)
    device = device_of(model)
    source = make_source(model, data, device, as_training_tensor, labels)
    x_test = None if test_data is None else as_training_tensor(model, test_data, "test_data").to(device)
    loss = with_kl_options(resolve_loss(loss, model), kl_warmup=kl_warmup, free_bits=free_bits)
    step = make_step(model, loss, lr)  # refuses a loss that cannot train this model, before any work
    # PyroModule models keep their parameters in the module; the global param store only caches them
    # by name, and a stale entry from an earlier model of the same architecture would capture the
    # gradients of a JIT-compiled loss. Start every fit from an empty store (as Pyro's tutorials do).
    pyro.clear_param_store()
    set_seed(distributed.rank_seed(seed))  # the run seed itself in one process (distributed.py)
    step.initialise(*step_arguments(source.rows(epoch_batches(len(source), batch_size, seed, 0)[0])))
    distributed.synchronise(step)  # gradient all-reduce over ranks; no-op in one process
    guard_step(step, grad_clip)
    attach(step, loss, lr_schedule=lr_schedule, epochs=epochs,
           steps_per_epoch=len(epoch_batches(len(source), batch_size, seed, 0)))  # before a resume loads state
    fit_args = {"batch_size": batch_size, "lr": float(lr), "seed": int(seed), "loss": type(loss).__name__,
                "precision": precision}
    history, position = _restore(out, resume, model, step, fit_args, logger)

    def checkpoint(history, epoch, rngs, position=None):
        return {"model": model.state_dict(), "step": step.state_dict(), "rng": rngs[0], "rng_ranks": rngs,
                "epoch": epoch, "position": position, "config": getattr(model, "config", None), "fit": fit_args,
                "history": list(history), "logger": logger.state_dict() if logger is not None else {},
                "elastic_run_id": preemption.elastic_run_id()}

    lock = RunLock(out).acquire() if out is not None and distributed.is_main_process() else None
    guard = preemption.PreemptionGuard() if out is not None else contextlib.nullcontext()
    try:  # a second run on `out` fails above, at once
        with guard:
            return run_epochs(model, step, source, epochs=epochs, history=history, position=position,
                              batch_size=batch_size, seed=seed, out=out, progress=progress, x_test=x_test,
                              checkpoint=checkpoint, checkpoint_every=checkpoint_every, logger=logger,
                              guard=guard if out is not None else None, autocast=autocast(precision, device))
    finally:
        if lock is not None:
            lock.release()
