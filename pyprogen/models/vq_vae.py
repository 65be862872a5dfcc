"""VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning") in Pyro,
with the autoregressive prior over the discrete codes trained second (sec. 3.1–3.2).

The encoder maps x to a grid z_e(x) of D-dimensional vectors (two stride-2 convolutions: 28x28 -> 7x7);
each is replaced by its nearest codebook vector e_k, k = argmin_j ‖z_e − e_j‖ (eq. 1–2), and the decoder
gives p(x | z_q). Training minimises (eq. 3)

    −log p(x | z_q(x))  +  ‖sg[z_e(x)] − e‖²  +  β ‖z_e(x) − sg[e]‖²

with the *straight-through* estimator: the decoder's input is z_e + sg[z_q − z_e], whose value is z_q and
whose gradient is copied to z_e. In Pyro: site ``"z"`` (the quantised grid, event shape (D, h, w)) in
``plate("data")``; the guide is a point mass ``Delta(z_e + sg[z_q − z_e])`` and, in training mode
(``model.train()``), adds the codebook and commitment terms as ``pyro.factor`` (a guide factor enters the
loss with a plus sign). The model's prior over the grid, :class:`CodePrior`, is uniform over the K^(h·w)
code grids during the first stage (its log-probability h·w·log K is a constant, as in the paper) and an
autoregressive model over the code indices after :meth:`VQVAE.set_prior` (the second stage). Because the
guide is a point mass, Trace_ELBO's loss in eval mode is the bound

    −log p(x) <= −log p(x | z_q(x)) − log p(k(x)),

which is how the two-stage model's bits/dim are reported. The prior is a
:class:`~pyprogen.models.pixelcnn.PixelCNN` with the 256-way ``"categorical"`` likelihood over the code
grid (1, h, w), code k stored as the level k (data value k/255), so K <= 256; with K < 256 the levels
>= K keep whatever mass the PixelCNN leaves on them (the bound stays valid) and a sampled level >= K
is clipped to K − 1. The prior is trained and saved on its own (it is not a submodule: the VQ-VAE's
``state_dict`` holds the first stage only).
"""
import math

import pyro
import pyro.distributions as dist
import torch
from pyro.distributions import TorchDistribution, constraints
from torch import nn

from ..errors import PyprogenError, expect
from .base import GenerativeModel
from .likelihoods import build_likelihood
from .registry import register_model
from .vae import as_pyro_module


class CodePrior(TorchDistribution):
    """p(z) over quantised grids ``(n, D, h, w)``: uniform over the codes, or ``prior.log_prob`` of the indices."""

    arg_constraints = {}
    support = constraints.independent(constraints.real, 3)

    def __init__(self, vq, n, validate_args=None):
        self.vq = vq
        super().__init__(torch.Size([n]), torch.Size([vq.code_dim, *vq.grid]), validate_args=validate_args)

    def log_prob(self, value):
        batch = value.shape[:-3]
        idx = self.vq.nearest(value.reshape(-1, *value.shape[-3:]))
        if self.vq.prior is None:
            lp = torch.full(idx.shape[:1], -math.prod(self.vq.grid) * math.log(self.vq.num_codes),
                            dtype=value.dtype, device=value.device)
        else:
            lp = self.vq.prior.log_prob(idx[:, None].to(value.dtype) / 255.0)
        return lp.reshape(batch)

    def sample(self, sample_shape=torch.Size()):
        total = math.prod(sample_shape) * self.batch_shape[0]
        if self.vq.prior is None:
            idx = torch.randint(self.vq.num_codes, (total, *self.vq.grid), device=self.vq.device)
        else:
            idx = self.vq.prior.draw(total)[:, 0].long().clamp_max(self.vq.num_codes - 1)
        return self.vq.embed(idx).reshape(*sample_shape, *self.batch_shape, *self.event_shape)


