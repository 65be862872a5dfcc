"""Free bits: the KL of each latent dimension (minibatch mean) floored at λ, checked against a hand
computation on a fixed seed; λ = 0 is the mean-field ELBO."""
import pyro
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from pyprogen.errors import PyprogenError
from pyprogen.infer import BetaELBO, MMDELBO
from pyprogen.infer.free_bits import FreeBitsELBO, with_free_bits
from pyprogen.models import build


@pytest.fixture
def vae():
    torch.manual_seed(0)
    return build("vae", (6,), latent_dim=3, likelihood="bernoulli", hidden=(8,))


def _hand(vae, x, lam, beta=1.0):
    """−[log p(x|z) − N β Σ_j max(λ, mean_n KL_nj)] with z drawn as the guide draws it."""
    loc, scale = vae.encoder(x)
    z = loc + scale * torch.randn_like(loc)
    log_px = vae.likelihood.distribution(vae.decoder(z)).log_prob(vae.likelihood.observation(x)).sum()
    kl = kl_divergence(Normal(loc, scale), Normal(0.0, 1.0)).mean(0).clamp_min(lam).sum() * len(x)
    return -(log_px - beta * kl)


@pytest.mark.parametrize("lam,beta", [(0.0, 1.0), (0.5, 1.0), (3.0, 2.0)])
def test_matches_hand_computation(vae, lam, beta):
    x = (torch.rand(10, 6, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    pyro.set_rng_seed(3)
    got = FreeBitsELBO(lam, beta).differentiable_loss(vae.model, vae.guide, x)
    pyro.set_rng_seed(3)
    assert float(got.detach()) == pytest.approx(float(_hand(vae, x, lam, beta).detach()), rel=1e-5)


def test_zero_floor_is_the_meanfield_elbo_and_loss_is_plain(vae):
    x = (torch.rand(10, 6, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    pyro.set_rng_seed(4)
    got = FreeBitsELBO(0.0).differentiable_loss(vae.model, vae.guide, x)
    pyro.set_rng_seed(4)
    want = pyro.infer.TraceMeanField_ELBO().differentiable_loss(vae.model, vae.guide, x)
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-5)
    pyro.set_rng_seed(5)
    plain = pyro.infer.TraceMeanField_ELBO().loss(vae.model, vae.guide, x)
    pyro.set_rng_seed(5)
    assert FreeBitsELBO(10.0).loss(vae.model, vae.guide, x) == pytest.approx(plain)


def test_floor_stops_the_kl_gradient_of_dimensions_below_it(vae):
    """Every dimension below λ: the gradient is the reconstruction term's alone."""
    x = (torch.rand(10, 6, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    pyro.set_rng_seed(6)
    FreeBitsELBO(100.0).differentiable_loss(vae.model, vae.guide, x).backward()
    got = [p.grad.clone() for p in vae.parameters()]
    vae.zero_grad()
    pyro.set_rng_seed(6)
    loc, scale = vae.encoder(x)
    z = loc + scale * torch.randn_like(loc)
    (-vae.likelihood.distribution(vae.decoder(z)).log_prob(x).sum()).backward()
    for a, p in zip(got, vae.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)


def test_with_free_bits_keeps_beta_and_refuses_other_estimators():
    assert with_free_bits(BetaELBO(4.0), 0.1).beta == 4.0
    assert with_free_bits(pyro.infer.Trace_ELBO(), 0.1).lam == 0.1
    with pytest.raises(PyprogenError, match="free_bits"):
        with_free_bits(MMDELBO(10.0), 0.1)
    with pytest.raises(PyprogenError, match="free_bits"):
        with_free_bits(pyro.infer.Trace_ELBO(), -1)
