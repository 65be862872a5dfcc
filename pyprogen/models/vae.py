"""Variational autoencoder (Kingma & Welling 2014) as a Pyro model/guide pair.

    p(z) = N(0, I),  p(x|z) = likelihood(decoder(z)),  q(z|x) = N(mu(x), diag sigma(x)^2)

trained by maximising the ELBO  E_q[log p(x|z)] - KL(q(z|x) || p(z)) with the
reparameterisation trick. Sites: latent ``"z"`` and observed ``"x"`` in ``plate("data")``.
"""
import math

import pyro
import pyro.distributions as dist
import torch
from pyro.nn.module import to_pyro_module_

from ..errors import PyprogenError
from ..nn import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from .base import GenerativeModel
from .likelihoods import build_likelihood
from .registry import register_model

NETS = {"mlp", "conv"}


def as_pyro_module(module):
    """Let Pyro's param store see a plain ``nn.Module`` (so ``pyro.infer.SVI`` trains it too)."""
    to_pyro_module_(module)
    return module


def default_nets(data_shape, latent_dim, out_features, net, hidden, width):
    """Encoder and decoder for ``data_shape``: MLPs for vectors, convs for (C, 28|64, 28|64) images."""
    if net not in NETS:
        raise PyprogenError(f"net: expected one of {sorted(NETS)}, got {net!r}")
    if net == "conv":
        k = out_features // math.prod(data_shape)
        return ConvEncoder(data_shape, latent_dim, width), ConvDecoder(latent_dim, data_shape, k * data_shape[0], width)
    return MLPEncoder(data_shape, latent_dim, hidden), MLPDecoder(latent_dim, out_features, hidden)


class VAE(GenerativeModel):
    """Amortised VAE.

    :param data_shape: shape of one data point, e.g. ``(1, 28, 28)`` or ``(784,)``.
    :param latent_dim: K, the size of ``z``.
    :param likelihood: ``"bernoulli"`` | ``"gaussian"`` | ``"categorical"`` (see ``likelihoods``).
    :param encoder: optional module ``x -> (loc, scale)``; defaults by ``net``.
    :param decoder: optional module ``z -> likelihood parameters`` (``k * prod(data_shape)`` values).
    :param net: ``"mlp"`` (default, 2x200 tanh as Burda et al. 2016) or ``"conv"``.
    """

    def __init__(self, data_shape, *, latent_dim=16, likelihood="bernoulli", encoder=None, decoder=None,
                 net="mlp", hidden=(200, 200), width=32, scale=0.1):
        super().__init__(data_shape, latent_dim)
        if not (isinstance(latent_dim, int) and latent_dim > 0):
            raise PyprogenError(f"latent_dim: expected a positive integer, got {latent_dim!r}")
        extra = {"scale": scale} if likelihood == "gaussian" else {}
        self.likelihood = build_likelihood(likelihood, self.data_shape, **extra)
        out = self.likelihood.params_per_value * math.prod(self.data_shape)
        if encoder is None or decoder is None:
            enc, dec = default_nets(self.data_shape, latent_dim, out, net, tuple(hidden), width)
            encoder, decoder = encoder or enc, decoder or dec
        self.encoder = as_pyro_module(encoder)
        self.decoder = as_pyro_module(decoder)

    def prior(self, n):
        zeros = torch.zeros(n, self.latent_dim, device=self.device)
        return dist.Normal(zeros, 1.0).to_event(1)

    def model(self, x=None, n=None):
        n = self.batch_size(x, n)
        obs = None if x is None else self.likelihood.observation(x)
        with pyro.plate("data", n):
            z = pyro.sample("z", self.prior(n))
            return pyro.sample("x", self.likelihood.distribution(self.decoder(z)), obs=obs)

    def guide(self, x=None, n=None):
        """q(z|x); with no data the guide is the prior (nothing to amortise)."""
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            if x is None:
                return pyro.sample("z", self.prior(n))
            loc, scale = self.encoder(x)
            return pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def default_loss(self):
        """The mean-field ELBO (analytic KL) compiled once with the fixed JIT loss; see benchmarks/fit_overhead.py."""
        from ..infer import JitTraceMeanField_ELBO  # estimators are defined in infer/, chosen here

        return JitTraceMeanField_ELBO(ignore_jit_warnings=True)

    # -- conveniences -------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x):
        """Posterior means ``E_q[z|x]``, shape ``(n, latent_dim)``."""
        return self.encoder(x)[0]

    @torch.no_grad()
    def decode(self, z):
        """Likelihood mean of ``x`` given ``z`` (for reconstructions and traversals)."""
        return self.likelihood.mean(self.decoder(z))


@register_model("vae")
def _build_vae(data_shape, **kw):
    return VAE(data_shape, **kw)
