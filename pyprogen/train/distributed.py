"""Data-parallel training on PyTorch's own engine: ``torch.distributed`` collectives, launched by torchrun.

Each of ``W`` processes (ranks) holds the whole model and the whole data tensor, takes its
shard of every *global* minibatch, computes the loss on it and synchronises gradients through
``torch.distributed`` before the optimiser step, so every rank applies the same update
(Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating Data Parallel Training").

- **Process group** (:func:`process_group`): initialised from torchrun's environment
  (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``); gloo on CPU, nccl
  on CUDA (one device per local rank). Outside torchrun it is a no-op and training is the
  ordinary one-process loop.
- **Sharding** (:class:`ShardedBatches`): fit's epoch permutation, seeded by ``(seed, epoch)``
  (the ``set_epoch`` of ``DistributedSampler``), cut into global batches of ``batch_size``;
  rank ``r`` takes the ``r``-th contiguous ``batch_size / W`` rows of each. The global batch is
  therefore the one a single process would use, and ``--batch-size`` keeps its meaning (and
  the learning rate stays valid) whatever ``W`` is.
- **Gradients** (:func:`synchronise`): through the step protocol only (infer/step.py). Each
  optimiser a step names in ``optimizers()`` gets a ``step`` pre-hook that flattens its
  parameters' gradients into one buffer and all-reduces it with ``torch.distributed`` before the
  update: SUMmed for a loss summed over the batch (``reduce="sum"``: Pyro's ELBOs, whose
  single-process loss of the global batch is ``Σ_r L_r``, so the result is exactly the
  global-batch gradient) and averaged for a batch mean (``reduce="mean"``: adversarial losses).
  Rank 0's parameters are broadcast first. We do not wrap the loss in
  ``DistributedDataParallel``: the gradient penalties (WGAN-GP, WGAN-LP, GAN-DP/R1, R2) call
  ``torch.autograd.grad(..., create_graph=True)``, which DDP's documentation lists as
  unsupported ("DistributedDataParallel does not work with torch.autograd.grad()"), a GAN
  step runs the critic several times and the generator update with frozen critic weights
  (parameters DDP's reducer would count as unused), and a generator or guide is a Pyro
  program rather than one module's ``forward``. NVIDIA's StyleGAN3 trainer, whose losses
  include R1, likewise all-reduces gradients by hand. One bucket per optimiser, after backward
  (no overlap with it, which these model sizes hardly need; see benchmarks/ddp_throughput.py).
- **Seeds** (:func:`rank_seed`): rank 0 keeps the run seed (a one-process torchrun run equals a
  plain run); rank ``r > 0`` gets an independent stream from ``numpy.random.SeedSequence(seed,
  spawn_key=(r,))``. Latent draws differ between ranks, the run is reproducible, and every
  rank's RNG state goes into the checkpoint so ``--resume`` continues exactly.
- **Reporting**: the step's loss terms (means per data point of the local shard) are all-reduced
  every step (:func:`all_reduce_mean`; with equal shards their mean over ranks is the global
  loss per point, and no rank can stop on NaN while the others wait in a collective).
  Checkpoints, metrics, figures and progress bars are rank 0's (:func:`is_main_process`);
  evaluation shards the test set and gathers (:func:`evaluate_loss`, :func:`reduce_evaluation`).

Batch-coupled estimators (WAE's minibatch MMD, TC's MSS estimator, BatchNorm statistics) see
only the local shard: their distributed gradient is the sum of per-shard estimates, a valid
estimator but not the global-batch one.
"""
import contextlib
import datetime
import os

import numpy as np
import pyro
import torch
import torch.distributed as dist

from ..errors import PyprogenError

__all__ = ["process_group", "world_size", "rank", "is_distributed", "is_main_process", "rank_seed",
           "ShardedBatches", "shard_rows", "all_reduce_mean", "all_reduce_gradients", "synchronise",
           "evaluate_loss", "reduce_evaluation", "gather_rng_states", "rank_rng_state",
           "move_param_store"]


# -- process group ------------------------------------------------------------------------------
def _env_int(name, default):
    value = os.environ.get(name)
    return default if value is None else int(value)


@contextlib.contextmanager
def process_group(device=torch.device("cpu"), timeout_s=1800):
    """Join the process group torchrun described in the environment (no-op without one).

    gloo for CPU tensors, nccl for CUDA (each local rank pinned to ``cuda:LOCAL_RANK``). Tears
    the group down on exit if this call created it, after a barrier when the body finished normally.
    """
    device = torch.device(device)
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1 or (dist.is_available() and dist.is_initialized()):
        yield
        return
    if not dist.is_available():
        raise PyprogenError("nproc: this torch build has no torch.distributed support")
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(_env_int("LOCAL_RANK", 0))
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    try:
        yield
        # every rank done with its collectives before any tears its connections down: without this, a rank
        # that finishes first can close gloo pairs a peer still reads from, and the peer aborts in C++
        # ("terminate called without an active exception", SIGABRT; seen twice on this 2-core machine)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def is_distributed():
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size():
    return dist.get_world_size() if is_distributed() else 1


def rank():
    return dist.get_rank() if is_distributed() else 0


def is_main_process():
    """Rank 0 (or a plain process): the one that writes files and shows progress bars. Outside an
    initialised group, torchrun's ``RANK`` decides (e.g. printing after the group is torn down)."""
    return rank() == 0 if is_distributed() else int(os.environ.get("RANK", 0)) == 0


def rank_seed(seed, rank_=None):
    """Seed of rank ``r`` derived from the run seed: ``seed`` itself on rank 0, an independent
    ``SeedSequence(seed, spawn_key=(r,))`` stream on the others."""
    r = rank() if rank_ is None else int(rank_)
    if r == 0:
        return int(seed)
    return int(np.random.SeedSequence(int(seed), spawn_key=(r,)).generate_state(1, np.uint32)[0])


