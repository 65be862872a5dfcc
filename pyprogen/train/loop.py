"""The epoch loop ``fit`` runs: batches, steps, per-epoch means, checkpoints, preemption, logging.

It knows one interface, the step protocol (infer/step.py): ``step(batch)`` returns a dict of
loss terms as means per data point, and ``state_dict()`` holds the optimisers. Deterministic
under ``seed``: the order of epoch ``e`` comes from its own generator seeded by ``(seed, e)``
(:func:`epoch_batches`), so a position inside an epoch is just a step index. A checkpoint holds
every RNG state and, when written inside an epoch (``checkpoint_every`` steps, or a preemption
signal, see preemption.py), its :class:`Position`: the steps done and the running sums of their
loss terms. A run resumed from any checkpoint therefore continues exactly as the uninterrupted run
would have, down to the epoch means in metrics.json.
"""
import contextlib
import math
import os
import time
from dataclasses import dataclass, field

import torch

from ..errors import TrainingDiverged
from ..progress import progress_bar
from ..seeding import get_rng_state
from . import distributed
from .checkpoint import checkpoint_path, save_checkpoint, write_metrics
from .guard import parameters_finite
from .logger import Logger, step_scalars
from .preemption import stop
from .source import step_arguments

#: the key under which a rank's preemption request rides on the per-step all-reduce of the losses
STOP = "__stop__"


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


@dataclass
class Position:
    """Where a run stands: ``epoch`` epochs done, ``step`` steps of the next one done, the running
    sums of their loss terms (``totals``) and the training seconds spent in it."""

    epoch: int = 0
    step: int = 0
    totals: dict = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def from_checkpoint(cls, state):
        inside = state.get("position") or {}
        return cls(int(state["epoch"]), int(inside.get("step", 0)), dict(inside.get("totals", {})),
                   float(inside.get("seconds", 0.0)))

    def state(self):
        return {"step": self.step, "totals": dict(self.totals), "seconds": self.seconds}


