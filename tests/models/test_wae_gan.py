"""WAE-GAN: the latent critic pulls the aggregate posterior to the prior; terms; fit integration."""
import pyro
import pyro.poutine as poutine
import pytest
import torch

import pyro.distributions as dist

from pyprogen.infer import GANDPLoss, NonSaturatingLoss, WAEGANSVI, make_step
from pyprogen.io import load_torch
from pyprogen.models import WAE, WAEGAN, build
from pyprogen.train import fit

@pytest.fixture
def one_thread():
    """Small nets: one intra-op thread is faster and does not spin on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)



def data(n=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g) * torch.tensor([1.0, 0.5])


def codes_after_training(lam, steps=100):
    torch.manual_seed(0)
    model = build("wae-gan", (2,), latent_dim=2, likelihood="gaussian", hidden=(32,), critic_hidden=(32,), lam=lam)
    with torch.no_grad():
        model.encoder.loc.bias.add_(3.0)  # start with q(z) centred at (3, 3), far from p(z) = N(0, I)
    step = WAEGANSVI.for_model(model, model.default_loss(), 1e-2)
    x = data()
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        step.step(x[torch.randint(len(x), (128,), generator=g)])
    return model.encode(x)


def test_adversarial_term_moves_the_aggregate_posterior_to_the_prior(one_thread):
    # Tolstikhin et al. 2018: the λ·D_GAN(q(z), p(z)) term matches q(z) to N(0, I); without it
    # (λ = 0, a plain autoencoder) nothing pulls the codes back from (3, 3).
    with_gan = codes_after_training(1.0)
    without = codes_after_training(0.0)
    assert with_gan.mean(0).norm().item() < 1.2  # measured 0.73 at 120 steps
    assert without.mean(0).norm().item() > 3.0  # measured 3.75


def test_reported_terms_match_the_likelihood_and_the_loss():
    torch.manual_seed(0)
    model = build("wae-gan", (2,), latent_dim=2, likelihood="gaussian", hidden=(16,), critic_hidden=(16,), lam=2.5)
    step = WAEGANSVI.for_model(model, model.default_loss(), 1e-3)
    x = data(64)
    step.initialise(x)
    pyro.set_rng_seed(5)
    out = step.evaluate_loss(x)
    pyro.set_rng_seed(5)  # the same draw of z by an independent route: guide trace, decoder, likelihood
    z = poutine.trace(model.guide).get_trace(x).nodes["z"]["value"]
    nll = -model.likelihood.distribution(model.decoder(z)).log_prob(x).sum() / len(x)
    assert out["reconstruction"] == pytest.approx(nll.item(), rel=1e-5)
    gen = torch.nn.functional.softplus(-model.latent_critic(z).squeeze(-1)).mean()
    assert out["gen_loss"] == pytest.approx(gen.item(), rel=1e-5)
    assert out["loss"] == pytest.approx(out["reconstruction"] + 2.5 * out["gen_loss"], rel=1e-6)


def test_fit_uses_the_wae_gan_step_with_any_adversarial_loss(tmp_path):
    torch.manual_seed(0)
    model = build("wae-gan", (2,), latent_dim=2, likelihood="gaussian", hidden=(16,), critic_hidden=(16,))
    assert isinstance(model, WAE) and model.reg == "gan" and isinstance(model.default_loss(), NonSaturatingLoss)
    assert model.critic_site == "z" and isinstance(make_step(model, model.default_loss(), 1e-3), WAEGANSVI)
    step = make_step(model, GANDPLoss(), 1e-3)  # any adversarial loss is routed to the latent game
    assert isinstance(step, WAEGANSVI) and isinstance(step.loss, GANDPLoss)
    history = fit(model, data(256), loss="gan-dp", epochs=2, batch_size=64, out=str(tmp_path), progress=False)
    assert len(history) == 2 and history[-1]["penalty"] > 0
    ckpt = load_torch(str(tmp_path / "checkpoint.pt"))
    assert set(ckpt["step"]) == {"autoencoder", "critic"}
    assert any(k.startswith("critic.") for k in ckpt["model"])
    assert isinstance(WAEGAN((2,), latent_dim=3).latent_critic(torch.zeros(4, 3)), torch.Tensor)


class ShiftedPriorWAEGAN(WAEGAN):
    """A WAE-GAN whose prior is N(5, 0.5²): the critic's "real" codes must come from it."""

    def prior(self, n):
        return dist.Normal(torch.full((n, self.latent_dim), 5.0), 0.5).to_event(1)


def test_latent_critic_compares_codes_with_the_models_own_prior():
    torch.manual_seed(0)
    model = ShiftedPriorWAEGAN((2,), latent_dim=3, likelihood="gaussian", hidden=(8,), critic_hidden=(8,))
    step = make_step(model, model.default_loss(), 1e-3)
    x = data(4000)
    step.initialise(x)
    real, fake = step.critic_inputs(x)
    assert real.shape == fake.shape == (4000, 3)
    # the sample mean of 4000 draws of N(5, 0.5²) is within 4 standard errors (4·0.5/√4000 = 0.032) of 5
    assert (real.mean(0) - 5.0).abs().max().item() < 0.032
    assert (real.std(0) - 0.5).abs().max().item() < 0.03
