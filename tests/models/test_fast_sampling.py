"""Naive vs cached autoregressive sampling: identical draws under a seed, and draws from p(x)."""
import itertools

import pytest
import torch
from scipy import stats

from pyprogen.errors import PyprogenError
from pyprogen.models import PixelCNN, PixelRNN, autoregressive_sample, cached_sample, draw_noise, naive_sample
from pyprogen.seeding import set_seed

CASES = [
    (PixelCNN, {}, (1, 6, 5), "bernoulli"),
    (PixelCNN, {"gated": True}, (1, 6, 5), "bernoulli"),
    (PixelRNN, {}, (1, 6, 5), "bernoulli"),
    (PixelCNN, {}, (1, 4, 4), "categorical"),
    (PixelCNN, {"gated": True}, (1, 4, 4), "categorical"),
    (PixelRNN, {}, (1, 4, 4), "categorical"),
    (PixelCNN, {}, (3, 3, 3), "categorical"),
    (PixelRNN, {}, (3, 3, 3), "bernoulli"),
]


@pytest.mark.parametrize("cls,kw,shape,likelihood", CASES)
def test_cached_and_naive_samples_agree_exactly_under_a_seed(cls, kw, shape, likelihood):
    torch.manual_seed(0)
    model = cls(shape, likelihood=likelihood, channels=12, depth=2, **kw)
    with torch.no_grad():  # sharpen the conditionals so the images are not pure noise
        model.net.head.out.weight.mul_(4)
    set_seed(7)
    naive = model.draw(6, method="naive")
    set_seed(7)
    cached = model.draw(6, method="cached")
    assert naive.shape == (6, *shape)
    assert torch.equal(naive, cached)
    set_seed(8)
    assert not torch.equal(model.draw(6), cached)  # a different seed gives different images


def test_samplers_consume_the_same_noise():
    torch.manual_seed(1)
    model = PixelCNN((1, 4, 4), channels=8, depth=1)
    noise = draw_noise(model.likelihood, 5, (1, 4, 4), torch.zeros(()))
    assert torch.equal(naive_sample(model.net, model.likelihood, noise),
                       cached_sample(model.net, model.likelihood, noise))


@pytest.mark.parametrize("cls", [PixelCNN, PixelRNN])
def test_cached_draws_follow_the_exact_distribution_on_2x2(cls):
    """4000 cached draws of 2x2 binary images vs the model's exact p(x) of all 16: chi-square p > 0.001."""
    torch.manual_seed(2)
    model = cls((1, 2, 2), channels=8, depth=1)
    with torch.no_grad():  # sharpen the conditionals: a clearly non-uniform target
        model.net.head.out.weight.mul_(10)
    images = torch.tensor(list(itertools.product([0.0, 1.0], repeat=4))).reshape(16, 1, 2, 2)
    probs = model.log_prob(images).exp().detach()
    set_seed(3)
    draws = model.draw(4000).reshape(4000, 4)
    index = (draws * torch.tensor([8.0, 4.0, 2.0, 1.0])).sum(1).long()
    counts = torch.bincount(index, minlength=16).double()
    assert probs.max() > 2 * probs.min()
    assert stats.chisquare(counts.numpy(), (probs.double() / probs.double().sum() * 4000).numpy()).pvalue > 1e-3


def test_unknown_sampler_raises():
    model = PixelCNN((1, 2, 2), channels=8, depth=1)
    with pytest.raises(PyprogenError, match="method"):
        autoregressive_sample(model.net, model.likelihood, 2, (1, 2, 2), method="fast")
