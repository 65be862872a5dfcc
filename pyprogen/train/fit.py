"""``fit``: one training loop for every family (SVI for likelihood models, AdversarialSVI for GANs).

Deterministic under ``seed``: the shuffling order of epoch ``e`` comes from its own generator
seeded by ``(seed, e)``, and every RNG state is checkpointed at the end of each epoch, so a run
resumed from epoch ``e`` continues exactly as the uninterrupted run would have.
"""
import math
import numbers
import os
import time

import pyro
import torch
from tqdm.auto import tqdm

from ..data.arrays import ArrayDataset, as_tensor
from ..errors import PyprogenError, TrainingDiverged
from ..seeding import get_rng_state, set_rng_state, set_seed
from . import distributed
from .checkpoint import checkpoint_path, load_checkpoint, save_checkpoint, write_metrics
from .guard import guard_step, parameters_finite
from .history import History
from .lock import RunLock
from .losses import resolve_loss
from .steps import make_step


def as_training_tensor(model, data, argument="data"):
    """Validate ``data`` against the model's shape and likelihood; returns a float tensor."""
    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, ArrayDataset):
        data = torch.stack([torch.as_tensor(data[i]) for i in range(len(data))])
    x = as_tensor(data, argument)
    if tuple(x.shape[1:]) != tuple(model.data_shape):
        if x[0].numel() == math.prod(model.data_shape):
            x = x.reshape(-1, *model.data_shape)
        else:
            raise PyprogenError(f"{argument}: expected shape (N, {', '.join(map(str, model.data_shape))}), "
                                f"got {tuple(x.shape)}")
    likelihood = getattr(model, "likelihood", None)
    if likelihood is not None and hasattr(likelihood, "check"):
        likelihood.check(x, argument)
    return x


def _batches(n, batch_size, seed, epoch):
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=gen)
    size = n if n < batch_size else batch_size
    return [perm[i:i + size] for i in range(0, n - size + 1, size)]  # drop the ragged tail


def _scalar(out):
    """The number a progress bar shows: the loss, or the generator loss of an adversarial step."""
    return out if isinstance(out, float) else float(out.get("loss", out.get("gen_loss")))


def _kept(out):
    """The tail of a divergence message: where the last good checkpoint is (if there is one)."""
    if out is None or not os.path.isfile(checkpoint_path(out)):
        return " (no checkpoint written yet)" if out is not None else ""
    return f" (last good checkpoint kept in {out})"


def _finite(out):
    values = [out] if isinstance(out, float) else list(out.values())
    return all(math.isfinite(float(v)) for v in values)


