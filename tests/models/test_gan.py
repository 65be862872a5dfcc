"""GAN as an implicit Pyro model: sites, Predictive, nets, sampling against analytic moments."""
import pyro
import pyro.poutine as poutine
import pytest
import torch
from torch import nn

from pyprogen.errors import PyprogenError
from pyprogen.infer import GANDPLoss
from pyprogen.models import GAN, build
from pyprogen.nn import DCGANCritic, DCGANGenerator, MLPCritic, MLPGenerator


def test_sites_plate_and_observed_data_are_not_scored():
    torch.manual_seed(0)
    gan = build("gan", (2,), latent_dim=3)
    x = torch.randn(5, 2)
    tr = poutine.trace(gan.model).get_trace(x)
    assert tr.nodes["z"]["type"] == "sample" and not tr.nodes["z"]["is_observed"]
    assert tr.nodes["x"]["infer"].get("_deterministic") and tr.nodes["x"]["value"].shape == (5, 2)
    for site in ("z", "x"):
        assert [f.name for f in tr.nodes[site]["cond_indep_stack"]] == ["data"]
    # an implicit site cannot score data: log p of the trace is the prior's log density of z alone
    z = tr.nodes["z"]["value"]
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum()
    assert tr.log_prob_sum().item() == pytest.approx(expected.item(), rel=1e-6)
    # the observed x fixed the plate size only: the site holds G(z), not the data
    torch.testing.assert_close(tr.nodes["x"]["value"], gan.generator(z))


def test_guide_is_the_prior():
    gan = GAN((2,), latent_dim=4)
    tr = poutine.trace(gan.guide).get_trace(torch.zeros(6, 2))
    fn = tr.nodes["z"]["fn"]
    torch.testing.assert_close(fn.mean, torch.zeros(6, 4))
    torch.testing.assert_close(fn.variance, torch.ones(6, 4))


def test_predictive_and_sample_shapes():
    pyro.set_rng_seed(0)
    gan = build("gan", (2,), latent_dim=3)
    out = pyro.infer.Predictive(gan.model, num_samples=4)(n=7)
    assert out["x"].shape == (4, 7, 2) and out["z"].shape == (4, 7, 3)
    assert gan.sample(11).shape == (11, 2)


def test_samples_follow_the_pushforward_of_a_linear_generator():
    # G(z) = A z + b with z ~ N(0, I): x ~ N(b, A Aᵀ) exactly
    torch.manual_seed(0)
    lin = nn.Linear(2, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.5], [0.0, 2.0]]))
        lin.bias.copy_(torch.tensor([3.0, -1.0]))
    gan = GAN((2,), latent_dim=2, generator=lin, critic=MLPCritic((2,)))
    x = gan.sample(200_000)
    torch.testing.assert_close(x.mean(0), torch.tensor([3.0, -1.0]), atol=0.02, rtol=0)
    cov = torch.cov(x.T)
    torch.testing.assert_close(cov, torch.tensor([[1.25, 1.0], [1.0, 4.0]]), atol=0.05, rtol=0)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64), (1, 32, 32)])
def test_dcgan_nets_for_images(shape):
    torch.manual_seed(0)
    gan = build("gan", shape, latent_dim=8, width=8)
    assert isinstance(gan.generator, DCGANGenerator) and isinstance(gan.critic, DCGANCritic)
    x = gan.sample(3)
    assert x.shape == (3, *shape) and x.min() >= 0 and x.max() <= 1
    assert gan.critic(x).shape == (3, 1)
    # the critic has no batch coupling (no BatchNorm): a sample's score ignores the others
    torch.testing.assert_close(gan.critic(x[:1]), gan.critic(x)[:1], rtol=1e-5, atol=1e-6)


def test_mlp_nets_for_vectors_and_defaults():
    gan = build("gan", (2,))
    assert isinstance(gan.generator, MLPGenerator) and isinstance(gan.critic, MLPCritic)
    assert isinstance(gan.default_loss(), GANDPLoss) and gan.default_loss().gamma == 10
    assert gan.latent_dim == 64 and gan.data_shape == (2,)
    keys = gan.state_dict().keys()
    assert any(k.startswith("critic.") for k in keys) and any(k.startswith("generator.") for k in keys)


def test_bad_input_is_refused():
    with pytest.raises(PyprogenError, match="latent_dim"):
        GAN((2,), latent_dim=0)
    with pytest.raises(PyprogenError, match="net"):
        GAN((2,), net="resnet")
    with pytest.raises(PyprogenError, match="x: expected shape"):
        build("gan", (2,)).model(torch.zeros(3, 5))
