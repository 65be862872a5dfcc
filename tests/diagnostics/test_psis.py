"""psis_k: k̂ of an exact, a wider and a much narrower guide; the per-point log weights themselves."""
import numpy as np
import pyro
import pyro.distributions as dist
import torch

from pyprogen.diagnostics import psis_k, psis_k_from_log_weights
from pyprogen.infer.importance import log_weights

A = torch.tensor([[1.0, 0.5], [0.0, 1.0], [2.0, -1.0]])
B = torch.tensor([0.1, -0.2, 0.3])
S = 0.5
P = torch.linalg.inv(torch.eye(2) + A.T @ A / S**2)
X = torch.tensor([[0.7, 0.2, -1.1], [1.5, -0.4, 2.0], [0.0, 0.0, 0.0], [-1.0, 1.0, 0.5]])


def model(x):
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z @ A.T + B, S).to_event(1), obs=x)


def gaussian_guide(factor):
    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.MultivariateNormal((x - B) @ A @ P.T / S**2, covariance_matrix=factor**2 * P))

    return guide


def log_evidence(x):
    return dist.MultivariateNormal(B, A @ A.T + S**2 * torch.eye(3)).log_prob(x)


def test_exact_guide_weights_equal_evidence():
    pyro.set_rng_seed(0)
    lw = log_weights(model, gaussian_guide(1.0), X, num_particles=300, chunk_size=128)
    assert lw.shape == (300, 4)
    # with q = p(z|x), log p(x,z) - log q(z|x) = log p(x) for every particle (float32 rounding)
    assert torch.allclose(lw, log_evidence(X).expand(300, -1), atol=1e-4)


def test_k_hat_exact_wide_and_narrow():
    # q = N(m, f^2 P) against p(z|x) = N(m, P): in whitened coordinates w ∝ exp(|u|^2 (1/f^2 - 1) / 2) with
    # u ~ N(0, f^2 I), whose tail is Pareto with shape k = 1 - f^2 (bounded weights for f >= 1)
    pyro.set_rng_seed(0)
    exact = psis_k(model, gaussian_guide(1.0), X, num_particles=1000)
    wide = psis_k(model, gaussian_guide(1.5), X, num_particles=1000)
    narrow = psis_k(model, gaussian_guide(0.2), X, num_particles=2000)
    assert exact.shape == (4,)
    assert (exact < 0.2).all()  # constant weights: k̂ = -inf
    assert (wide < 0.5).all()  # k = 1 - 2.25 < 0
    assert (narrow > 0.7).all()  # k = 0.96: infinite-variance weights
    assert abs(float(narrow.mean()) - 0.96) < 0.15


def test_k_hat_of_pareto_weights():
    # weights drawn from a generalised Pareto with shape k = 0.8: PSIS recovers k (Vehtari et al. 2024)
    rng = np.random.default_rng(0)
    u = rng.uniform(size=(5, 20000))
    w = ((1 - u) ** -0.8 - 1) / 0.8  # GPD(k=0.8, sigma=1) by inversion
    k = psis_k_from_log_weights(torch.as_tensor(np.log(w)).T)
    # the tail fit uses 3 sqrt(S) = 424 draws: sd(k̂) ≈ (1 + k) / sqrt(424) ≈ 0.09 per point
    assert k.shape == (5,)
    assert abs(float(k.mean()) - 0.8) < 0.1
    assert (abs(k - 0.8) < 0.3).all()
