"""Variational autoencoder (Kingma & Welling 2014) as a Pyro model/guide pair.

    p(z) = N(0, I),  p(x|z) = likelihood(decoder(z)),  q(z|x) = N(mu(x), diag sigma(x)^2)

trained by maximising the ELBO  E_q[log p(x|z)] - KL(q(z|x) || p(z)) with the
reparameterisation trick. Sites: latent ``"z"`` and observed ``"x"`` in ``plate("data")``.

Every VAE-family model (β-VAE, β-TCVAE, WAE inherit it) takes ``guide=`` — a normalising flow on
top of the encoder's Gaussian: ``"iaf"`` (Kingma et al. 2016), ``"planar"``/``"radial"`` (Rezende &
Mohamed 2015), see :mod:`.guides` — and ``prior=`` — ``"vamp"`` (Tomczak & Welling 2018) or
``"mog"``, see :mod:`.priors`.
"""
import math

import pyro
import torch
from pyro.nn.module import to_pyro_module_

from ..errors import PyprogenError
from ..nn import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from .base import GenerativeModel
from .guides import GUIDES, EncoderContext, build_guide, check_flow_length, encoder_outputs
from .likelihoods import GaussianLikelihood, build_likelihood
from .priors import PRIORS, build_prior
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
    :param guide: ``"diagonal"`` (default) | ``"iaf"`` | ``"planar"`` | ``"radial"``: q(z|x) is the encoder's
        Gaussian followed by ``flow_length`` flow steps conditioned on the encoder's last hidden layer.
    :param flow_length: T, the number of flow steps (ignored by ``"diagonal"``).
    :param flow_hidden: hidden widths of each step's network (default ``(max(128, 2K),)``).
    :param prior: ``"normal"`` (default) | ``"vamp"`` | ``"mog"``.
    :param prior_components: K of the mixture priors (default 500 pseudo-inputs for ``vamp``, 10 for ``mog``).

    The default loss is the JIT-compiled mean-field ELBO for every guide and prior: KL(q || p) in closed form
    where Pyro has it (diagonal guide, normal prior), else its one-sample Monte-Carlo estimate
    log q(z|x) − log p(z) (flows, mixture priors) — Trace_ELBO's estimator, correct here because q has one
    latent site. Measured at batch 128, latent 16, one thread (CPU time per step): IAF guide 7.0 ms against
    10.4 ms for ``Trace_ELBO`` and 47 ms for Pyro's ``JitTrace_ELBO``; mean gradients over 300 draws agree
    with ``Trace_ELBO``'s (mean squared z-score 0.90–1.01 for iaf, planar, radial and the VampPrior).
    """

    def __init__(self, data_shape, *, latent_dim=16, likelihood="bernoulli", encoder=None, decoder=None,
                 net="mlp", hidden=(200, 200), width=32, scale=0.1, guide="diagonal", flow_length=2,
                 flow_hidden=None, prior="normal", prior_components=None):
        super().__init__(data_shape, latent_dim)
        if not (isinstance(latent_dim, int) and latent_dim > 0):
            raise PyprogenError(f"latent_dim: expected a positive integer, got {latent_dim!r}")
        check_flow_length(flow_length)
        GUIDES.lookup(guide), PRIORS.lookup(prior)  # bad names fail before any network is built
        extra = {"scale": scale} if likelihood == "gaussian" else {}
        self.likelihood = build_likelihood(likelihood, self.data_shape, **extra)
        out = self.likelihood.params_per_value * math.prod(self.data_shape)
        if encoder is None or decoder is None:
            enc, dec = default_nets(self.data_shape, latent_dim, out, net, tuple(hidden), width)
            encoder, decoder = encoder or enc, decoder or dec
        self.encoder = as_pyro_module(encoder)
        self.decoder = as_pyro_module(decoder)
        self.guide_name, self.prior_name, self.flow_length = guide, prior, flow_length
        self._context = EncoderContext(self.encoder)
        context_dim = 0
        if guide != "diagonal":
            with torch.no_grad():
                context_dim = encoder_outputs(self.encoder, self._context, torch.zeros(1, *self.data_shape))[2].shape[-1]
            self._context.value = None
        self.flow = build_guide(guide, latent_dim, context_dim, flow_length=flow_length, hidden=flow_hidden)
        bounded = not isinstance(self.likelihood, GaussianLikelihood)  # pseudo-inputs in [0, 1] for such data
        self.latent_prior = build_prior(prior, latent_dim, self.data_shape, components=prior_components,
                                        bounded=bounded)

    def prior(self, n):
        """p(z) for ``n`` points (batch shape (n,), event shape (latent_dim,))."""
        return self.latent_prior(n, self.encoder, device=self.device)

    def posterior(self, x):
        """q(z|x): batch shape (len(x),), event shape (latent_dim,)."""
        return self.posterior_from(*self.posterior_parameters(x))

    def posterior_parameters(self, x):
        """``(loc, scale, context)``: what the encoder outputs for ``x``, i.e. the per-point parameters that index
        the guide's family ({q(z; loc, scale, h)}: a diagonal Gaussian, pushed through the flow conditioned on
        h; ``context`` is None for the diagonal guide). The diagnostics fit them per point (Cremer et al. 2018)."""
        return encoder_outputs(self.encoder, self._context, x)

    def posterior_from(self, loc, scale, context=None):
        """The member of the guide's family with these parameters (the flow's own weights are shared)."""
        return self.flow(loc, scale, context)

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
            return pyro.sample("z", self.posterior(x))

    def default_loss(self):
        """The mean-field ELBO compiled once with the fixed JIT loss (see benchmarks/fit_overhead.py): analytic
        KL for the diagonal guide and normal prior, a Monte-Carlo KL for flows and mixture priors."""
        from ..infer import JitTraceMeanField_ELBO  # estimators are defined in infer/, chosen here

        return JitTraceMeanField_ELBO(ignore_jit_warnings=True)

    # -- conveniences -------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x, num_samples=32):
        """Posterior means ``E_q[z|x]``, shape ``(n, latent_dim)``: the encoder's mean for the diagonal
        guide; for a flow, the mean of ``num_samples`` draws (seeded, so the same x gives the same codes)."""
        loc, scale, h = encoder_outputs(self.encoder, self._context, x)
        if not self.flow.needs_context:
            return loc
        with torch.random.fork_rng(devices=[loc.device] if loc.device.type == "cuda" else []):
            torch.manual_seed(0)
            return self.flow(loc, scale, h).rsample((num_samples,)).mean(0)

    @torch.no_grad()
    def decode(self, z):
        """Likelihood mean of ``x`` given ``z`` (for reconstructions and traversals)."""
        return self.likelihood.mean(self.decoder(z))


@register_model("vae", help='VAE (Kingma & Welling 2014): amortised Gaussian guide; guide= and prior= options.')
def _build_vae(data_shape, **kw):
    return VAE(data_shape, **kw)
