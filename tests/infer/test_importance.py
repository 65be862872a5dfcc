"""infer.importance: per-point log-weights, their chunks and the streaming log-mean-weight.

Linear-Gaussian model z ~ N(0, I_2), x | z ~ N(A z + b, s² I_3): p(x) = N(b, A Aᵀ + s² I) and
p(z | x) = N(m, P) with P = (I + AᵀA / s²)⁻¹, m = P Aᵀ (x − b) / s². With the exact posterior as
guide, log w = log p(x, z) − log p(z | x) = log p(x) for every particle (Burda et al. 2016, eq. 8
with zero-variance weights).
"""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.infer.importance import log_mean_weight, log_weights, weighted_traces

A = torch.tensor([[1.0, 0.5], [0.0, 1.0], [2.0, -1.0]])
B = torch.tensor([0.1, -0.2, 0.3])
S = 0.5
P = torch.linalg.inv(torch.eye(2) + A.T @ A / S**2)
X = torch.tensor([[0.7, 0.2, -1.1], [1.5, -0.4, 2.0], [0.0, 0.0, 0.0], [-1.0, 1.0, 0.5]])


def model(x):
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z @ A.T + B, S).to_event(1), obs=x)


def scaled_guide(factor):
    """q(z | x) = N(m, factor² P): the exact posterior for factor 1."""
    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.MultivariateNormal((x - B) @ A @ P.T / S**2, covariance_matrix=factor**2 * P))

    return guide


guide = scaled_guide(1.0)


def log_evidence(x):
    return dist.MultivariateNormal(B, A @ A.T + S**2 * torch.eye(3)).log_prob(x)


def test_exact_posterior_gives_constant_weights_equal_to_log_evidence():
    lw = log_weights(model, guide, X, num_particles=50)
    assert lw.shape == (50, 4)
    # every particle: log p(x) in closed form (float32 rounding, 1e-4)
    assert torch.allclose(lw, log_evidence(X).expand(50, -1), atol=1e-4)
    assert float((lw.max(0).values - lw.min(0).values).max()) < 1e-4


def test_chunks_are_the_same_particles_and_the_same_weights():
    # torch draws normals in blocks of 16 numbers, so chunks of 10 particles x 4 points x 2 dims (80 numbers)
    # continue one stream: the chunked weights equal the unchunked ones particle by particle (seed 3)
    pyro.set_rng_seed(3)
    whole = log_weights(model, scaled_guide(1.5), X, num_particles=40)
    pyro.set_rng_seed(3)
    chunked = log_weights(model, scaled_guide(1.5), X, num_particles=40, chunk_size=10)
    assert whole.shape == chunked.shape == (40, 4)
    assert whole.std(0).min() > 0.1  # not the trivial constant case
    assert torch.allclose(chunked, whole, atol=1e-5)
    pyro.set_rng_seed(3)
    sizes = [c.log_weights.shape[0] for c in weighted_traces(model, guide, X, num_particles=40, chunk_size=15)]
    assert sizes == [15, 15, 10]


def test_streaming_log_mean_weight_is_logsumexp_minus_log_k():
    narrow = scaled_guide(0.7)
    pyro.set_rng_seed(4)
    lw = log_weights(model, narrow, X, num_particles=30, chunk_size=7)
    pyro.set_rng_seed(4)
    streamed = log_mean_weight(model, narrow, X, num_particles=30, chunk_size=7)
    assert torch.allclose(streamed, torch.logsumexp(lw, 0) - math.log(30), atol=1e-5)


def test_model_that_does_not_broadcast_falls_back_to_one_particle_at_a_time():
    def flat_model(x):  # reshapes z to (N, 2): fails under an outer particle plate
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z.reshape(x.shape[0], 2) @ A.T + B, S).to_event(1), obs=x)

    lw = log_weights(flat_model, guide, X, num_particles=6, chunk_size=4)
    assert lw.shape == (6, 4)
    chunks = list(weighted_traces(flat_model, guide, X, num_particles=3, chunk_size=2))
    assert [(c.log_weights.shape, c.width) for c in chunks] == [((1, 4), None)] * 3
    assert torch.allclose(lw, log_evidence(X).expand(6, -1), atol=1e-4)


@pytest.mark.parametrize("kw,name", [({"num_particles": 0}, "num_particles"),
                                     ({"num_particles": 3, "chunk_size": 0}, "chunk_size"),
                                     ({"num_particles": True}, "num_particles")])
def test_bad_counts(kw, name):
    with pytest.raises(PyprogenError, match=name):
        log_weights(model, guide, X, **kw)
