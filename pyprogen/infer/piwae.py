"""Partially importance-weighted autoencoder, PIWAE(M, K) (Rainforth et al. 2018, sec. 4).

One set of M·K particles z_mk ~ q_φ(z | x) and two targets:

    generative network θ:  ELBO_IWAE(x)  = log (1/(M K)) Σ_{m,k} w_mk              (Burda et al. 2016, eq. 8)
    inference network  φ:  ELBO_MIWAE(x) = (1/M) Σ_m log (1/K) Σ_k w_mk             (MIWAE, see miwae.py)

θ gains from the tighter bound while φ keeps a gradient whose signal-to-noise ratio does not vanish
as K grows (their Theorem 1). PIWAE(1, K) is IWAE(K).

Which parameters are φ is read from the traces, as everything else in ``infer/``: every parameter the
guide touches (a Pyro ``param`` site in the guide's trace, which PyroModule weights are) takes the MIWAE
gradient; every other parameter takes the IWAE gradient. (A parameter used by both — e.g. a VampPrior
runs the encoder in the model — counts as φ.) ``differentiable_loss`` returns a surrogate whose value is
the IWAE(M·K) loss and whose gradient with respect to each parameter is the one its target prescribes,
so PIWAE trains with ``loss.backward()`` under any optimiser, ``pyprogen.train.fit`` included; it costs
two backward passes through the weights.
"""
import math

import torch
from pyro import poutine
from pyro.util import warn_if_nan

from .miwae import MIWAE
from .registry import register_estimator


def _leaf(value):
    """The tensor an optimiser updates behind a param site (Pyro's unconstrained value)."""
    unconstrained = getattr(value, "unconstrained", None)
    return unconstrained() if callable(unconstrained) else value


class PIWAE(MIWAE):
    """IWAE(M·K) gradient for the model's parameters, MIWAE(M, K) gradient for the guide's.

    :param num_outer: M; :param num_inner: K. Other keywords as :class:`~pyprogen.infer.IWAE`.
    """

    def iwae_bound(self, lw):
        return torch.logsumexp(lw, 0) - math.log(self.num_particles)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        model_params = poutine.trace(model, param_only=True)
        guide_params = poutine.trace(guide, param_only=True)
        lw = self.log_weights(model_params, guide_params, *args, **kwargs)
        iwae_loss = -self.iwae_bound(lw).sum()
        warn_if_nan(iwae_loss, "loss")
        if not (torch.is_grad_enabled() and lw.requires_grad):
            return iwae_loss
        miwae_loss = -self.bound(lw).sum()
        phi = {id(t): t for t in map(_leaf, (s["value"] for s in guide_params.trace.nodes.values()))
               if t.requires_grad}
        theta = {id(t): t for t in map(_leaf, (s["value"] for s in model_params.trace.nodes.values()))
                 if t.requires_grad and id(t) not in phi}
        surrogate = iwae_loss.detach()
        for loss, params in ((iwae_loss, list(theta.values())), (miwae_loss, list(phi.values()))):
            if not params:
                continue
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            for p, g in zip(params, grads):
                if g is not None:  # Σ g·p − (Σ g·p).detach(): value 0, gradient g with respect to p
                    term = (g.detach() * p).sum()
                    surrogate = surrogate + term - term.detach()
        return surrogate


@register_estimator("piwae")
def _piwae(model, num_outer=8, num_inner=8, **kw):
    """PIWAE(M, K) (Rainforth et al. 2018): IWAE(M·K) gradient for the model, MIWAE(M, K) for the guide; default M = K = 8."""
    return PIWAE(num_outer, num_inner, **kw)
