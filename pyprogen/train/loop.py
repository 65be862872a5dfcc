"""The epoch loop ``fit`` runs: batches, steps, per-epoch means, checkpoints.

It knows one interface, the step protocol (infer/step.py): ``step(batch)`` returns a dict of
loss terms as means per data point, and ``state_dict()`` holds the optimisers. Deterministic
under ``seed``: the order of epoch ``e`` comes from its own generator seeded by ``(seed, e)``
(:func:`epoch_batches`), and every RNG state is checkpointed at the end of each epoch, so a
run resumed from epoch ``e`` continues exactly as the uninterrupted run would have.
"""
import math
import os
import time

import torch

from ..errors import TrainingDiverged
from ..progress import progress_bar
from ..seeding import get_rng_state
from . import distributed
from .checkpoint import checkpoint_path, save_checkpoint, write_metrics
from .guard import parameters_finite


def epoch_batches(n, batch_size, seed, epoch):
    """The index batches of epoch ``epoch``: a permutation seeded by ``(seed, epoch)``, cut into
    batches of ``batch_size`` (all of them when ``n < batch_size``); the ragged tail is dropped."""
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=gen)
    size = n if n < batch_size else batch_size
    return [perm[i:i + size] for i in range(0, n - size + 1, size)]


def headline(result):
    """The number a progress bar and ``test_loss`` show: ``loss``, else the generator's loss."""
    return float(result["loss"] if "loss" in result else result.get("gen_loss", next(iter(result.values()))))


def kept(out):
    """The tail of a divergence message: where the last good checkpoint is (if there is one)."""
    if out is None or not os.path.isfile(checkpoint_path(out)):
        return " (no checkpoint written yet)" if out is not None else ""
    return f" (last good checkpoint kept in {out})"


@torch.no_grad()
def evaluate_loss(step, x, batch_size):
    """Mean headline loss per data point over ``x`` (no parameter update)."""
    total = 0.0
    for i in range(0, len(x), batch_size):
        rows = x[i:i + batch_size]
        total += headline(step.evaluate_loss(rows)) * len(rows)
    return total / len(x)


def _train_epoch(step, x, sampler, epoch, bar, out):
    totals, seen = {}, 0
    for i, idx in enumerate(sampler):  # this rank's rows of each global batch
        try:
            result = distributed.all_reduce_mean(step.step(x[idx]))  # the global mean per point
        except TrainingDiverged as exc:
            raise TrainingDiverged(f"training diverged at epoch {epoch + 1}, step {i + 1}: {exc}{kept(out)}") from None
        if not all(math.isfinite(v) for v in result.values()):
            raise TrainingDiverged(f"training diverged at epoch {epoch + 1}, step {i + 1}: loss {result}{kept(out)}")
        for k, v in result.items():
            totals[k] = totals.get(k, 0.0) + v
        seen += 1
        bar.update(1)
        if i % 20 == 0:
            bar.set_postfix(epoch=epoch + 1, loss=f"{headline(result):.4g}")
    return {k: v / seen for k, v in totals.items()}


def run_epochs(model, step, x, *, epochs, start, history, batch_size, seed, out, progress, x_test, checkpoint):
    """Train epochs ``start .. epochs-1``; after each, append to ``history`` and (with ``out``)
    write the checkpoint ``checkpoint(history, epoch, rngs)`` builds and metrics.json (rank 0)."""
    sampler = distributed.ShardedBatches(lambda e: epoch_batches(len(x), batch_size, seed, e),
                                         min(batch_size, len(x)))
    per_epoch = len(epoch_batches(len(x), batch_size, seed, 0))
    main = distributed.is_main_process()  # rank 0 writes files and shows the bar
    bar = progress_bar(total=epochs * per_epoch, initial=start * per_epoch, disable=not progress or not main,
                       desc=type(model).__name__, unit="step", mininterval=0.5)
    try:
        for epoch in range(start, epochs):
            t0 = time.perf_counter()
            model.train()
            sampler.set_epoch(epoch)
            entry = {"epoch": epoch + 1, **_train_epoch(step, x, sampler, epoch, bar, out)}
            if not parameters_finite(model):  # never checkpoint NaN/inf parameters
                raise TrainingDiverged(f"training diverged in epoch {epoch + 1}: parameters are NaN/inf{kept(out)}")
            if x_test is not None:
                entry["test_loss"] = distributed.evaluate_loss(step, x_test, batch_size, evaluate_loss)
            entry["seconds"] = time.perf_counter() - t0
            history.append(entry)
            if out is not None:
                rngs = distributed.gather_rng_states(get_rng_state())  # every rank's, for an exact resume
                if main:
                    save_checkpoint(out, checkpoint(history, epoch + 1, rngs))
                    write_metrics(out, history)
    finally:
        bar.close()
    model.eval()
    return history
