"""``GlobalBatchNoise``: every rank draws the latent noise a single process would draw for its rows.

In ordinary distributed training each rank draws its own noise from its own seed
(:func:`pyprogen.train.distributed.rank_seed`), so a ``W``-process run is a different (equally
valid) Monte-Carlo path from a one-process run. To *verify* that the synchronisation is exact
(same gradients, same updates), the noise must not depend on how the global batch is split:
under this handler, the ``k``-th latent draw of a run uses the standard-normal tensor of the
**global** batch from a generator seeded by ``(seed, k)``, and rank ``r`` keeps its contiguous
rows ``[r·b, (r+1)·b)`` of it (the rows :class:`~pyprogen.train.distributed.ShardedBatches`
gives it). A one-process run under the same handler (``W = 1``) draws the same global tensor
and keeps all of it, so both runs see identical noise row by row.

It applies to reparameterised location-scale latents ``Normal(loc, scale)`` (optionally
``.to_event``) inside ``pyro.plate(plate_name)``, where ``z = loc + scale·ε`` exactly as
``Normal.rsample`` computes it (Kingma & Welling 2014, eq. 10); observed, replayed and other
sites are left alone. A compiled loss (:class:`~pyprogen.infer.compiled.CompiledLoss`: the VAE's default
``JitTraceMeanField_ELBO``, ``FreeBitsELBO``) sees this handler on Pyro's stack and runs its program
uncompiled on every call while the handler is active — it neither records nor replays a record there —
so the handler draws every step's noise and such a run equals the one with ``TraceMeanField_ELBO``
(tests/train/test_distributed.py), at the uncompiled loss's cost. Costs one global-size draw per
site per rank, so it is a verification tool, not a training default.
"""
import pyro.distributions as dist
import torch
from pyro.poutine.messenger import Messenger

from .distributed import rank, world_size


def _base(fn):
    while isinstance(fn, (dist.Independent, torch.distributions.Independent)):
        fn = fn.base_dist
    return fn


class GlobalBatchNoise(Messenger):
    """``with GlobalBatchNoise(seed): fit(...)`` — shard-independent latent noise (see module doc)."""

    def __init__(self, seed, plate_name="data"):
        super().__init__()
        self.seed, self.plate_name, self.draws = int(seed), plate_name, 0

    def _pyro_sample(self, msg):
        if msg["is_observed"] or msg["value"] is not None:
            return
        fn = msg["fn"]
        base = _base(fn)
        frame = next((f for f in msg["cond_indep_stack"] if f.name == self.plate_name), None)
        if not isinstance(base, torch.distributions.Normal) or frame is None:
            return
        shape = tuple(fn.batch_shape + fn.event_shape)
        dim = len(fn.batch_shape) + frame.dim
        local, world = shape[dim], world_size()
        global_shape = shape[:dim] + (local * world,) + shape[dim + 1:]
        gen = torch.Generator(device=base.loc.device).manual_seed(self.seed * 1_000_003 + self.draws)
        self.draws += 1
        eps = torch.randn(global_shape, generator=gen, dtype=base.loc.dtype, device=base.loc.device)
        eps = eps.narrow(dim, rank() * local, local)
        msg["value"] = base.loc + base.scale * eps
