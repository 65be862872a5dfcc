"""PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural Networks")
as a Pyro model with an exact likelihood:

    log p(x) = sum_i sum_c log p(x_{i,c} | x_{<i}, x_{i,<c})        (eq. 1-2)

where a masked network gives all the conditionals in one pass. Site ``"x"`` in ``plate("data")``
observes the image with this log-probability; there are no latents (``latent_dim = 0``) and the
guide is empty, so ``Trace_ELBO``'s loss is exactly -log p(x). With ``x=None`` the site draws
images autoregressively (``pyro.infer.Predictive`` works). Outputs per pixel: Bernoulli logits
(binarised data) or a 256-way softmax over the levels round(255 x) (``likelihoods``).

``gated=True`` uses gated vertical/horizontal stacks (van den Oord et al. 2016, "Conditional
Image Generation with PixelCNN Decoders"), which remove the blind spot of masked stacks.
"""
import math

import pyro
import torch
from pyro.distributions import TorchDistribution
from pyro.infer import Trace_ELBO

from ..errors import expect
from ..nn import GatedPixelCNNNet, PixelCNNNet
from .base import GenerativeModel
from .fast_sampling import autoregressive_sample
from .likelihoods import build_likelihood
from .registry import register_model
from .vae import as_pyro_module


class AutoregressiveDistribution(TorchDistribution):
    """p(x) of an autoregressive model over ``n`` images: batch ``(n,)``, event ``data_shape``.

    ``log_prob`` is the exact log-likelihood (one network pass); ``sample`` runs the model's sampler.
    Values live in the likelihood's observation space (0/1 or levels 0..255). ``observed``: the value
    the site observes; its network pass is done at construction and reused when it is scored.
    """

    arg_constraints = {}

    def __init__(self, model, n, observed=None, validate_args=None):
        self.model = model
        # With an observation, the network's conditionals at it are computed here, inside the model's
        # execution, so Pyro records the network parameters in the model trace (and trains them).
        self._observed = None if observed is None else (observed, self._params(observed))
        super().__init__(torch.Size([n]), torch.Size(model.data_shape), validate_args=validate_args)

    def _params(self, value):
        """The net's likelihood parameters at ``value``, in the model's dtype whatever precision the net ran in
        (under ``torch.autocast`` the convolutions give bf16; the likelihood is always scored in the model's dtype)."""
        m = self.model
        return m.net(m.likelihood.to_data(value.reshape(-1, *m.data_shape)).to(m.dtype)).to(m.dtype)

    @property
    def support(self):
        lik = self.model.likelihood
        zeros = torch.zeros(1, lik.params_per_value * math.prod(self.model.data_shape))
        return lik.distribution(zeros).support

    def log_prob(self, value):
        m = self.model
        flat = value.reshape(-1, *m.data_shape)
        params = self._observed[1] if self._observed is not None and value is self._observed[0] else self._params(value)
        log_p = m.likelihood.distribution(params).log_prob(flat)
        return log_p.reshape(value.shape[:-len(m.data_shape)])

    def sample(self, sample_shape=torch.Size()):
        m = self.model
        total = math.prod(sample_shape) * self.batch_shape[0]
        values = m.draw(total)
        return values.reshape(*sample_shape, *self.batch_shape, *m.data_shape)


class AutoregressiveModel(GenerativeModel):
    """Shared Pyro model/guide/sample of PixelCNN and PixelRNN around a causal ``net``.

    ``net`` maps images ``(n, C, H, W)`` in [0, 1] to ``(n, k * C, H, W)`` likelihood parameters and
    has the cached-evaluation methods ``begin``/``step``/``end_row`` (see ``fast_sampling``).
    """

    def __init__(self, data_shape, net_class, *, likelihood="bernoulli", sampler="cached", **net_kwargs):
        super().__init__(data_shape, 0)
        expect(len(self.data_shape) == 3 and min(self.data_shape) > 0, "data_shape", "(C, H, W)", data_shape)
        expect(sampler in ("cached", "naive"), "sampler", "'cached' or 'naive'", sampler)
        expect(likelihood in ("bernoulli", "categorical"), "likelihood", "'bernoulli' or 'categorical'", likelihood)
        self.likelihood = build_likelihood(likelihood, self.data_shape)
        channels = self.data_shape[0]
        self.net = as_pyro_module(net_class(channels, self.likelihood.params_per_value * channels, **net_kwargs))
        self.sampler = sampler

    @property
    def dtype(self):
        for p in self.parameters():
            return p.dtype
        return torch.get_default_dtype()

    def model(self, x=None, n=None):
        n = self.batch_size(x, n)
        obs = None
        if x is not None:
            self.likelihood.check(x, "x")
            obs = self.likelihood.observation(x)
        with pyro.plate("data", n):
            return pyro.sample("x", AutoregressiveDistribution(self, n, observed=obs), obs=obs)

    def guide(self, x=None, n=None):
        """Empty: the model has no latent variables, so the ELBO is the exact log-likelihood."""
        return None

    def default_loss(self):
        return Trace_ELBO()

    @torch.no_grad()
    def draw(self, n, method=None):
        """``n`` images in observation space (0/1 floats or integer levels)."""
        values = autoregressive_sample(self.net, self.likelihood, n, self.data_shape, method=method or self.sampler,
                                       like=torch.zeros((), dtype=self.dtype, device=self.device))
        return values.to(self.dtype) if self.likelihood.name == "bernoulli" else values

    @torch.no_grad()
    def sample(self, n, *, mean=False, method=None):
        """``n`` images in data space; ``mean=True`` returns each pixel's conditional mean given the
        sampled pixels before it (E[x_i | x_<i]), a smoother picture of the same draw."""
        x = self.likelihood.to_data(self.draw(n, method)).to(self.dtype)
        if mean:
            return self.likelihood.mean(self.net(x))
        return x

    def log_prob(self, x):
        """Exact log p(x) in nats per image, shape ``(N,)``; ``x`` in data space."""
        self.likelihood.check(x, "x")
        return AutoregressiveDistribution(self, x.shape[0]).log_prob(self.likelihood.observation(x))


class PixelCNN(AutoregressiveModel):
    """PixelCNN.

    :param data_shape: ``(C, H, W)``; multi-channel images use channel-group masks.
    :param likelihood: ``"bernoulli"`` (0/1 data) or ``"categorical"`` (256 levels).
    :param channels: width of the residual stream (64).
    :param depth: number of residual (or gated) blocks (5).
    :param kernel_size: mask-B kernel of the blocks (3); ``first_kernel`` the mask-A kernel (7).
    :param gated: gated vertical/horizontal stacks instead of mask A/B residual blocks (one channel only).
    :param sampler: default sampler, ``"cached"`` or ``"naive"``.
    """

    def __init__(self, data_shape, *, likelihood="bernoulli", channels=64, depth=5, kernel_size=3, first_kernel=7,
                 gated=False, sampler="cached"):
        net = GatedPixelCNNNet if gated else PixelCNNNet
        super().__init__(data_shape, net, likelihood=likelihood, sampler=sampler, channels=channels, depth=depth,
                         kernel_size=kernel_size, first_kernel=first_kernel)


@register_model("pixelcnn", help='PixelCNN (van den Oord et al. 2016): masked convolutions, exact likelihood.')
def _build_pixelcnn(data_shape, **kw):
    return PixelCNN(data_shape, **kw)
