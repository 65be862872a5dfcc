"""Importance-sampled log-likelihood, per-point ELBO and bits per dimension.

    log p(x_n) ≈ log (1/K) Σ_k p(x_n, z_k) / q(z_k | x_n),   z_k ~ q(z | x_n)   (Burda et al. 2016, eq. 8)

the IWAE bound L_K, which increases to log p(x_n) as K grows (their Theorem 1); the guide is the
proposal. Works for any Pyro model/guide pair called as ``model(x)``/``guide(x)`` with data points in
``plate("data")`` (weights from :func:`pyprogen.infer.importance.log_weights`). Particles go in chunks
of ``chunk_size`` with a running logsumexp and the data in batches of ``batch_size``, so memory is
bounded by ``chunk_size × batch_size`` particles; no gradients are recorded.
"""
import math

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import PyprogenError
from ..infer.importance import guess_max_plate_nesting, log_weights


def as_tensor(x, argument="x"):
    """Tensor from a tensor or array (float32 for float64/int arrays, which Pyro models expect)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not torch.is_tensor(x):
        raise PyprogenError(f"{argument}: expected a tensor or numpy array, got {type(x).__name__}")
    if x.dtype in (torch.float64, torch.int64, torch.int32, torch.uint8, torch.bool):
        x = x.float()
    if x.dim() < 1 or x.shape[0] < 1:
        raise PyprogenError(f"{argument}: expected an array of shape (N, ...) with N >= 1, got {tuple(x.shape)}")
    return x


def _positive_int(value, argument):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PyprogenError(f"{argument}: expected a positive integer, got {value!r}")
    return value


@torch.no_grad()
def log_likelihood(model, guide, x, *, num_particles=1000, chunk_size=100, batch_size=100, plate_name="data",
                   progress=False):
    """Importance-weighted estimate of log p(x_n) in nats, shape (N,)."""
    x = as_tensor(x)
    _positive_int(num_particles, "num_particles")
    chunk_size = min(_positive_int(chunk_size, "chunk_size"), num_particles)
    batch_size = _positive_int(batch_size, "batch_size")
    nesting = guess_max_plate_nesting(model, guide, (x[:batch_size],), {})
    out = []
    batches = range(0, x.shape[0], batch_size)
    for start in tqdm(batches, desc="log p(x)", disable=not progress):
        xb = x[start:start + batch_size]
        total, done = None, 0
        while done < num_particles:
            k = min(chunk_size, num_particles - done)
            lw = torch.logsumexp(log_weights(model, guide, xb, num_particles=k, plate_name=plate_name,
                                             max_plate_nesting=nesting), 0)
            total = lw if total is None else torch.logaddexp(total, lw)
            done += k
        out.append(total - math.log(num_particles))
    return torch.cat(out)


@torch.no_grad()
def elbo(model, guide, x, *, num_particles=1, batch_size=100, plate_name="data"):
    """Monte-Carlo ELBO per data point, ``mean_k log w_kn`` in nats, shape (N,)."""
    x = as_tensor(x)
    _positive_int(num_particles, "num_particles")
    batch_size = _positive_int(batch_size, "batch_size")
    nesting = guess_max_plate_nesting(model, guide, (x[:batch_size],), {})
    parts = [log_weights(model, guide, x[s:s + batch_size], num_particles=num_particles, plate_name=plate_name,
                         max_plate_nesting=nesting).mean(0) for s in range(0, x.shape[0], batch_size)]
    return torch.cat(parts)


def bits_per_dim(nll_nats, num_dims):
    """Negative log-likelihood in nats per data point -> bits per dimension: ``nll / (D · ln 2)``."""
    _positive_int(num_dims, "num_dims")
    return nll_nats / (num_dims * math.log(2.0))