def fit(model, data, *, loss=None, epochs, batch_size=128, lr=1e-3, seed=0, out=None, resume=False,
        progress=True, test_data=None, grad_clip=None):
    """Train ``model`` on ``data`` and return its :class:`History` (one entry per epoch).

    :param loss: an estimator (``pyro.infer.ELBO``, callable, or adversarial loss), a registry
        name, or ``None`` for ``model.default_loss()``.
    :param out: run directory; each epoch writes ``checkpoint.pt`` atomically and ``metrics.json``.
    :param resume: continue from ``out/checkpoint.pt`` exactly where it stopped.
    :param test_data: if given, each entry also holds ``test_loss`` (per data point).
    :param grad_clip: clip each optimiser's global gradient norm to this value (NaN/inf gradients
        always stop training with :class:`TrainingDiverged` before the update).
    """
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
    device = model.device
    x = as_training_tensor(model, data).to(device)
    x_test = None if test_data is None else as_training_tensor(model, test_data, "test_data").to(device)
    loss = resolve_loss(loss, model)
    # PyroModule models keep their parameters in the module; the global param store only caches them
    # by name, and a stale entry from an earlier model of the same architecture would capture the
    # gradients of a JIT-compiled loss. Start every fit from an empty store (as Pyro's tutorials do).
    pyro.clear_param_store()
    set_seed(distributed.rank_seed(seed))  # the run seed itself in one process (distributed.py)
    step = make_step(model, loss, lr)
    batches = _batches(len(x), batch_size, seed, 0)
    step.initialise(x[batches[0]])
    distributed.synchronise(step, device)  # gradient all-reduce over ranks; no-op in one process
    guard_step(step, grad_clip)
    fit_args = {"batch_size": batch_size, "lr": float(lr), "seed": int(seed), "loss": type(loss).__name__}

    history, start = History(), 0
    if resume and os.path.isfile(checkpoint_path(out)):
        state = load_checkpoint(out)
        for key in ("batch_size", "lr", "seed"):
            if state["fit"][key] != fit_args[key]:
                raise PyprogenError(f"resume: {key} was {state['fit'][key]} in the checkpoint, got {fit_args[key]}")
        model.load_state_dict(state["model"])
        step.load_state_dict(state["step"])
        set_rng_state(distributed.rank_rng_state(state))
        history, start = History(state["history"]), int(state["epoch"])

    sampler = distributed.ShardedBatches(lambda e: _batches(len(x), batch_size, seed, e), len(batches[0]))
    main = distributed.is_main_process()  # rank 0 writes files and shows the bar
    lock = RunLock(out).acquire() if out is not None and main else None  # a second run on `out` fails here
    bar = tqdm(total=epochs * len(batches), initial=start * len(batches), disable=not progress or not main,
               desc=type(model).__name__, unit="step", mininterval=0.5)
    try:
        for epoch in range(start, epochs):
            t0, totals, seen = time.perf_counter(), {}, 0
            model.train()
            sampler.set_epoch(epoch)
            for i, idx in enumerate(sampler):  # this rank's rows of each global batch
                batch = x[idx]
                try:
                    result = distributed.all_reduce_mean(step.step(batch))  # global mean
                except TrainingDiverged as exc:
                    raise TrainingDiverged(f"training diverged at epoch {epoch + 1}, step {i + 1}: {exc}{_kept(out)}") from None
                if not _finite(result):
                    raise TrainingDiverged(f"training diverged at epoch {epoch + 1}, step {i + 1}: "
                                           f"loss {result}{_kept(out)}")
                items = {"loss": result} if isinstance(result, float) else result
                for k, v in items.items():
                    totals[k] = totals.get(k, 0.0) + float(v)
                seen += 1
                bar.update(1)
                if i % 20 == 0:
                    bar.set_postfix(epoch=epoch + 1, loss=f"{_scalar(result) / (len(idx) if isinstance(result, float) else 1):.4g}")
            if not parameters_finite(model):  # never checkpoint NaN/inf parameters
                raise TrainingDiverged(f"training diverged in epoch {epoch + 1}: parameters are NaN/inf{_kept(out)}")
            entry = {"epoch": epoch + 1}
            per_point = isinstance(result, float)  # SVI losses are sums over the batch
            for k, v in totals.items():
                entry[k] = v / seen / (len(idx) if per_point else 1)
            if x_test is not None:
                entry["test_loss"] = distributed.evaluate_loss(step, x_test, batch_size, evaluate_loss)
            entry["seconds"] = time.perf_counter() - t0
            history.append(entry)
            if out is not None:
                rngs = distributed.gather_rng_states(get_rng_state())  # every rank's, for an exact resume
            if out is not None and main:
                save_checkpoint(out, {"model": model.state_dict(), "step": step.state_dict(), "rng": rngs[0],
                                      "rng_ranks": rngs, "epoch": epoch + 1, "config": model.config,
                                      "fit": fit_args, "history": list(history)})
                write_metrics(out, history)
    finally:
        bar.close()
        if lock is not None:
            lock.release()
    model.eval()
    return history


@torch.no_grad()
def evaluate_loss(step, x, batch_size):
    """Mean loss per data point over ``x`` (no parameter update)."""
    total = 0.0
    for i in range(0, len(x), batch_size):
        out = step.evaluate_loss(x[i:i + batch_size])
        total += out if isinstance(out, float) else _scalar(out) * len(x[i:i + batch_size])
    return total / len(x)
