"""Importance-weighted autoencoder bound (Burda et al. 2016, eq. 8):

    L_K = Σ_n E[ log (1/K) Σ_k w_kn ],   w_kn = p(x_n, z_kn) / q(z_kn | x_n),   z_kn ~ q(z | x_n)

computed per data point from traces (:func:`pyprogen.infer.importance.log_weights`), so it is
correct for local latents in ``plate("data")`` (unlike ``RenyiELBO(alpha=0)``, pyro #3104).
L_1 is the ELBO and L_K is non-decreasing in K (Burda et al., Theorem 1). The gradient is the
autograd gradient of L_K, which needs reparameterised guide sites. The loss is the sum over the
data points given (a subsampled plate's N/B scale is not applied; pass the minibatch as data).
"""
import math

import torch
from pyro.infer import ELBO
from pyro.util import warn_if_nan

from ..errors import PyprogenError
from .registry import register_estimator
from .importance import guess_max_plate_nesting, log_weights


class IWAE(ELBO):
    """Loss ``−Σ_n [logsumexp_k log w_kn − log K]`` for any Pyro model/guide pair.

    :param num_particles: K, the number of importance samples per data point.
    :param plate_name: name of the data plate that indexes data points (default ``"data"``).
    :param max_plate_nesting: plates in the model; guessed from one run when omitted.
    """

    def __init__(self, num_particles=1, *, plate_name="data", max_plate_nesting=None):
        if isinstance(num_particles, bool) or not isinstance(num_particles, int) or num_particles < 1:
            raise PyprogenError(f"num_particles: expected a positive integer, got {num_particles!r}")
        super().__init__(num_particles=num_particles,
                         max_plate_nesting=float("inf") if max_plate_nesting is None else max_plate_nesting)
        self.plate_name = plate_name

    def _get_trace(self, model, guide, args, kwargs):
        raise PyprogenError("IWAE: draws its particles jointly through log_weights, not trace by trace")

    def log_weights(self, model, guide, *args, **kwargs):
        if self.max_plate_nesting == float("inf"):
            self.max_plate_nesting = guess_max_plate_nesting(model, guide, args, kwargs)
        return log_weights(model, guide, *args, num_particles=self.num_particles, plate_name=self.plate_name,
                           max_plate_nesting=self.max_plate_nesting, require_rsample=torch.is_grad_enabled(), **kwargs)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        lw = self.log_weights(model, guide, *args, **kwargs)
        bound = torch.logsumexp(lw, 0) - math.log(self.num_particles)
        loss = -bound.sum()
        warn_if_nan(loss, "loss")
        return loss

    def loss(self, model, guide, *args, **kwargs):
        with torch.no_grad():
            return self.differentiable_loss(model, guide, *args, **kwargs).item()

    def loss_and_grads(self, model, guide, *args, **kwargs):
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        if loss.requires_grad:
            loss.backward(retain_graph=self.retain_graph)
        return loss.item()


@register_estimator("iwae")
def _iwae(model, num_particles=50, **kw):
    """Importance-weighted bound (Burda et al. 2016), k = 50 particles by default."""
    return IWAE(num_particles, **kw)
