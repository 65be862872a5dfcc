"""InfoELBO (InfoVAE / MMD-VAE): recon + (1 − α)·KL + (α + λ − 1)·B·MMD²; the limits α = 0, λ = 1
(mean-field ELBO) and α = 1 (WAE-MMD loss with weight λ); registry; bad weights."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import TraceMeanField_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.infer import MMDELBO, estimator, mmd2_unbiased
from pyprogen.infer.info_vae import InfoELBO
from pyprogen.models import build


def data(n=8, d=20):
    g = torch.Generator().manual_seed(1)
    return torch.bernoulli(torch.sigmoid(3 * torch.randn(d, generator=g)).expand(n, d), generator=g)


def vae():
    torch.manual_seed(0)
    return build("info-vae", (20,), latent_dim=3, hidden=(16,))


def test_alpha_zero_lambda_one_is_the_meanfield_elbo():
    m, x = vae(), data()
    pyro.set_rng_seed(4)
    got = InfoELBO(0.0, 1.0).loss(m.model, m.guide, x)
    pyro.set_rng_seed(4)
    assert got == pytest.approx(TraceMeanField_ELBO().loss(m.model, m.guide, x), rel=1e-6)


def test_alpha_one_is_the_wae_mmd_loss():
    m, x = vae(), data()
    pyro.set_rng_seed(5)
    got = InfoELBO(1.0, 7.0).loss(m.model, m.guide, x)
    pyro.set_rng_seed(5)
    assert got == pytest.approx(MMDELBO(7.0).loss(m.model, m.guide, x), rel=1e-6)


@pytest.mark.parametrize("alpha,lam", [(0.0, 10.0), (0.5, 3.0), (-1.0, 2.5)])
def test_loss_is_recon_plus_weighted_kl_plus_weighted_batch_mmd(alpha, lam):
    m, x = vae(), data()
    pyro.set_rng_seed(6)
    got = InfoELBO(alpha, lam).loss(m.model, m.guide, x)
    pyro.set_rng_seed(6)
    gt = poutine.trace(m.guide).get_trace(x)
    mt = poutine.trace(poutine.replay(m.model, trace=gt)).get_trace(x)
    z_p = dist.Normal(torch.zeros(8, 3), 1.0).sample()  # drawn after both traces, as the estimator does
    q, p = gt.nodes["z"]["fn"], mt.nodes["z"]["fn"]
    recon = -mt.nodes["x"]["fn"].log_prob(x).sum()
    kl = torch.distributions.kl_divergence(q, p).sum()
    expected = recon + (1 - alpha) * kl + (alpha + lam - 1) * 8 * mmd2_unbiased(gt.nodes["z"]["value"], z_p)
    assert got == pytest.approx(expected.item(), rel=1e-5)


def test_registry_and_model_defaults():
    m = build("info-vae", (20,), latent_dim=2, hidden=(8,), alpha=1.0, lam=100.0, kernel="rbf")
    loss = m.default_loss()
    assert (loss.kl_weight, loss.mmd_weight, loss.kernel) == (0.0, 100.0, "rbf")
    assert estimator("info", m).mmd_weight == 100.0
    assert estimator("info", m, alpha=0.0, lam=1.0).mmd_weight == 0.0


def test_bad_weights_raise():
    with pytest.raises(PyprogenError, match="alpha"):
        InfoELBO(1.5, 10.0)
    with pytest.raises(PyprogenError, match="lam"):
        InfoELBO(0.0, 0.5)
    with pytest.raises(PyprogenError, match="alpha"):
        build("info-vae", (20,), latent_dim=2, alpha="one")
    with pytest.raises(PyprogenError, match="kernel"):
        InfoELBO(0.0, 2.0, kernel="laplace")
