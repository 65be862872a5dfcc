"""PixelCNN as a Pyro model: exact normalised likelihood, Trace_ELBO = -log p(x), SVI, Predictive."""
import itertools

import pyro
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import Predictive, Trace_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.models import PixelCNN, build


def all_binary_images(shape):
    size = shape[0] * shape[1] * shape[2]
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=size))).reshape(-1, *shape)


@pytest.mark.parametrize("kw", [{}, {"gated": True}])
def test_probabilities_of_all_2x2_binary_images_sum_to_one(kw):
    torch.manual_seed(0)
    model = build("pixelcnn", (1, 2, 2), likelihood="bernoulli", channels=8, depth=2, **kw)
    total = model.log_prob(all_binary_images((1, 2, 2))).exp().sum().item()
    assert abs(total - 1.0) < 1e-5


def test_multichannel_probabilities_sum_to_one():
    """(2, 1, 2) binary: 16 images, the colour masks make p a distribution over (pixel, channel)."""
    torch.manual_seed(1)
    model = PixelCNN((2, 1, 2), channels=8, depth=2)
    total = model.log_prob(all_binary_images((2, 1, 2))).exp().sum().item()
    assert abs(total - 1.0) < 1e-5


def test_categorical_probabilities_sum_to_one_over_256_squared_images():
    torch.manual_seed(2)
    model = PixelCNN((1, 1, 2), likelihood="categorical", channels=8, depth=1)
    a, b = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    x = torch.stack([a.reshape(-1), b.reshape(-1)], dim=1).reshape(-1, 1, 1, 2) / 255.0
    with torch.no_grad():
        total = sum(model.log_prob(chunk).double().exp().sum().item() for chunk in x.split(4096))
    assert abs(total - 1.0) < 1e-4


def test_trace_elbo_loss_is_the_exact_negative_log_likelihood():
    torch.manual_seed(3)
    model = PixelCNN((1, 4, 4), channels=8, depth=1)
    x = (torch.rand(6, 1, 4, 4) < 0.4).float()
    loss = Trace_ELBO().loss(model.model, model.guide, x)
    assert abs(loss + model.log_prob(x).sum().item()) < 1e-3
    tr = poutine.trace(model.model).get_trace(x)
    assert tr.nodes["x"]["is_observed"] and [f.name for f in tr.nodes["x"]["cond_indep_stack"]] == ["data"]
    assert model.latent_dim == 0 and poutine.trace(model.guide).get_trace(x).stochastic_nodes == []


def test_log_prob_by_hand_for_a_one_pixel_image():
    """A 1x1 image has no context: p(x = 1) = σ(head(first(0)))."""
    torch.manual_seed(4)
    model = PixelCNN((1, 1, 1), channels=4, depth=1)
    logit = model.net(torch.zeros(1, 1, 1, 1)).reshape(())
    got = model.log_prob(torch.ones(1, 1, 1, 1))
    assert torch.allclose(got, torch.nn.functional.logsigmoid(logit), atol=1e-6)


def test_trains_with_svi_trace_elbo():
    """A tiny set of 16 striped 6x6 images: the exact NLL per image falls by at least 40 % in 80 steps."""
    torch.manual_seed(5)
    stripes = (torch.arange(6) % 2).float().expand(6, 6)
    x = torch.stack([stripes if k % 2 else stripes.T for k in range(16)])[:, None]
    model = PixelCNN((1, 6, 6), channels=16, depth=2)
    svi = pyro.infer.SVI(model.model, model.guide, pyro.optim.Adam({"lr": 1e-2}), model.default_loss())
    losses = [svi.step(x) / 16 for _ in range(80)]
    assert losses[0] > 20.0                   # about 36 log 2 = 25 nats at initialisation
    assert losses[-1] < 0.6 * losses[0]


def test_predictive_draws_images_of_the_data_shape():
    model = PixelCNN((1, 4, 4), channels=8, depth=1)
    draws = Predictive(model.model, num_samples=2)(n=3)["x"]
    assert draws.shape == (2, 3, 1, 4, 4)
    assert torch.all((draws == 0) | (draws == 1))


def test_sample_returns_data_space_values():
    model = build("pixelcnn", (1, 3, 3), likelihood="categorical", channels=8, depth=1)
    x = model.sample(5)
    assert x.shape == (5, 1, 3, 3) and x.dtype == torch.float32
    assert torch.equal(x, (x * 255).round() / 255) and x.min() >= 0 and x.max() <= 1
    means = model.sample(2, mean=True)
    assert means.shape == (2, 1, 3, 3) and torch.all((means > 0) & (means < 1))


def test_bad_input_raises():
    model = PixelCNN((1, 3, 3), channels=8, depth=1)
    with pytest.raises(PyprogenError, match="bernoulli"):
        model.model(torch.full((2, 1, 3, 3), 0.5))
    with pytest.raises(PyprogenError, match="likelihood"):
        PixelCNN((1, 3, 3), likelihood="gaussian")
    with pytest.raises(PyprogenError, match="data_shape"):
        build("pixelcnn", (784,))
    with pytest.raises(PyprogenError, match="x: expected shape"):
        model.model(torch.zeros(2, 1, 4, 4))
