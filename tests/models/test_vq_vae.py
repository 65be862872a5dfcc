"""VQ-VAE: nearest-code quantisation, the straight-through gradient, the loss of eq. 3 plus the uniform
prior's constant, the eval-mode bound, training, the PixelCNN prior over codes as the second stage."""
import math

import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.models import PixelCNN, build
from pyprogen.models.vq_vae import VQVAE


def small(seed=0, **kw):
    torch.manual_seed(seed)
    return VQVAE((1, 8, 8), num_codes=8, code_dim=3, width=8, **kw)


def binary(n, seed=1):
    return (torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed)) < 0.4).float()


def test_nearest_code_is_the_argmin_distance():
    m = small()
    z = torch.randn(2, 3, 2, 2)
    idx = m.nearest(z)
    for n in range(2):
        for i in range(2):
            for j in range(2):
                d = ((m.codebook.weight - z[n, :, i, j]) ** 2).sum(-1)
                assert idx[n, i, j] == d.argmin()
    assert torch.equal(m.nearest(m.embed(idx)), idx)


def test_training_loss_is_reconstruction_plus_constant_plus_codebook_and_commitment():
    m, x = small(beta=0.3), binary(4)
    m.train()
    loss = Trace_ELBO().loss(m.model, m.guide, x)
    with torch.no_grad():
        z_e = m.encoder(x)
        z_q = m.embed(m.nearest(z_e))
        recon = -m.likelihood.distribution(m.decoder(z_q)).log_prob(x).sum()
        vq = ((z_e - z_q) ** 2).sum()
    expected = recon + 4 * (2 * 2) * math.log(8) + vq + 0.3 * vq  # 4 points x a 2x2 grid; codebook = commitment in value
    assert loss == pytest.approx(float(expected), rel=1e-5)


def test_straight_through_gradient_reaches_the_encoder():
    """d(reconstruction)/d z_e equals d(reconstruction)/d z_q: the decoder's gradient is copied to the encoder."""
    m, x = small(), binary(3)
    m.eval()
    z_q = m.embed(m.nearest(m.encoder(x))).detach().requires_grad_(True)
    g_q, = torch.autograd.grad(m.likelihood.distribution(m.decoder(z_q)).log_prob(x).sum(), z_q)
    captured = []
    hook = m.encoder.register_forward_hook(lambda module, args, out: captured.append(out))
    trace = poutine.trace(m.guide).get_trace(x)
    hook.remove()
    z = trace.nodes["z"]["value"]
    assert torch.equal(z, z_q.detach())
    g_e, = torch.autograd.grad(m.likelihood.distribution(m.decoder(z)).log_prob(x).sum(), captured[0])
    assert torch.allclose(g_e, g_q)
    assert "vq_loss" not in trace.nodes  # eval mode: the guide is the plain point mass


def test_eval_loss_is_the_two_stage_bound():
    m, x = small(), binary(5)
    m.eval()
    recon, prior = m.log_prob_bound(x)
    assert torch.allclose(prior, torch.full((5,), -(2 * 2) * math.log(8)))
    assert Trace_ELBO().loss(m.model, m.guide, x) == pytest.approx(-float((recon + prior).sum()), rel=1e-5)


def test_training_and_second_stage_pixelcnn_prior_tighten_the_bound():
    """Stage 1 lowers the reconstruction error; a PixelCNN fitted to the codes beats the uniform prior."""
    torch.manual_seed(2)
    pyro.clear_param_store()
    stripes = (torch.arange(8) % 2).float().expand(8, 8)
    x = torch.stack([stripes if k % 2 else stripes.T for k in range(32)])[:, None]
    m = small(seed=3)
    recon0 = -float(m.log_prob_bound(x)[0].mean())
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    m.train()
    for _ in range(100):
        opt.zero_grad()
        Trace_ELBO().differentiable_loss(m.model, m.guide, x).backward()
        opt.step()
    m.eval()
    recon1, uniform = (-t.mean().item() for t in m.log_prob_bound(x))
    assert recon1 < 0.3 * recon0
    codes = m.codes(x)
    prior = PixelCNN((1, 2, 2), likelihood="categorical", channels=16, depth=1)
    opt = torch.optim.Adam(prior.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        (-prior.log_prob(codes[:, None].float() / 255).mean()).backward()
        opt.step()
    m.set_prior(prior)
    assert -m.log_prob_bound(x)[1].mean().item() < 0.5 * uniform
    samples = m.sample(3)
    assert samples.shape == (3, 1, 8, 8) and set(samples.unique().tolist()) <= {0.0, 1.0}


def test_registry_sampling_and_bad_input():
    m = build("vq-vae", (1, 28, 28), num_codes=16, code_dim=4, width=8)
    assert m.grid == (7, 7) and m.sample(2).shape == (2, 1, 28, 28)
    with pytest.raises(PyprogenError, match="data_shape"):
        VQVAE((1, 10, 10))
    with pytest.raises(PyprogenError, match="num_codes"):
        VQVAE((1, 8, 8), num_codes=300)
    with pytest.raises(PyprogenError, match="beta"):
        VQVAE((1, 8, 8), beta=-1)
    with pytest.raises(PyprogenError, match="prior"):
        m.set_prior(PixelCNN((1, 7, 7), likelihood="bernoulli", channels=8, depth=1))
