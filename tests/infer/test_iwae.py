"""IWAE and importance.log_weights: IWAE(1) is the ELBO, L_K increases with K towards log p(x)."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from pyprogen.errors import PyprogenError
from pyprogen.infer import IWAE, log_weights
from pyprogen.models import VAE

W, S, M, V = 2.0, 0.5, 0.3, 0.7  # x ~ N(W z, S), z ~ N(0, 1); q(z|x) = N(M x, V) (a poor guide)
X = torch.tensor([0.5, -1.0, 2.0])


def model(x):
    with pyro.plate("data", len(x)):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(W * z, S), obs=x)


def guide(x):
    with pyro.plate("data", len(x)):
        pyro.sample("z", dist.Normal(M * x, V))


def test_log_weights_are_per_point_log_joint_minus_log_q():
    pyro.set_rng_seed(7)
    lw = log_weights(model, guide, X, num_particles=4, max_plate_nesting=1)
    pyro.set_rng_seed(7)
    z = dist.Normal(M * X, V).expand((4, 3)).rsample()
    expected = dist.Normal(0.0, 1.0).log_prob(z) + dist.Normal(W * z, S).log_prob(X) - dist.Normal(M * X, V).log_prob(z)
    assert lw.shape == (4, 3)
    assert torch.allclose(lw, expected, atol=1e-5)


def test_iwae_one_particle_is_trace_elbo_on_the_same_seed():
    pyro.set_rng_seed(8)
    a = IWAE(1, max_plate_nesting=1).loss(model, guide, X)
    pyro.set_rng_seed(8)
    b = Trace_ELBO().loss(model, guide, X)
    assert a == pytest.approx(b, rel=1e-6)


def test_bound_increases_with_k_and_stays_below_log_p_x():
    """X repeated 200 times, so one loss call averages 200 draws per point (seed 9). Measured: L_1 ≈ −15.0,
    L_5 ≈ −6.14, L_50 ≈ −5.59, log p(x) = −5.545; the gaps are many standard errors wide."""
    log_px = dist.Normal(0.0, math.sqrt(W**2 + S**2)).log_prob(X).sum().item()
    reps = X.repeat(200)
    pyro.set_rng_seed(9)
    bounds = {k: -IWAE(k, max_plate_nesting=1).loss(model, guide, reps) / 200 for k in (1, 5, 50)}
    assert bounds[1] < bounds[5] - 1.0 < bounds[50] - 1.0
    assert log_px - 0.15 < bounds[50] < log_px + 0.02


def test_global_latent_with_nonzero_density_raises():
    def global_model(x):
        w = pyro.sample("w", dist.Normal(0.0, 1.0))
        with pyro.plate("data", len(x)):
            pyro.sample("x", dist.Normal(w, 1.0), obs=x)

    def global_guide(x):
        pyro.sample("w", dist.Normal(0.5, 0.1))

    with pytest.raises(PyprogenError, match="outside plate"):
        log_weights(global_model, global_guide, X, num_particles=3)


def test_iwae_trains_the_vae_in_svi():
    pyro.set_rng_seed(0)
    data = torch.bernoulli(torch.sigmoid(3 * torch.randn(20)).expand(64, 20))
    vae = VAE((20,), latent_dim=2, hidden=(32,))
    svi = SVI(vae.model, vae.guide, Adam({"lr": 1e-2}), loss=IWAE(5))
    losses = [svi.step(data) / len(data) for _ in range(40)]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.8 * first, (first, last)


def test_models_that_do_not_broadcast_fall_back_to_one_particle_at_a_time():
    """A model that reshapes z to (N,) cannot take a particle plate; with the exact posterior as guide
    every log-weight equals log p(x_n) = log N(x_n; 0, W² + S²)."""
    post_var = 1.0 / (1.0 + W**2 / S**2)

    def rigid_model(x):
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal(W * z.reshape(len(x)), S), obs=x)

    def exact_guide(x):
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(post_var * W * x / S**2, math.sqrt(post_var)))

    lw = log_weights(rigid_model, exact_guide, X, num_particles=4)
    log_px = dist.Normal(0.0, math.sqrt(W**2 + S**2)).log_prob(X)
    assert lw.shape == (4, 3)
    assert torch.allclose(lw, log_px.expand(4, 3), atol=1e-5)


def test_non_reparameterised_guide_is_refused_for_training_but_scored_for_evaluation():
    def coin_model(x):
        with pyro.plate("data", len(x)):
            c = pyro.sample("c", dist.Bernoulli(0.5))
            pyro.sample("x", dist.Normal(2 * c - 1, 1.0), obs=x)

    def coin_guide(x):
        with pyro.plate("data", len(x)):
            pyro.sample("c", dist.Bernoulli(torch.sigmoid(x)))

    with pytest.raises(PyprogenError, match="reparameterised"):
        IWAE(3).differentiable_loss(coin_model, coin_guide, X)
    # evaluation (no grad) is fine: L_K of an exact discrete model, checked against log p(x) as K grows
    log_px = torch.logsumexp(torch.stack([dist.Normal(-1.0, 1.0).log_prob(X), dist.Normal(1.0, 1.0).log_prob(X)]), 0)
    log_px = (log_px + math.log(0.5)).sum().item()
    pyro.set_rng_seed(11)
    assert -IWAE(2000).loss(coin_model, coin_guide, X) == pytest.approx(log_px, abs=0.02)
