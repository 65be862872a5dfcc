"""The evaluation every run directory gets: the contract's result keys for one model on test data.

- models with a likelihood (VAE family, autoregressive): ``nll_nats`` (importance-weighted
  estimate of −log p(x), the guide as proposal; exact for models without latents),
  ``elbo_nats`` (the single-sample ELBO, as a negative number of nats), ``bits_per_dim``;
- implicit models (GANs): no ``nll_nats`` at all — never a made-up number;
- 2-D toy mixtures (ring8, grid25), any model: ``modes_covered``, ``high_quality_fraction``.
"""
import math

import torch

from .likelihood import bits_per_dim, elbo, log_likelihood
from .modes import mode_coverage


def has_likelihood(model):
    """True for models that define p(x) (an observed ``"x"`` site with a likelihood)."""
    return getattr(model, "likelihood", None) is not None


@torch.no_grad()
def evaluate_model(model, x, *, num_particles=1000, modes=None, num_samples=2500, labels=None):
    """Result dict for ``model`` on test data ``x``; ``modes=(centers, std)`` adds mode coverage; ``labels``
    add the ``accuracy`` of a model with a classifier (``model.classify(x)``, M2's argmax q(y|x))."""
    result = {"num_points": int(len(x))}
    if labels is not None and callable(getattr(model, "classify", None)):
        result["accuracy"] = float((model.classify(x).cpu() == torch.as_tensor(labels).cpu()).float().mean())
    if has_likelihood(model):
        particles = num_particles if model.latent_dim > 0 else 1  # exact likelihood: one "particle"
        ll = log_likelihood(model.model, model.guide, x, num_particles=particles)
        result["nll_nats"] = float(-ll.mean())
        result["elbo_nats"] = float(elbo(model.model, model.guide, x).mean())
        result["bits_per_dim"] = float(bits_per_dim(result["nll_nats"], math.prod(model.data_shape)))
        result["num_particles"] = particles
    if modes is not None:
        centers, std = modes
        result.update(mode_coverage(model.sample(num_samples), centers, std=std))
    return result
