"""A VAE with two stochastic layers, Burda et al. 2016's second architecture (sec. 5, appendix C):

    generative  p(z2) = N(0, I)                                      z2: 50
                p(z | z2) = N(μ_p(z2), diag σ_p(z2)²)                50 → 100 → 100 → 100  (tanh)
                p(x | z) = Bernoulli(logits(z))                       100 → 200 → 200 → 784 (tanh)
    guide       q(z | x) = N(μ_q(x), diag σ_q(x)²)                   784 → 200 → 200 → 100 (tanh)
                q(z2 | z) = N(μ_q(z), diag σ_q(z)²)                  100 → 100 → 100 → 50  (tanh)

written "784-(200-200)-100-(100-100)-50" in the paper. Sites: ``"z"`` (the layer next to x, 100-d, Burda's
h1), ``"z2"`` (the top layer, 50-d, h2) and ``"x"``, all in ``plate("data")``. The model and guide are plain
Pyro, so it trains with any trace-reading estimator: the ELBO (its default, Pyro's ``Trace_ELBO``: the guide's
z2 depends on z, so the mean-field analytic KL does not apply) or ``IWAE(k)`` (Burda et al., eq. 8) through
``--loss iwae``. Standard deviations are softplus(·) + 1e-4 of a linear layer, like the one-layer VAE's
encoder (the paper exponentiates). Their numbers (dynamically binarised MNIST, 3,280 passes): VAE 85.33,
IWAE(k = 50) 82.90 nats; binarized-mnist here is statically binarised.
"""
import math

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import Trace_ELBO

from ..errors import PyprogenError
from ..nn import MLPDecoder, MLPEncoder
from .base import GenerativeModel
from .likelihoods import build_likelihood
from .registry import register_model
from .vae import as_pyro_module


def _widths(value, name):
    value = tuple(value)
    if not value or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in value):
        raise PyprogenError(f"{name}: expected a non-empty list of positive integers, got {value!r}")
    return value


class HierarchicalVAE(GenerativeModel):
    """Two-stochastic-layer VAE.

    :param latent_dim: size of ``z`` (the lower layer; 100 in Burda et al.).
    :param top_dim: size of ``z2`` (the top layer; 50).
    :param hidden: widths between x and z (200, 200); :param top_hidden: between z and z2 (100, 100).
    :param likelihood: ``"bernoulli"`` | ``"gaussian"`` | ``"categorical"``; :param net: ``"mlp"`` only.
    """

    def __init__(self, data_shape, *, latent_dim=100, top_dim=50, hidden=(200, 200), top_hidden=(100, 100),
                 likelihood="bernoulli", net="mlp", scale=0.1):
        super().__init__(data_shape, latent_dim)
        for name, value in (("latent_dim", latent_dim), ("top_dim", top_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PyprogenError(f"{name}: expected a positive integer, got {value!r}")
        if net != "mlp":
            raise PyprogenError(f"net: the hierarchical VAE has MLP layers only ('mlp'), got {net!r}")
        hidden, top_hidden = _widths(hidden, "hidden"), _widths(top_hidden, "top_hidden")
        self.top_dim = top_dim
        extra = {"scale": scale} if likelihood == "gaussian" else {}
        self.likelihood = build_likelihood(likelihood, self.data_shape, **extra)
        out = self.likelihood.params_per_value * math.prod(self.data_shape)
        self.encoder = as_pyro_module(MLPEncoder(self.data_shape, latent_dim, hidden))           # q(z | x)
        self.top_encoder = as_pyro_module(MLPEncoder((latent_dim,), top_dim, top_hidden))        # q(z2 | z)
        self.top_decoder = as_pyro_module(MLPEncoder((top_dim,), latent_dim, top_hidden[::-1]))  # p(z | z2)
        self.decoder = as_pyro_module(MLPDecoder(latent_dim, out, hidden[::-1]))                 # p(x | z)

    def model(self, x=None, n=None):
        n = self.batch_size(x, n)
        obs = None if x is None else self.likelihood.observation(x)
        with pyro.plate("data", n):
            z2 = pyro.sample("z2", dist.Normal(torch.zeros(n, self.top_dim, device=self.device), 1.0).to_event(1))
            z = pyro.sample("z", dist.Normal(*self.top_decoder(z2)).to_event(1))
            return pyro.sample("x", self.likelihood.distribution(self.decoder(z)), obs=obs)

    def guide(self, x=None, n=None):
        """q(z|x) q(z2|z); with no data, the model's own latents (nothing to amortise)."""
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            if x is None:
                z2 = pyro.sample("z2", dist.Normal(torch.zeros(n, self.top_dim, device=self.device), 1.0).to_event(1))
                return pyro.sample("z", dist.Normal(*self.top_decoder(z2)).to_event(1))
            z = pyro.sample("z", dist.Normal(*self.encoder(x)).to_event(1))
            pyro.sample("z2", dist.Normal(*self.top_encoder(z)).to_event(1))
            return z

    def default_loss(self):
        """Pyro's Trace_ELBO (Monte-Carlo KL: q(z2|z) depends on the sampled z)."""
        return Trace_ELBO()

    @torch.no_grad()
    def encode(self, x):
        """E_q[z|x] of the lower layer, shape (n, latent_dim)."""
        return self.encoder(x)[0]

    @torch.no_grad()
    def decode(self, z):
        """Likelihood mean of x given the lower layer z."""
        return self.likelihood.mean(self.decoder(z))


@register_model("hierarchical-vae")
def _build(data_shape, **kw):
    """Two-stochastic-layer VAE (Burda et al. 2016): 784-(200-200)-100-(100-100)-50."""
    return HierarchicalVAE(data_shape, **kw)
