"""Importance-sampled log-likelihood, per-point ELBO and bits per dimension.

    log p(x_n) ≈ log (1/K) Σ_k p(x_n, z_k) / q(z_k | x_n),   z_k ~ q(z | x_n)   (Burda et al. 2016, eq. 8)

the IWAE bound L_K, which increases to log p(x_n) as K grows (their Theorem 1); the guide is the
proposal. Works for any Pyro model/guide pair called as ``model(x)``/``guide(x)`` with data points in
``plate("data")``; the weights, their chunking and the running logsumexp are
:mod:`pyprogen.infer.importance`'s. Particles go in chunks of ``chunk_size`` and the data in batches
of ``batch_size``, so memory is bounded by ``chunk_size × batch_size`` particles; no gradients are
recorded. ``x`` is converted by :func:`pyprogen.data.arrays.as_tensor` (float32, same device).
"""
import math

import torch
from ..progress import progress_bar

from ..data.arrays import as_tensor
from ..infer.importance import guess_max_plate_nesting, log_mean_weight, log_weights, positive_int


def _points(x):
    """The data points as a float32 tensor ``(N, ...)`` on their own device (numpy arrays accepted)."""
    return as_tensor(x, "x", column=False, device=None)


@torch.no_grad()
def log_likelihood(model, guide, x, *, num_particles=1000, chunk_size=100, batch_size=100, plate_name="data",
                   progress=False):
    """Importance-weighted estimate of log p(x_n) in nats, shape (N,).

    Per batch of points, :func:`pyprogen.infer.importance.log_mean_weight` (running logsumexp over
    chunks of ``chunk_size`` particles).
    """
    x = _points(x)
    positive_int(num_particles, "num_particles")
    positive_int(chunk_size, "chunk_size")
    batch_size = positive_int(batch_size, "batch_size")
    nesting = guess_max_plate_nesting(model, guide, (x[:batch_size],), {})
    batches = range(0, x.shape[0], batch_size)
    return torch.cat([log_mean_weight(model, guide, x[s:s + batch_size], num_particles=num_particles,
                                      chunk_size=chunk_size, plate_name=plate_name, max_plate_nesting=nesting)
                      for s in progress_bar(batches, desc="log p(x)", disable=not progress)])


@torch.no_grad()
def elbo(model, guide, x, *, num_particles=1, chunk_size=100, batch_size=100, plate_name="data"):
    """Monte-Carlo ELBO per data point, ``mean_k log w_kn`` in nats, shape (N,)."""
    x = _points(x)
    positive_int(num_particles, "num_particles")
    batch_size = positive_int(batch_size, "batch_size")
    nesting = guess_max_plate_nesting(model, guide, (x[:batch_size],), {})
    parts = [log_weights(model, guide, x[s:s + batch_size], num_particles=num_particles, chunk_size=chunk_size,
                         plate_name=plate_name, max_plate_nesting=nesting).mean(0)
             for s in range(0, x.shape[0], batch_size)]
    return torch.cat(parts)


def bits_per_dim(nll_nats, num_dims):
    """Negative log-likelihood in nats per data point -> bits per dimension: ``nll / (D · ln 2)``."""
    positive_int(num_dims, "num_dims")
    return nll_nats / (num_dims * math.log(2.0))