class EpochLoop:
    """Train epochs ``position.epoch .. epochs-1`` (see :func:`run_epochs`)."""

    def __init__(self, model, step, source, *, batch_size, seed, out, progress, x_test, checkpoint,
                 checkpoint_every=None, logger=None, guard=None, autocast=contextlib.nullcontext):
        self.model, self.step, self.source, self.out = model, step, source, out
        self.autocast = autocast  # a fresh context manager per step (precision.py)
        self.batch_size, self.x_test, self.checkpoint = batch_size, x_test, checkpoint
        self.checkpoint_every, self.guard, self.progress = checkpoint_every, guard, progress
        n = len(source)
        self.sampler = distributed.ShardedBatches(lambda e: epoch_batches(n, batch_size, seed, e), min(batch_size, n))
        self.per_epoch = len(epoch_batches(n, batch_size, seed, 0))
        self.main = distributed.is_main_process()  # rank 0 writes files, logs and shows the bar
        self.logger = logger if logger is not None and self.main else Logger()
        # the no-op base method needs no scalars: skip building them (lr, grad norms) every step
        self.logs_steps = getattr(self.logger.log_step, "__func__", None) is not Logger.log_step

    def requested(self):
        return self.guard is not None and self.guard.requested is not None

    def stop_requested(self):
        """Whether any rank was asked to stop (a collective: every rank calls it at the same point)."""
        return distributed.all_reduce_mean({STOP: float(self.requested())})[STOP] > 0

    def signal_name(self):
        return self.guard.requested if self.requested() else "a signal to another process"

    def save(self, history, epochs_done, position=None, metrics=False):
        rngs = distributed.gather_rng_states(get_rng_state())  # every rank's, for an exact resume
        if self.main:
            save_checkpoint(self.out, self.checkpoint(history, epochs_done, rngs,
                                                      None if position is None else position.state()))
            if metrics:
                write_metrics(self.out, history)

    def train_epoch(self, history, pos, bar):
        """The steps of epoch ``pos.epoch`` from ``pos.step`` on; returns the epoch's mean terms."""
        epoch = pos.epoch
        self.sampler.set_epoch(epoch)
        shards = list(self.sampler)  # this rank's rows of each global batch
        t0 = time.perf_counter() - pos.seconds
        for rows in self.source.batches(shards[pos.step:]):
            try:
                with self.autocast():
                    result = self.step.step(*step_arguments(rows))
            except TrainingDiverged as exc:
                raise TrainingDiverged(f"training diverged at epoch {epoch + 1}, step {pos.step + 1}: "
                                       f"{exc}{kept(self.out)}") from None
            result = distributed.all_reduce_mean({**result, STOP: float(self.requested())})  # global means
            stopping = result.pop(STOP) > 0
            if not all(math.isfinite(v) for v in result.values()):
                raise TrainingDiverged(f"training diverged at epoch {epoch + 1}, step {pos.step + 1}: "
                                       f"loss {result}{kept(self.out)}")
            for k, v in result.items():
                pos.totals[k] = pos.totals.get(k, 0.0) + v
            pos.step += 1
            global_step = epoch * self.per_epoch + pos.step
            if self.logs_steps:
                self.logger.log_step(global_step, step_scalars(self.step, result))
            bar.update(1)
            if pos.step % 20 == 1:  # shown at the bar's next refresh (at most every mininterval seconds)
                bar.set_postfix(epoch=epoch + 1, loss=f"{headline(result):.4g}", refresh=False)
            every = self.out is not None and self.checkpoint_every is not None and global_step % self.checkpoint_every == 0
            if stopping or (every and pos.step < self.per_epoch):
                pos.seconds = time.perf_counter() - t0
                self.save(history, epoch, pos)
                stopping = stopping or self.stop_requested()  # a signal during that write: this checkpoint holds
            if stopping:
                stop(f"preempted by {self.signal_name()} at epoch {epoch + 1}, step {pos.step} of {self.per_epoch}: "
                     f"checkpoint written to {self.out}; continue with --resume", self.main)
        pos.seconds = time.perf_counter() - t0
        return {k: v / pos.step for k, v in pos.totals.items()}

    def run(self, epochs, history, pos):
        bar = progress_bar(total=epochs * self.per_epoch, initial=pos.epoch * self.per_epoch + pos.step,
                           disable=not self.progress or not self.main, desc=type(self.model).__name__,
                           unit="step", mininterval=0.5)
        self.logger.start(self.model, pos.epoch * self.per_epoch + pos.step)
        try:
            while pos.epoch < epochs:
                self.model.train()
                entry = {"epoch": pos.epoch + 1, **self.train_epoch(history, pos, bar)}
                if not parameters_finite(self.model):  # never checkpoint NaN/inf parameters
                    raise TrainingDiverged(f"training diverged in epoch {pos.epoch + 1}: parameters are "
                                           f"NaN/inf{kept(self.out)}")
                if self.x_test is not None:
                    entry["test_loss"] = distributed.evaluate_loss(self.step, self.x_test, self.batch_size,
                                                                   evaluate_loss)
                entry["seconds"] = pos.seconds
                history.append(entry)
                pos = Position(pos.epoch + 1)
                self.logger.log_epoch(pos.epoch, entry, self.model, pos.epoch * self.per_epoch)
                if self.out is not None:
                    self.save(history, pos.epoch, metrics=True)
                    # a signal during the test loss or the write: stop here, on every rank alike
                    if self.stop_requested():
                        stop(f"preempted by {self.signal_name()} after epoch {pos.epoch}: checkpoint written to "
                             f"{self.out}; continue with --resume", self.main)
        finally:
            bar.close()
            self.logger.close()
        self.model.eval()
        return history


def run_epochs(model, step, source, *, epochs, history, position, **kw):
    """Train from ``position`` (a :class:`Position`) up to ``epochs``; after each epoch append to
    ``history`` and (with ``out``) write the checkpoint ``checkpoint(history, epochs_done, rngs,
    position_state)`` builds and metrics.json (rank 0). Keywords: see :class:`EpochLoop`."""
    return EpochLoop(model, step, source, **kw).run(epochs, history, position)
