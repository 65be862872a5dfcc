"""Combination importance-weighted autoencoder bound, CIWAE(β, K) (Rainforth et al. 2018, sec. 4):

    ELBO_CIWAE(x) = β · ELBO_VAE(x) + (1 − β) · ELBO_IWAE(x)
                  = β · (1/K) Σ_k log w_k + (1 − β) · log (1/K) Σ_k w_k,   w_k = p(x, z_k) / q(z_k | x)

both terms from the same K particles z_k ~ q(z | x). β = 1 is the K-particle ELBO (Kingma & Welling
2014), β = 0 is IWAE(K) (Burda et al. 2016, eq. 8); β in between trades IWAE's tighter bound against
the ELBO's higher signal-to-noise ratio for the inference network. The weights come from
:meth:`pyprogen.infer.IWAE.log_weights` (one vectorised run).
"""
import math

import torch
from pyro.util import warn_if_nan

from ..errors import PyprogenError
from .iwae import IWAE
from .registry import register_estimator


class CIWAE(IWAE):
    """Loss ``−Σ_n [β mean_k log w_kn + (1 − β)(logsumexp_k log w_kn − log K)]``.

    :param beta: β in [0, 1].
    :param num_particles: K.
    Other keywords as :class:`~pyprogen.infer.IWAE`.
    """

    def __init__(self, beta=0.5, num_particles=1, **kwargs):
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta <= 1:
            raise PyprogenError(f"beta: expected a number in [0, 1], got {beta!r}")
        super().__init__(num_particles, **kwargs)
        self.beta = float(beta)

    def bound(self, lw):
        """Per-point CIWAE bound (N,) from (K, N) log-weights."""
        elbo = lw.mean(0)
        iwae = torch.logsumexp(lw, 0) - math.log(self.num_particles)
        return self.beta * elbo + (1 - self.beta) * iwae

    def differentiable_loss(self, model, guide, *args, **kwargs):
        loss = -self.bound(self.log_weights(model, guide, *args, **kwargs)).sum()
        warn_if_nan(loss, "loss")
        return loss


@register_estimator("ciwae")
def _ciwae(model, beta=0.5, num_particles=50, **kw):
    """CIWAE(β, K) (Rainforth et al. 2018): β·ELBO + (1 − β)·IWAE on the same K particles; default β = 0.5, K = 50."""
    return CIWAE(beta, num_particles, **kw)
