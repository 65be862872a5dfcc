"""MMDELBO (WAE-MMD): loss = −Σ log p(x|z) + λ·B·MMD²_u(q-codes, prior draws); trains the VAE in SVI."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI
from pyro.optim import Adam

from pyprogen.errors import PyprogenError
from pyprogen.infer import MMDELBO, mmd2_unbiased
from pyprogen.models import VAE


def structured_binary(n=64, d=20):
    probs = torch.sigmoid(3 * torch.randn(d))
    return torch.bernoulli(probs.expand(n, d))


@pytest.mark.parametrize("lam,kernel", [(0.0, "imq"), (10.0, "imq"), (3.0, "rbf")])
def test_loss_is_reconstruction_plus_lambda_batch_mmd(lam, kernel):
    vae = VAE((20,), latent_dim=3, hidden=(16,))
    x = structured_binary(8)
    pyro.set_rng_seed(6)
    loss = MMDELBO(lam, kernel=kernel).loss(vae.model, vae.guide, x)
    pyro.set_rng_seed(6)
    gt = poutine.trace(vae.guide).get_trace(x)
    mt = poutine.trace(poutine.replay(vae.model, trace=gt)).get_trace(x)
    z_q = gt.nodes["z"]["value"]
    z_p = dist.Normal(torch.zeros(8, 3), 1.0).sample()  # drawn after both traces, as the estimator does
    recon = -mt.nodes["x"]["fn"].log_prob(x).sum()
    expected = recon + lam * 8 * mmd2_unbiased(z_q, z_p, kernel)
    assert loss == pytest.approx(expected.item(), rel=1e-5)


def test_mmd_gradient_pulls_codes_towards_the_prior():
    """With λ large, training the encoder alone moves a shifted aggregate posterior onto N(0, I)."""
    def model(x):
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(torch.zeros(len(x), 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z.sum(-1), 10.0), obs=x)

    def guide(x):
        shift = pyro.param("shift", torch.tensor([3.0, -3.0]))
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(shift + 0 * x[:, None], 1.0).to_event(1))

    svi = SVI(model, guide, Adam({"lr": 0.1}), loss=MMDELBO(100.0))
    x = torch.zeros(64)
    for _ in range(80):
        svi.step(x)
    assert pyro.param("shift").detach().abs().max().item() < 0.5


def test_batch_of_one_and_unknown_kernel_raise():
    vae = VAE((20,), latent_dim=2, hidden=(8,))
    with pytest.raises(PyprogenError, match="at least 2"):
        MMDELBO(1.0).loss(vae.model, vae.guide, structured_binary(1))
    with pytest.raises(PyprogenError, match="kernel"):
        MMDELBO(1.0, kernel="laplace")
    with pytest.raises(PyprogenError, match="lam"):
        MMDELBO(-1.0)


def test_mmd_elbo_trains_the_vae_in_svi():
    pyro.set_rng_seed(0)
    data = structured_binary()
    vae = VAE((20,), latent_dim=2, hidden=(32,))
    svi = SVI(vae.model, vae.guide, Adam({"lr": 1e-2}), loss=MMDELBO(10.0))
    losses = [svi.step(data) / len(data) for _ in range(40)]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.8 * first, (first, last)


def test_subsampled_plate_scales_both_terms_by_n_over_b():
    """plate("data", 32, subsample=8 indices): loss = 4·(−Σ log p(x|z)) + λ·4·8·MMD²."""
    idx = torch.arange(8)

    def model(x):
        with pyro.plate("data", 32, subsample=idx):
            z = pyro.sample("z", dist.Normal(torch.zeros(8, 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z.sum(-1), 1.0), obs=x)

    def guide(x):
        with pyro.plate("data", 32, subsample=idx):
            pyro.sample("z", dist.Normal(x[:, None].expand(8, 2), 0.5).to_event(1))

    x = torch.linspace(-1, 1, 8)
    pyro.set_rng_seed(10)
    loss = MMDELBO(5.0).loss(model, guide, x)
    pyro.set_rng_seed(10)
    z_q = dist.Normal(x[:, None].expand(8, 2), 0.5).to_event(1).sample()
    z_p = dist.Normal(torch.zeros(8, 2), 1.0).sample()
    expected = 4 * -dist.Normal(z_q.sum(-1), 1.0).log_prob(x).sum() + 5.0 * 4 * 8 * mmd2_unbiased(z_q, z_p)
    assert loss == pytest.approx(expected.item(), rel=1e-5)
