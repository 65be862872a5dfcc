import math

import pyro
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import Predictive, Trace_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.models import BetaTCVAE, BetaVAE, VAE, WAE, build


def test_trace_has_z_and_x_in_plate_data():
    vae = VAE((1, 28, 28), latent_dim=3)
    x = (torch.rand(5, 1, 28, 28) > 0.5).float()
    tr = poutine.trace(vae.model).get_trace(x)
    assert tr.nodes["z"]["value"].shape == (5, 3)
    assert tr.nodes["x"]["is_observed"]
    assert [f.name for f in tr.nodes["z"]["cond_indep_stack"]] == ["data"]
    assert [f.name for f in tr.nodes["x"]["cond_indep_stack"]] == ["data"]


def test_bernoulli_log_prob_equals_hand_computation():
    torch.manual_seed(0)
    vae = VAE((4,), latent_dim=2)
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    z = torch.randn(1, 2)
    tr = poutine.trace(poutine.condition(vae.model, {"z": z})).get_trace(x)
    logits = vae.decoder(z)
    hand = (x * torch.nn.functional.logsigmoid(logits) + (1 - x) * torch.nn.functional.logsigmoid(-logits)).sum()
    assert torch.allclose(tr.nodes["x"]["fn"].log_prob(x).sum(), hand, atol=1e-5)


def test_categorical_likelihood_is_normalised_over_256_levels():
    vae = VAE((2,), latent_dim=1, likelihood="categorical")
    z = torch.zeros(1, 1)
    d = vae.likelihood.distribution(vae.decoder(z))
    # sum over all 256 levels of the first value (second fixed) = 1
    levels = torch.stack([torch.arange(256), torch.zeros(256, dtype=torch.long)], -1)
    probs = d.log_prob(levels).exp().detach()
    marginal_second = vae.likelihood.distribution(vae.decoder(z)).base_dist.probs[0, 1, 0]
    assert math.isclose(float(probs.sum()), float(marginal_second.detach()), rel_tol=1e-5)


def test_gaussian_learned_scale_is_trained_by_pyro_svi():
    vae = VAE((3,), latent_dim=1, likelihood="gaussian", scale="learned")
    x = torch.randn(64, 3) * 0.05
    svi = pyro.infer.SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
    svi.step(x)
    # Pyro's param store holds the scale (so pyro.infer.SVI trains it) and one Adam step moved it by lr
    assert "likelihood.log_scale" in pyro.get_param_store()
    assert torch.allclose(vae.likelihood.log_scale.detach().abs(), torch.full((3,), 0.05), atol=1e-3)


def test_user_modules_are_accepted_and_trained():
    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 4))

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = enc

        def forward(self, x):
            h = self.net(x)
            return h[:, :2], h[:, 2:].exp()

    dec = torch.nn.Linear(2, 4)
    vae = VAE((4,), latent_dim=2, encoder=Encoder(), decoder=dec)
    before = dec.weight.detach().clone()
    svi = pyro.infer.SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    svi.step((torch.rand(8, 4) > 0.5).float())
    assert not torch.equal(before, dec.weight)


def test_predictive_and_sample_shapes():
    vae = build("vae", (1, 28, 28), latent_dim=2, net="conv")
    out = Predictive(vae.model, num_samples=3)(None, n=4)
    assert out["x"].shape == (3, 4, 1, 28, 28)
    assert vae.sample(5).shape == (5, 1, 28, 28)
    assert set(vae.sample(5).unique().tolist()) <= {0.0, 1.0}
    m = vae.sample(5, mean=True)
    assert 0 <= float(m.min()) and float(m.max()) <= 1


def test_default_losses_and_registry():
    assert isinstance(build("beta-vae", (4,), latent_dim=2, beta=2.0), BetaVAE)
    assert isinstance(build("wae-mmd", (4,), latent_dim=2), WAE)
    tc = build("beta-tcvae", (4,), latent_dim=2, dataset_size=100)
    assert isinstance(tc, BetaTCVAE) and tc.config["kwargs"]["dataset_size"] == 100
    with pytest.raises(PyprogenError, match="unknown model"):
        build("vea", (4,))
    with pytest.raises(PyprogenError, match="latent_dim"):
        VAE((4,), latent_dim=0)
    with pytest.raises(PyprogenError, match="beta"):
        BetaVAE((4,), latent_dim=2, beta=-1)
    with pytest.raises(PyprogenError, match="likelihood"):
        VAE((4,), latent_dim=2, likelihood="poisson")


def test_bernoulli_refuses_continuous_data():
    vae = VAE((4,), latent_dim=2)
    with pytest.raises(PyprogenError, match="0/1"):
        vae.likelihood.check(torch.full((2, 4), 0.5))


def test_wrong_shape_is_a_clear_error():
    vae = VAE((4,), latent_dim=2)
    with pytest.raises(PyprogenError, match=r"expected shape \(N, 4\)"):
        vae.model(torch.zeros(2, 5))
