"""Importance-sampled log p(x) on probabilistic PCA, whose marginal is N(μ, W Wᵀ + σ² I) in closed form."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.metrics import bits_per_dim, elbo, log_likelihood

K, D, SIGMA = 2, 4, 0.5
G = torch.Generator().manual_seed(0)
W = torch.randn(D, K, generator=G)
MU = torch.randn(D, generator=G)
X = (torch.randn(20, K, generator=G) @ W.T + MU + SIGMA * torch.randn(20, D, generator=G))
POST_COV = torch.linalg.inv(torch.eye(K) + W.T @ W / SIGMA**2)


def exact_log_px(x):
    return dist.MultivariateNormal(MU, W @ W.T + SIGMA**2 * torch.eye(D)).log_prob(x)


def post_mean(x):
    return (x - MU) @ W @ POST_COV / SIGMA**2


def model(x):
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], K), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z @ W.T + MU, SIGMA).to_event(1), obs=x)


def exact_guide(x):
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.MultivariateNormal(post_mean(x), POST_COV))


def rough_guide(x):
    """Diagonal Gaussian, mean off by 0.2 and scales 1.5x the posterior's."""
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(post_mean(x) + 0.2, 1.5 * POST_COV.diagonal().sqrt()).to_event(1))


def prior_guide(x):
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], K), 1.0).to_event(1))


def test_exact_posterior_as_proposal_gives_log_px_and_elbo_exactly():
    exact = exact_log_px(X)
    assert torch.allclose(log_likelihood(model, exact_guide, X, num_particles=3), exact, atol=1e-4)
    assert torch.allclose(elbo(model, exact_guide, X), exact, atol=1e-4)


@pytest.mark.parametrize("guide,tol", [(rough_guide, 0.04), (prior_guide, 0.15)])
def test_estimate_approaches_the_closed_form_marginal(guide, tol):
    """Mean absolute error over 20 points (seed 0): at 5000 particles below ``tol``
    (measured 0.018 rough guide, 0.056 prior); at 10 particles more than twice that
    (measured 0.21 and 3.7)."""
    exact = exact_log_px(X)
    pyro.set_rng_seed(0)
    err = {k: (log_likelihood(model, guide, X, num_particles=k, chunk_size=1000) - exact).abs().mean().item()
           for k in (10, 5000)}
    assert err[5000] < tol
    assert err[10] > 2 * err[5000]


def test_chunks_and_batches_and_numpy_input():
    """Chunks of 7 particles and batches of 6 points stay within 0.08 of log p(x) on average."""
    pyro.set_rng_seed(1)
    ll = log_likelihood(model, rough_guide, X.numpy().astype("float64"), num_particles=700, chunk_size=7, batch_size=6)
    assert ll.shape == (20,) and ll.dtype == torch.float32
    assert (ll - exact_log_px(X)).abs().mean().item() < 0.08
    assert not ll.requires_grad


def test_chunked_equals_unchunked():
    """Chunks of 8 particles (the last one 4) against one chunk of 60, on the same draws (seed 2): torch
    draws normals in blocks of 16 numbers and every chunk here holds a multiple of 16 (20 points x 2 dims x
    an even count), so both runs use the same particles and the running logsumexp must agree to 1e-5."""
    pyro.set_rng_seed(2)
    whole = log_likelihood(model, rough_guide, X, num_particles=60, chunk_size=60)
    pyro.set_rng_seed(2)
    chunked = log_likelihood(model, rough_guide, X, num_particles=60, chunk_size=8)
    assert (whole - exact_log_px(X)).abs().max() > 1e-3  # not the trivial exact-guide case
    assert torch.allclose(chunked, whole, atol=1e-5)


def test_bits_per_dim_and_bad_input():
    assert bits_per_dim(100.0, 784) == pytest.approx(100.0 / (784 * math.log(2)))
    assert torch.allclose(bits_per_dim(torch.tensor([math.log(2) * 10]), 10), torch.tensor([1.0]))
    with pytest.raises(PyprogenError, match="num_particles"):
        log_likelihood(model, rough_guide, X, num_particles=0)
    with pytest.raises(PyprogenError, match="chunk_size"):
        log_likelihood(model, rough_guide, X, num_particles=10, chunk_size=0)
    with pytest.raises(PyprogenError, match="^x: "):
        log_likelihood(model, rough_guide, "not an array")
    with pytest.raises(PyprogenError, match="num_dims"):
        bits_per_dim(1.0, 0)
