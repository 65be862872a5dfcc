"""Multiply importance-weighted autoencoder bound, MIWAE(M, K) (Rainforth et al. 2018, sec. 4):

    ELBO_MIWAE(x) = (1/M) Σ_m log (1/K) Σ_k w_mk,   w_mk = p(x, z_mk) / q(z_mk | x),   z_mk ~ q(z | x)

the average of M independent IWAE bounds with K particles each (Burda et al. 2016, eq. 8). M = 1 is
IWAE(K); K = 1 is the ELBO with M particles. For the same number M·K of particles it is looser than
IWAE(M·K) but gives the inference network a gradient with a higher signal-to-noise ratio (their
Theorem 1: the SNR of IWAE's inference-network gradient falls as O(1/√K), while M raises it as O(√M)).

The M·K weights are drawn in one vectorised run by :meth:`pyprogen.infer.IWAE.log_weights`, particle
j = m·K + k, so MIWAE(1, K) and IWAE(K) draw the same particles from the same seed.
"""
import math

import torch
from pyro.util import warn_if_nan

from ..errors import PyprogenError
from .iwae import IWAE
from .registry import register_estimator


def _positive(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PyprogenError(f"{name}: expected a positive integer, got {value!r}")
    return value


class MIWAE(IWAE):
    """Loss ``−Σ_n (1/M) Σ_m [logsumexp_k log w_mkn − log K]`` for any Pyro model/guide pair.

    :param num_outer: M, the number of IWAE bounds averaged.
    :param num_inner: K, the particles inside each bound.
    Other keywords as :class:`~pyprogen.infer.IWAE` (``plate_name``, ``max_plate_nesting``).
    """

    def __init__(self, num_outer=1, num_inner=1, **kwargs):
        self.num_outer, self.num_inner = _positive(num_outer, "num_outer"), _positive(num_inner, "num_inner")
        super().__init__(self.num_outer * self.num_inner, **kwargs)

    def groups(self, lw):
        """(M·K, N) log-weights -> (M, K, N)."""
        return lw.reshape(self.num_outer, self.num_inner, *lw.shape[1:])

    def bound(self, lw):
        """Per-point MIWAE bound (N,) from (M·K, N) log-weights."""
        return (torch.logsumexp(self.groups(lw), 1) - math.log(self.num_inner)).mean(0)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        loss = -self.bound(self.log_weights(model, guide, *args, **kwargs)).sum()
        warn_if_nan(loss, "loss")
        return loss


@register_estimator("miwae")
def _miwae(model, num_outer=8, num_inner=8, **kw):
    """MIWAE(M, K) (Rainforth et al. 2018): the mean of M IWAE bounds of K particles; default M = K = 8."""
    return MIWAE(num_outer, num_inner, **kw)
