"""Priors p(z) for the VAE family, as Pyro distributions (so Trace_ELBO, IWAE and sampling work unchanged).

- ``"normal"``: p(z) = N(0, I) (Kingma & Welling 2014).
- ``"vamp"``: the VampPrior (Tomczak & Welling 2018, eq. 9), the aggregate posterior of K learnable
  pseudo-inputs u_k:  p(z) = 1/K Σ_k q(z | u_k),  q(z|u) the encoder's diagonal Gaussian. The
  pseudo-inputs live in data space; for data in [0, 1] they pass through a hard tanh clipped to
  [0, 1] and start at N(0.05, 0.01²), as in the authors' MNIST code. With a flow guide the components
  are the encoder's base Gaussians q_0(z|u_k) (a planar or radial step has no closed-form inverse, so
  the flow's density at a point that is not its own sample is not available).
- ``"mog"``: a learnable mixture of K diagonal Gaussians, p(z) = Σ_k π_k N(z; μ_k, diag σ_k²)
  (the "MoG prior" Tomczak & Welling compare with, sec. 3.2), π = softmax(logits).

Both mixtures are :class:`DiagonalGaussianMixture`, a ``pyro.distributions.MixtureSameFamily`` whose
``log_prob`` expands the Gaussian quadratic form into matrix products instead of broadcasting
(particles × points × K × D): the same number, without the memory of a (P, N, K, D) tensor.
"""
import math

import pyro.distributions as dist
import torch
from pyro.nn import PyroModule
from torch import nn

from ..errors import PyprogenError
from ..registry import Registry

PRIORS = Registry("prior")


class DiagonalGaussianMixture(dist.MixtureSameFamily):
    """Σ_k π_k N(z; loc_k, diag scale_k²) with batch shape ``batch_shape`` and event shape (D,).

    :param logits: (K,) mixing logits; :param loc, scale: (K, D) component parameters (shared over the batch).
    """

    def __init__(self, logits, loc, scale, batch_shape=torch.Size(), validate_args=None):
        self._logits, self._loc, self._scale = logits, loc, scale
        batch_shape = torch.Size(batch_shape)
        k, d = loc.shape
        mixing = dist.Categorical(logits=logits.expand(*batch_shape, k))
        components = dist.Normal(loc.expand(*batch_shape, k, d), scale.expand(*batch_shape, k, d)).to_event(1)
        super().__init__(mixing, components, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return DiagonalGaussianMixture(self._logits, self._loc, self._scale, batch_shape)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        precision = self._scale.pow(-2)  # (K, D)
        quad = (value.pow(2) @ precision.T - 2 * value @ (self._loc * precision).T
                + (self._loc.pow(2) * precision).sum(-1))  # (..., K) = Σ_d (z_d − μ_kd)² / σ_kd²
        log_norm = -self._scale.log().sum(-1) - 0.5 * self._loc.shape[-1] * math.log(2 * math.pi)
        log_mix = torch.log_softmax(self._logits, -1)
        out = torch.logsumexp(log_mix + log_norm - 0.5 * quad, -1)
        return out.expand(torch.broadcast_shapes(out.shape, self.batch_shape))


class StandardNormalPrior(PyroModule):
    """p(z) = N(0, I)."""

    def __init__(self, latent_dim, data_shape=None, components=None, bounded=True):
        super().__init__()
        self.latent_dim = latent_dim

    def forward(self, n, encoder=None, device=None):
        return dist.Normal(torch.zeros(n, self.latent_dim, device=device), 1.0).to_event(1)


class VampPrior(PyroModule):
    """p(z) = 1/K Σ_k q(z|u_k) with learnable pseudo-inputs u_k (Tomczak & Welling 2018, eq. 9)."""

    def __init__(self, latent_dim, data_shape, components=500, bounded=True):
        super().__init__()
        self.latent_dim, self.data_shape, self.bounded = latent_dim, tuple(data_shape), bounded
        self.pseudo_inputs = nn.Parameter(0.05 + 0.01 * torch.randn(components, *self.data_shape))

    def inputs(self):
        """The pseudo-inputs in data space, (K, *data_shape)."""
        return nn.functional.hardtanh(self.pseudo_inputs, 0.0, 1.0) if self.bounded else self.pseudo_inputs

    def forward(self, n, encoder, device=None):
        out = encoder(self.inputs())
        loc, scale = out[0], out[1]
        logits = torch.zeros(loc.shape[0], dtype=loc.dtype, device=loc.device)
        return DiagonalGaussianMixture(logits, loc, scale, (n,))


class MixturePrior(PyroModule):
    """p(z) = Σ_k π_k N(μ_k, diag σ_k²), all learnable; μ_k start at N(0, I) draws, σ_k at 1, π uniform."""

    def __init__(self, latent_dim, data_shape=None, components=10, bounded=True):
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(components))
        self.loc = nn.Parameter(torch.randn(components, latent_dim))
        self.raw_scale = nn.Parameter(torch.full((components, latent_dim), math.log(math.e - 1)))  # softplus → 1

    def forward(self, n, encoder=None, device=None):
        scale = nn.functional.softplus(self.raw_scale) + 1e-4
        return DiagonalGaussianMixture(self.logits, self.loc, scale, (n,))


#: default number of components per prior (Tomczak & Welling 2018 use K = 500 pseudo-inputs on MNIST)
DEFAULT_COMPONENTS = {"normal": None, "vamp": 500, "mog": 10}
for _name, _cls in (("normal", StandardNormalPrior), ("vamp", VampPrior), ("mog", MixturePrior)):
    PRIORS.register(_name)(_cls)


def build_prior(name, latent_dim, data_shape, *, components=None, bounded=True):
    """The prior module registered as ``name``; calling it as ``prior(n, encoder)`` gives p(z) for n points.

    :param bounded: pseudo-inputs of the VampPrior clipped to [0, 1] (data in [0, 1]).
    """
    cls = PRIORS.lookup(name)
    if components is None:
        components = DEFAULT_COMPONENTS.get(name) or 1
    if isinstance(components, bool) or not isinstance(components, int) or components < 1:
        raise PyprogenError(f"prior_components: expected a positive integer, got {components!r}")
    return cls(latent_dim, data_shape, components, bounded)