# -- sharding -----------------------------------------------------------------------------------
class ShardedBatches:
    """Rank ``r``'s rows of every global minibatch of an epoch (``DistributedSampler``-style).

    ``make_batches(epoch)`` returns the epoch's global batches (index tensors of equal size);
    call :meth:`set_epoch` before iterating, like ``DistributedSampler``.
    """

    def __init__(self, make_batches, batch_size, rank_=None, world=None):
        self.make_batches, self.rank = make_batches, rank() if rank_ is None else rank_
        self.world = world_size() if world is None else world
        if batch_size % self.world:
            raise PyprogenError(f"batch_size: expected a multiple of the number of processes {self.world}, "
                                f"got {batch_size}")
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __iter__(self):
        for idx in self.make_batches(self.epoch):
            if len(idx) % self.world:
                raise PyprogenError(f"data: a global batch of {len(idx)} rows cannot be split over "
                                    f"{self.world} processes")
            yield shard_rows(idx, self.rank, self.world)


def shard_rows(x, rank_=None, world=None):
    """Rank ``r``'s contiguous share of the rows of ``x`` (sizes differ by at most one)."""
    world = world_size() if world is None else world
    return torch.tensor_split(x, world)[rank() if rank_ is None else rank_]


# -- collectives ----------------------------------------------------------------------------------
def all_reduce_mean(values):
    """Mean over ranks of a dict of floats (one collective); identity in one process."""
    if not is_distributed():
        return values
    keys = list(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return dict(zip(keys, (t / dist.get_world_size()).tolist()))


def _comm_device():
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def all_reduce_gradients(params, average):
    """All-reduce the ``.grad`` of ``params`` in one flat buffer (SUM, or SUM / W when ``average``).

    Parameters whose gradient is ``None`` are skipped: every rank runs the same graph, so the
    same ones are ``None`` everywhere (a zero would move Adam's moments where one process would not).
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads or not is_distributed():
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    if average:
        flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def broadcast_parameters(params):
    """Rank 0's values to every rank (the same seed builds the same model; this makes sure)."""
    for p in params:
        with torch.no_grad():
            dist.broadcast(p.data, src=0)


def _hook(params, average):
    def pre_step(optimizer, args, kwargs):
        all_reduce_gradients(params, average)

    return pre_step


# -- step synchronisation (the step protocol's optimizers()) ------------------------------------
def synchronise(step, device=None):
    """Make an *initialised* step object synchronise its gradients over the process group
    (a no-op in one process). Call it before installing other optimiser pre-hooks (clipping,
    finite checks), so that those see the global gradient."""
    if not is_distributed():
        return step
    for spec in step.optimizers():
        broadcast_parameters(spec.params)
        spec.optimizer.register_step_pre_hook(_hook(spec.params, average=spec.reduce == "mean"))
    return step


# -- evaluation ---------------------------------------------------------------------------------
def evaluate_loss(step, x, batch_size, evaluate):
    """``evaluate(step, rows, batch_size)`` (a mean per point) on this rank's rows, gathered."""
    if not is_distributed():
        return evaluate(step, x, batch_size)
    rows = shard_rows(x)
    local = evaluate(step, rows, batch_size) * len(rows) if len(rows) else 0.0
    t = torch.tensor([local, float(len(rows))], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return float(t[0] / t[1])


#: evaluation keys that are means over data points (combined weighted by each rank's count)
PER_POINT_KEYS = ("nll_nats", "elbo_nats", "bits_per_dim", "accuracy")


def reduce_evaluation(result):
    """Combine per-rank evaluations of disjoint test shards: per-point means weighted by
    ``num_points``, ``num_points`` summed; other keys (sample-based, e.g. mode coverage) are rank 0's."""
    if not is_distributed():
        return result
    n = float(result.get("num_points", 0))
    keys = [k for k in PER_POINT_KEYS if result.get(k) is not None]
    t = torch.tensor([n] + [result[k] * n for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    out = [dict(result)]
    dist.broadcast_object_list(out, src=0)
    combined = out[0]
    combined["num_points"] = int(t[0])
    for i, k in enumerate(keys):
        combined[k] = float(t[i + 1] / t[0])
    return combined


# -- checkpoint RNG states -------------------------------------------------------------------------
def gather_rng_states(state):
    """Every rank's RNG state (a list indexed by rank); a collective, so call it on every rank."""
    if not is_distributed():
        return [state]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, state)
    return out


def rank_rng_state(checkpoint):
    """The RNG state this rank resumes from; refuses a checkpoint written by another world size."""
    states = checkpoint.get("rng_ranks") or [checkpoint["rng"]]
    if len(states) != world_size():
        raise PyprogenError(f"resume: the checkpoint was written by {len(states)} process(es), this run has "
                            f"{world_size()}; resume with --nproc {len(states)}")
    return states[rank()]


# -- devices ------------------------------------------------------------------------------------
def move_param_store(device):
    """Move every Pyro param-store entry not yet on ``device`` there (module parameters that
    ``model.to(device)`` already moved are the same tensors and stay untouched)."""
    store = pyro.get_param_store()
    device = torch.device(device)
    for name in list(store.keys()):
        value = store._params[name]
        if value.device.type == device.type and (device.index is None or value.device.index == device.index):
            continue
        with torch.no_grad():
            moved = value.detach().to(device).requires_grad_(value.requires_grad)
        store._param_to_name.pop(value, None)
        store._params[name] = moved
        store._param_to_name[moved] = name
