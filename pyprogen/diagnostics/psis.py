"""Pareto-smoothed importance sampling diagnostic k̂ per data point (Vehtari et al. 2024, JMLR 25(72)).

For a guide q(z|x) used as an importance proposal for the posterior p(z|x), the weights

    log w_s = log p(x, z_s) - log q(z_s | x),   z_s ~ q(z | x),   s = 1..S            (eq. 1)

are fitted with a generalised Pareto tail; its shape k̂ says whether the guide covers the
posterior (Yao et al. 2018, "Yes, but did it work?", Sec. 2): k̂ < 0.5 good, 0.5–0.7 usable,
> 0.7 the importance estimates (and the guide as a posterior) cannot be trusted.

The weights are :func:`pyprogen.infer.importance.log_weights` (per data point of
``pyro.plate("data", N)``, vectorised particles in chunks of ``CHUNK_SIZE``), so any Pyro
model/guide pair with local latents works; the Pareto fit is ArviZ's ``psislw`` through
:mod:`.arviz_adapter`.
"""
import numpy as np
import torch

from ..data.arrays import as_tensor
from ..infer.importance import log_weights
from .arviz_adapter import psis

CONSTANT_WEIGHTS_NATS = 1e-3
CHUNK_SIZE = 250  # particles vectorised at once by the diagnostics


def points(x):
    """The data points the diagnostics score: float32 ``(N, ...)`` on their own device."""
    return as_tensor(x, "x", column=False, device=None)


def diagnostic_log_weights(model, guide, x, num_particles):
    """Eq. 1's log weights ``[num_particles, N]`` without gradients, in chunks of ``CHUNK_SIZE`` particles."""
    with torch.no_grad():
        return log_weights(model, guide, x, num_particles=num_particles, chunk_size=CHUNK_SIZE, plate_name="data")


def psis_k_from_log_weights(log_weights):
    """Pareto k̂ per point from log weights ``[S, N]`` (ArviZ's ``psislw``)."""
    lw = torch.as_tensor(log_weights).detach().double().cpu().numpy().T  # (N, S): samples last
    _, k = psis(lw, reff=1.0)
    # Weights equal to within 1e-3 nats (the guide is the posterior): the Pareto fit is undefined and
    # the weights are bounded, so k̂ = -inf (the best possible value), not ArviZ's spurious fit.
    k[np.ptp(lw, axis=-1) < CONSTANT_WEIGHTS_NATS] = -np.inf
    return torch.as_tensor(k)


def psis_k(model, guide, x, *, num_particles=1000):
    """Pareto k̂ of the importance weights p(x, z)/q(z|x) per data point, Tensor ``[N]``.

    :param model: a Pyro model ``model(x)`` with its sites in ``pyro.plate("data", N)``.
    :param guide: a Pyro guide ``guide(x)`` over the model's latent sites.
    :param num_particles: importance samples per point (PSIS needs a few hundred for a stable k̂).
    """
    return psis_k_from_log_weights(diagnostic_log_weights(model, guide, points(x), num_particles))