class VQVAE(GenerativeModel):
    """VQ-VAE with a conv encoder/decoder for (C, H, W) images, H and W divisible by 4.

    :param num_codes: K, the codebook size (<= 256; 64).
    :param code_dim: D, the size of a code vector (16).
    :param beta: β, the commitment weight (0.25, as the paper).
    :param likelihood: ``"bernoulli"`` (0/1 data) or ``"gaussian"``.
    :param width: channels of the conv layers (32).
    """

    def __init__(self, data_shape, *, num_codes=64, code_dim=16, beta=0.25, likelihood="bernoulli", width=32):
        data_shape = tuple(int(d) for d in data_shape)
        expect(len(data_shape) == 3 and data_shape[1] % 4 == 0 and data_shape[2] % 4 == 0 and min(data_shape) > 0,
               "data_shape", "(C, H, W) with H and W divisible by 4", data_shape)
        for name, value, low, high in (("num_codes", num_codes, 2, 256), ("code_dim", code_dim, 1, None),
                                       ("width", width, 1, None)):
            expect(isinstance(value, int) and not isinstance(value, bool) and value >= low
                   and (high is None or value <= high), name,
                   f"an integer in [{low}, {high}]" if high else f"an integer >= {low}", repr(value))
        expect(isinstance(beta, (int, float)) and not isinstance(beta, bool) and math.isfinite(beta) and beta >= 0,
               "beta", "a finite number >= 0", repr(beta))
        grid = (data_shape[1] // 4, data_shape[2] // 4)
        super().__init__(data_shape, latent_dim=code_dim * math.prod(grid))
        self.num_codes, self.code_dim, self.beta, self.grid = num_codes, code_dim, float(beta), grid
        self.likelihood = build_likelihood(likelihood, self.data_shape)
        c, k = data_shape[0], self.likelihood.params_per_value
        self.encoder = as_pyro_module(nn.Sequential(
            nn.Conv2d(c, width, 4, 2, 1), nn.ReLU(), nn.Conv2d(width, 2 * width, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, 1, 1), nn.ReLU(), nn.Conv2d(2 * width, code_dim, 1)))
        self.decoder = as_pyro_module(nn.Sequential(
            nn.Conv2d(code_dim, 2 * width, 3, 1, 1), nn.ReLU(), nn.ConvTranspose2d(2 * width, width, 4, 2, 1),
            nn.ReLU(), nn.ConvTranspose2d(width, k * c, 4, 2, 1)))
        self.codebook = as_pyro_module(nn.Embedding(num_codes, code_dim))
        nn.init.uniform_(self.codebook.weight, -1.0 / num_codes, 1.0 / num_codes)
        self.prior = None

    # -- quantisation ---------------------------------------------------------------------
    def nearest(self, z):
        """Index of the nearest code for every position of ``z`` (n, D, h, w) -> (n, h, w) (eq. 2)."""
        flat = z.movedim(1, -1)
        e = self.codebook.weight
        d2 = (flat * flat).sum(-1, keepdim=True) - 2 * flat @ e.T + (e * e).sum(-1)
        return d2.argmin(-1)

    def embed(self, idx):
        """Code vectors of an index grid (n, h, w) -> (n, D, h, w)."""
        return self.codebook(idx).movedim(-1, 1)

    @torch.no_grad()
    def codes(self, x, batch_size=500):
        """The code index grid k(x) of each image, (N, h, w) long."""
        return torch.cat([self.nearest(self.encoder(x[i:i + batch_size])) for i in range(0, len(x), batch_size)])

    def set_prior(self, prior):
        """Second stage: an autoregressive model over code grids (1, h, w) with the categorical likelihood."""
        if prior is not None:
            expect(tuple(getattr(prior, "data_shape", ())) == (1, *self.grid), "prior",
                   f"a model of data_shape (1, {self.grid[0]}, {self.grid[1]})", getattr(prior, "data_shape", None))
            expect(getattr(getattr(prior, "likelihood", None), "name", None) == "categorical", "prior",
                   "an autoregressive model with the 'categorical' likelihood (one level per code)")
        object.__setattr__(self, "prior", prior)  # trained and saved on its own: not a submodule

    # -- the Pyro model and guide -----------------------------------------------------------
    def model(self, x=None, n=None):
        n = self.batch_size(x, n)
        obs = None
        if x is not None:
            self.likelihood.check(x, "x")
            obs = self.likelihood.observation(x)
        with pyro.plate("data", n):
            z = pyro.sample("z", CodePrior(self, n))
            return pyro.sample("x", self.likelihood.distribution(self.decoder(z)), obs=obs)

    def guide(self, x=None, n=None):
        """Point mass at the straight-through quantised grid; in training mode also the codebook and commitment terms."""
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            if x is None:
                return pyro.sample("z", CodePrior(self, n))
            z_e = self.encoder(x)
            z_q = self.embed(self.nearest(z_e.detach()))
            z = pyro.sample("z", dist.Delta(z_e + (z_q - z_e).detach(), event_dim=3))
            if self.training:
                codebook = ((z_e.detach() - z_q) ** 2).sum((1, 2, 3))
                commitment = ((z_e - z_q.detach()) ** 2).sum((1, 2, 3))
                pyro.factor("vq_loss", codebook + self.beta * commitment, has_rsample=True)
            return z

    def default_loss(self):
        from pyro.infer import Trace_ELBO

        return Trace_ELBO()

    @torch.no_grad()
    def reconstruct(self, x):
        """Likelihood mean of x given its quantised code, E[x | z_q(x)]."""
        return self.likelihood.mean(self.decoder(self.embed(self.nearest(self.encoder(x)))))

    @torch.no_grad()
    def log_prob_bound(self, x, batch_size=500):
        """``(log p(x | z_q(x)), log p(k(x)))`` per image, nats, shape (N,) each; their sum bounds log p(x)."""
        recon, prior = [], []
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            z = self.embed(self.nearest(self.encoder(xb)))
            recon.append(self.likelihood.distribution(self.decoder(z)).log_prob(self.likelihood.observation(xb)))
            prior.append(CodePrior(self, len(xb)).log_prob(z))
        return torch.cat(recon), torch.cat(prior)


@register_model("vq-vae", help='VQ-VAE (van den Oord et al. 2017) with a PixelCNN prior over the codes.')
def _build_vq_vae(data_shape, **kw):
    return VQVAE(data_shape, **kw)
