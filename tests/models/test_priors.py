"""Priors: VampPrior and the mixture of Gaussians normalise (grid integrals in 1-D and 2-D, within 1e-2),
the fast mixture log-density equals MixtureSameFamily's, and every prior trains inside the VAE family."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.infer import IWAE, log_weights
from pyprogen.models import VAE, BetaTCVAE, BetaVAE, WAE, build
from pyprogen.models.priors import DiagonalGaussianMixture, build_prior
from pyprogen.nn import MLPEncoder


def _grid(dim, half_width=8.0, points=None):
    points = points or (4001 if dim == 1 else 401)
    axis = torch.linspace(-half_width, half_width, points, dtype=torch.float64)
    cell = float(axis[1] - axis[0]) ** dim
    grid = axis.unsqueeze(-1) if dim == 1 else torch.cartesian_prod(axis, axis)
    return grid, cell


def _integral(p, dim):
    grid, cell = _grid(dim)
    with torch.no_grad():
        return float(p.log_prob(grid).exp().sum() * cell)


def _trained_like(module, seed):
    """Move a prior's parameters away from their initial values (as training would)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return module.double()


@pytest.mark.parametrize("dim", [1, 2])
def test_mixture_of_gaussians_prior_normalises(dim):
    prior = _trained_like(build_prior("mog", dim, None, components=5), seed=dim)
    p = prior(1)
    assert p.batch_shape == (1,) and p.event_shape == (dim,)
    assert _integral(p, dim) == pytest.approx(1.0, abs=1e-2)


@pytest.mark.parametrize("dim", [1, 2])
def test_vamp_prior_normalises(dim):
    torch.manual_seed(0)
    encoder = MLPEncoder((6,), dim, hidden=(16,)).double()
    prior = _trained_like(build_prior("vamp", dim, (6,), components=7), seed=10 + dim)
    p = prior(1, encoder)
    assert _integral(p, dim) == pytest.approx(1.0, abs=1e-2)
    # the mixture is 1/K Σ_k q(z | u_k) with the encoder's Gaussians at the clipped pseudo-inputs
    loc, scale = encoder(prior.inputs())
    z = torch.randn(4, dim, dtype=torch.float64)
    by_hand = torch.logsumexp(dist.Normal(loc, scale).log_prob(z.unsqueeze(1)).sum(-1), 1) - math.log(7)
    assert torch.allclose(p.log_prob(z), by_hand, atol=1e-10)
    u = prior.inputs().detach()
    assert float(u.min()) >= 0 and float(u.max()) <= 1


def test_vamp_prior_monte_carlo_integral_in_2d():
    """E_{z ~ N(0, 4 I)}[p(z) / N(z; 0, 4 I)] = ∫ p = 1: 200,000 draws, standard error ≈ 0.003, tolerance 1e-2."""
    torch.manual_seed(3)
    encoder = MLPEncoder((6,), 2, hidden=(16,)).double()
    p = _trained_like(build_prior("vamp", 2, (6,), components=5), seed=4)(1, encoder)
    proposal = dist.Normal(torch.zeros(2, dtype=torch.float64), 2.0).to_event(1)
    z = proposal.sample((200_000,))
    with torch.no_grad():
        ratio = (p.log_prob(z) - proposal.log_prob(z)).exp()
    assert float(ratio.mean()) == pytest.approx(1.0, abs=1e-2)


def test_fast_mixture_log_prob_equals_mixture_same_family_and_broadcasts_over_particles():
    torch.manual_seed(5)
    logits, loc, scale = torch.randn(4), torch.randn(4, 3), torch.rand(4, 3) + 0.3
    fast = DiagonalGaussianMixture(logits, loc, scale, (6,))
    slow = dist.MixtureSameFamily(dist.Categorical(logits=logits.expand(6, 4)),
                                  dist.Normal(loc.expand(6, 4, 3), scale.expand(6, 4, 3)).to_event(1))
    z = torch.randn(10, 6, 3)  # (particles, points, D)
    assert torch.allclose(fast.log_prob(z), slow.log_prob(z), atol=1e-5)
    expanded = fast.expand((10, 6))
    assert expanded.batch_shape == (10, 6) and expanded.sample().shape == (10, 6, 3)
    assert torch.allclose(expanded.log_prob(z), slow.log_prob(z), atol=1e-5)


