"""Diagonal BiLSTM PixelRNN as a Pyro model: normalised exact likelihood, causality, the cached sampler
equal to the naive one under a seed, SVI, Predictive."""
import itertools

import pyro
import pytest
import torch
from pyro.infer import Predictive, Trace_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.models.diagonal_pixelrnn import DiagonalPixelRNN


def test_probabilities_of_all_2x2_binary_images_sum_to_one():
    torch.manual_seed(0)
    model = build("pixelrnn-diagonal", (1, 2, 2), likelihood="bernoulli", channels=8, depth=2)
    x = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4))).reshape(16, 1, 2, 2)
    assert abs(model.log_prob(x).exp().sum().item() - 1.0) < 1e-5


def test_model_output_is_causal_in_raster_order():
    """d logit(pixel i) / d x_j = 0 for every j >= i over a 4x4 image (the full-field check is in tests/nn)."""
    torch.manual_seed(1)
    model = DiagonalPixelRNN((1, 4, 4), channels=8, depth=2)
    x = torch.rand(1, 1, 4, 4, requires_grad=True)
    logits = model.net(x).reshape(16)
    for i in range(16):
        g, = torch.autograd.grad(logits[i], x, retain_graph=True)
        assert torch.all(g.reshape(16)[i:] == 0)
        assert i == 0 or g.reshape(16)[:i].abs().sum() > 0


@pytest.mark.parametrize("likelihood,shape", [("bernoulli", (1, 6, 5)), ("categorical", (1, 4, 3)),
                                              ("categorical", (3, 3, 3))])
def test_cached_sampler_equals_the_naive_sampler_under_a_seed(likelihood, shape):
    torch.manual_seed(2)
    hidden = 6 if shape[0] == 3 else None
    model = DiagonalPixelRNN(shape, likelihood=likelihood, channels=12, hidden=hidden, depth=2)
    torch.manual_seed(7)
    naive = model.draw(5, "naive")
    torch.manual_seed(7)
    cached = model.draw(5, "cached")
    assert torch.equal(naive, cached)
    assert naive.float().std() > 0


def test_trace_elbo_loss_is_the_exact_negative_log_likelihood():
    torch.manual_seed(2)
    model = DiagonalPixelRNN((1, 3, 4), channels=8, depth=1)
    x = (torch.rand(5, 1, 3, 4) < 0.5).float()
    assert abs(Trace_ELBO().loss(model.model, model.guide, x) + model.log_prob(x).sum().item()) < 1e-3


def test_trains_with_svi_trace_elbo():
    """16 striped 6x6 images: the exact NLL per image falls by at least 40 % in 80 Adam steps."""
    torch.manual_seed(3)
    pyro.clear_param_store()
    stripes = (torch.arange(6) % 2).float().expand(6, 6)
    x = torch.stack([stripes if k % 2 else stripes.T for k in range(16)])[:, None]
    model = DiagonalPixelRNN((1, 6, 6), channels=16, depth=1)
    svi = pyro.infer.SVI(model.model, model.guide, pyro.optim.Adam({"lr": 1e-2}), model.default_loss())
    losses = [svi.step(x) / 16 for _ in range(80)]
    assert losses[0] > 20.0
    assert losses[-1] < 0.6 * losses[0]


def test_predictive_and_sample_shapes():
    model = DiagonalPixelRNN((1, 3, 3), likelihood="categorical", channels=8, depth=1)
    draws = Predictive(model.model, num_samples=2)(n=2)["x"]
    assert draws.shape == (2, 2, 1, 3, 3) and draws.dtype == torch.long
    x = model.sample(3)
    assert x.shape == (3, 1, 3, 3) and torch.equal(x, (x * 255).round() / 255)


def test_bad_input_raises():
    with pytest.raises(PyprogenError, match="sampler"):
        DiagonalPixelRNN((1, 3, 3), sampler="fast")
    with pytest.raises(PyprogenError, match="data_shape"):
        build("pixelrnn-diagonal", (9,))
    with pytest.raises(PyprogenError, match="x"):
        DiagonalPixelRNN((1, 3, 3)).log_prob(torch.full((2, 1, 3, 3), 0.5))
