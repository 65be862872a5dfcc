"""Free bits (Kingma et al. 2016, "Improved variational inference with inverse autoregressive flow",
eq. 15), one group per latent dimension: each dimension's KL, averaged over the minibatch, counts
for at least λ nats,

    L_λ = E_q[log p(x|z)] − N · β · Σ_j max(λ, (1/N) Σ_n KL(q(z_j | x_n) || p(z_j))),

so the encoder gains nothing by pushing a dimension's KL below λ and units stay active. With
λ = 0 it is the mean-field ELBO (β = 1) or the β-ELBO. The per-dimension KL is analytic where
torch has it for the sites' base distributions (diagonal Gaussians), else the one-sample
``log q(z_j|x) − log p(z_j)``; latent sites must factorise over their event dimensions
(``Independent`` of a univariate distribution, or univariate).

:class:`FreeBitsELBO` reads traces like every estimator here and compiles once per model like
:class:`~pyprogen.infer.JitTraceMeanField_ELBO`. ``loss`` (what ``evaluate_loss`` and test losses
report) is the plain negative ELBO, not the free-bits objective.
"""
import math

import torch
from pyro.distributions import Independent
from pyro.infer import TraceMeanField_ELBO
from torch.distributions import kl_divergence

from ..errors import PyprogenError
from .beta_elbo import check_weight
from .jit_elbo import JitTraceMeanField_ELBO
from .registry import register_estimator


def _unwrap(fn):
    """``(base distribution, event dims)``: ``Independent`` layers peeled off."""
    dims = 0
    while isinstance(fn, Independent):
        dims += fn.reinterpreted_batch_ndims
        fn = fn.base_dist
    return fn, dims + len(fn.event_shape)


def per_dimension_kl(q, p, value):
    """KL(q || p) per data point and latent dimension, shape ``(*batch, D)`` (D = 1 for a scalar site)."""
    q_base, q_dims = _unwrap(q)
    p_base, p_dims = _unwrap(p)
    if q_dims != p_dims or len(q_base.event_shape) or len(p_base.event_shape):
        raise PyprogenError(f"free_bits: latent sites must factorise over their dimensions, got "
                            f"{type(q).__name__} and {type(p).__name__}")
    try:
        kl = kl_divergence(q_base, p_base)
    except NotImplementedError:
        kl = q_base.log_prob(value) - p_base.log_prob(value)
    kl = kl.expand(torch.broadcast_shapes(kl.shape, q.batch_shape + q.event_shape))
    return kl.reshape(*q.batch_shape, -1) if q_dims else kl.unsqueeze(-1)


class FreeBitsELBO(JitTraceMeanField_ELBO):
    """``FreeBitsELBO(lam, beta=1)``: the mean-field ELBO with the KL of each latent dimension floored
    at ``lam`` nats (per data point, minibatch average) and weighted by ``beta``."""

    def __init__(self, lam=0.25, beta=1.0, num_particles=1, **kwargs):
        super().__init__(num_particles=num_particles, **kwargs)
        self.lam, self.beta = check_weight(lam, "free_bits"), check_weight(beta, "beta")

    def _differentiable_loss_particle(self, model_trace, guide_trace):
        elbo = 0.0
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample":
                continue
            if site["is_observed"]:
                elbo = elbo + site["log_prob_sum"]
                continue
            guide_site = guide_trace.nodes[name]
            kl = per_dimension_kl(guide_site["fn"], site["fn"], guide_site["value"])
            points = math.prod(kl.shape[:-1])
            floored = kl.reshape(points, -1).mean(0).clamp_min(self.lam).sum() * points
            elbo = elbo - self.beta * guide_site["scale"] * floored
        return -elbo.detach(), -elbo  # (value, surrogate): no .item(), the loss may be recorded as a graph

    def loss(self, model, guide, *args, **kwargs):
        """The plain negative ELBO (Monte-Carlo likelihood, analytic KL), as TraceMeanField_ELBO."""
        return TraceMeanField_ELBO.loss(TraceMeanField_ELBO(num_particles=self.num_particles),
                                        model, guide, *args, **kwargs)


@register_estimator("free-bits")
def _free_bits(model, **kw):
    """Mean-field ELBO with free bits per latent dimension (Kingma et al. 2016; lam=0.25 nats unless given)."""
    return FreeBitsELBO(kw.pop("lam", 0.25), kw.pop("beta", getattr(model, "beta", 1.0)), **kw)


def with_free_bits(loss, lam):
    """``loss`` (the ELBO, mean-field or not, or a β-ELBO) as a :class:`FreeBitsELBO` with floor ``lam``."""
    from pyro.infer import JitTraceMeanField_ELBO as PyroJit, Trace_ELBO

    from .beta_elbo import BetaELBO

    lam = check_weight(lam, "free_bits")
    if type(loss) not in (Trace_ELBO, TraceMeanField_ELBO, PyroJit, JitTraceMeanField_ELBO, BetaELBO, FreeBitsELBO):
        raise PyprogenError(f"free_bits: applies to the ELBO and the β-ELBO, not to "
                            f"{getattr(loss, 'registry_name', None) or type(loss).__name__}")
    return FreeBitsELBO(lam, getattr(loss, "beta", 1.0), num_particles=getattr(loss, "num_particles", 1))