X = (torch.rand(6, 1, 28, 28) > 0.5).float()


@pytest.mark.parametrize("prior", ["normal", "vamp", "mog"])
@pytest.mark.parametrize("guide", ["diagonal", "iaf"])
def test_vae_priors_with_each_guide(prior, guide):
    vae = VAE((1, 28, 28), latent_dim=3, prior=prior, prior_components=4, guide=guide)
    assert math.isfinite(Trace_ELBO().loss(vae.model, vae.guide, X))
    assert math.isfinite(IWAE(3).loss(vae.model, vae.guide, X))
    assert log_weights(vae.model, vae.guide, X, num_particles=4).shape == (4, 6)
    assert vae.sample(5).shape == (5, 1, 28, 28)
    assert vae.prior(5).batch_shape == (5,) and vae.prior(5).event_shape == (3,)


def test_pseudo_inputs_and_mixture_weights_are_trained():
    data = (torch.rand(32, 12) > 0.5).float()
    for prior, name in (("vamp", "latent_prior.pseudo_inputs"), ("mog", "latent_prior.loc")):
        pyro.clear_param_store()
        vae = VAE((12,), latent_dim=2, hidden=(16,), prior=prior, prior_components=3)
        before = dict(vae.named_parameters())[name].detach().clone()
        svi = pyro.infer.SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 0.01}), vae.default_loss())
        svi.step(data)
        assert name in pyro.get_param_store()
        assert not torch.equal(before, dict(vae.named_parameters())[name])


def test_vamp_pseudo_inputs_are_unbounded_for_a_gaussian_likelihood():
    vae = VAE((2,), latent_dim=2, hidden=(8,), likelihood="gaussian", prior="vamp", prior_components=3)
    with torch.no_grad():
        vae.latent_prior.pseudo_inputs.fill_(-3.0)
    assert float(vae.latent_prior.inputs().detach().min()) == -3.0


@pytest.mark.parametrize("cls, kw", [(BetaVAE, {"beta": 2.0}), (WAE, {}), (BetaTCVAE, {"dataset_size": 100})])
def test_vae_family_models_inherit_the_priors(cls, kw):
    data = (torch.rand(16, 12) > 0.5).float()
    model = cls((12,), latent_dim=3, hidden=(16,), prior="vamp", prior_components=5, **kw)
    assert math.isfinite(model.default_loss().loss(model.model, model.guide, data))


@pytest.mark.parametrize("kw, needle", [({"prior": "laplace"}, "prior: unknown prior 'laplace'"),
                                        ({"prior": "vamp", "prior_components": 0}, "prior_components"),
                                        ({"prior": "mog", "prior_components": 2.0}, "prior_components")])
def test_bad_prior_arguments_are_one_line_errors(kw, needle):
    with pytest.raises(PyprogenError, match=needle) as info:
        build("vae", (4,), latent_dim=2, **kw)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("prior", ["vamp", "mog"])
def test_mixture_priors_train_through_fit_on_mnist_digits(prior):
    """3 epochs of fit on 300 binarized-MNIST digits: the training loss falls every epoch."""
    from pyprogen.data import load_dataset
    from pyprogen.train import fit

    data = load_dataset("binarized-mnist", "train").x[:300]
    vae = build("vae", (1, 28, 28), latent_dim=8, prior=prior, prior_components=20)
    history = fit(vae, data, epochs=3, batch_size=50, progress=False)
    losses = [h["loss"] for h in history]
    assert losses[0] > losses[1] > losses[2], losses
