"""MIWAE, CIWAE, PIWAE (Rainforth et al. 2018): the identities with IWAE and the ELBO on a fixed seed,
the bounds' order, PIWAE's per-network gradients, and training through SVI.

Estimators are built with ``max_plate_nesting=1`` (``NEST``) so none spends a draw on guessing the
nesting: from the same seed every estimator draws the same particles, and the identities hold to
float rounding (rel. 1e-6)."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from pyro.optim import Adam

from pyprogen.errors import PyprogenError
from pyprogen.infer import CIWAE, IWAE, MIWAE, PIWAE, estimator
from pyprogen.models import VAE

W, S, M, V = 2.0, 0.5, 0.3, 0.7  # x ~ N(W z, S), z ~ N(0, 1); q(z|x) = N(M x, V) (a poor guide)
X = torch.tensor([0.5, -1.0, 2.0])
NEST = {"max_plate_nesting": 1}


def model(x):
    with pyro.plate("data", len(x)):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(W * z, S), obs=x)


def guide(x):
    with pyro.plate("data", len(x)):
        pyro.sample("z", dist.Normal(M * x, V))


def _loss(est, seed, *args):
    pyro.set_rng_seed(seed)
    return est.loss(*(args or (model, guide, X)))


def _elbo(k):
    return Trace_ELBO(num_particles=k, vectorize_particles=True, **NEST)


@pytest.mark.parametrize("k", [1, 5, 17])
def test_miwae_with_one_outer_bound_is_iwae(k):
    assert _loss(MIWAE(1, k, **NEST), 3) == pytest.approx(_loss(IWAE(k, **NEST), 3), rel=1e-6)


def test_miwae_with_one_inner_particle_is_the_elbo_with_m_particles():
    assert _loss(MIWAE(6, 1, **NEST), 4) == pytest.approx(_loss(_elbo(6), 4), rel=1e-6)


@pytest.mark.parametrize("k", [1, 8])
def test_ciwae_beta_one_is_the_elbo_and_beta_zero_is_iwae(k):
    assert _loss(CIWAE(1.0, k, **NEST), 5) == pytest.approx(_loss(_elbo(k), 5), rel=1e-6)
    assert _loss(CIWAE(0.0, k, **NEST), 5) == pytest.approx(_loss(IWAE(k, **NEST), 5), rel=1e-6)


def test_ciwae_is_the_convex_combination_on_shared_particles():
    b = 0.3
    mixed, elbo, iwae = (_loss(CIWAE(beta, 8, **NEST), 6) for beta in (b, 1.0, 0.0))
    assert mixed == pytest.approx(b * elbo + (1 - b) * iwae, rel=1e-6)


def test_bounds_are_ordered_elbo_miwae_iwae():
    """On the same 64 particles per point: ELBO ≤ MIWAE(8, 8) ≤ IWAE(64) (Jensen's inequality on each draw,
    so the order holds exactly on a fixed seed), and IWAE(64) stays below log p(x) + 0.5 nats over 150 points."""
    reps = X.repeat(50)
    bounds = [-_loss(est, 7, model, guide, reps) for est in (MIWAE(64, 1, **NEST), MIWAE(8, 8, **NEST),
                                                             MIWAE(1, 64, **NEST))]
    assert bounds[0] < bounds[1] < bounds[2]
    log_px = dist.Normal(0.0, math.sqrt(W**2 + S**2)).log_prob(X).sum().item() * 50
    assert bounds[2] < log_px + 0.5


def _grads(vae, est, x, seed):
    vae.zero_grad()
    pyro.set_rng_seed(seed)
    est.differentiable_loss(vae.model, vae.guide, x).backward()
    return {"decoder": [p.grad.clone() for p in vae.decoder.parameters()],
            "encoder": [p.grad.clone() for p in vae.encoder.parameters()]}


def _close(a, b):
    return all(torch.allclose(u, v, atol=1e-5, rtol=1e-4) for u, v in zip(a, b))


def test_piwae_value_is_iwae_of_all_particles_and_piwae_1_k_is_iwae():
    assert _loss(PIWAE(4, 3, **NEST), 8) == pytest.approx(_loss(IWAE(12, **NEST), 8), rel=1e-6)
    pyro.set_rng_seed(9)
    vae = VAE((6,), latent_dim=2, hidden=(8,))
    x = torch.bernoulli(torch.full((5, 6), 0.5))
    piwae, iwae = _grads(vae, PIWAE(1, 4, **NEST), x, 10), _grads(vae, IWAE(4, **NEST), x, 10)
    assert _close(piwae["decoder"], iwae["decoder"]) and _close(piwae["encoder"], iwae["encoder"])


def test_piwae_routes_the_iwae_gradient_to_the_model_and_the_miwae_gradient_to_the_guide():
    """Decoder gradients equal IWAE(12)'s and encoder gradients MIWAE(3, 4)'s on the same particles
    (atol 1e-5, rtol 1e-4), and each differs from the other estimator's."""
    pyro.set_rng_seed(11)
    vae = VAE((6,), latent_dim=2, hidden=(8,))
    x = torch.bernoulli(torch.full((5, 6), 0.5))
    piwae, iwae, miwae = (_grads(vae, est, x, 12) for est in (PIWAE(3, 4, **NEST), IWAE(12, **NEST),
                                                               MIWAE(3, 4, **NEST)))
    assert _close(piwae["decoder"], iwae["decoder"]) and not _close(piwae["decoder"], miwae["decoder"])
    assert _close(piwae["encoder"], miwae["encoder"]) and not _close(piwae["encoder"], iwae["encoder"])


@pytest.mark.parametrize("name, kw", [("miwae", {"num_outer": 2, "num_inner": 3}), ("ciwae", {"num_particles": 5}),
                                      ("piwae", {"num_outer": 2, "num_inner": 3})])
def test_registered_estimators_train_a_vae_in_svi(name, kw):
    pyro.set_rng_seed(0)
    data = torch.bernoulli(torch.sigmoid(3 * torch.randn(20)).expand(64, 20))
    vae = VAE((20,), latent_dim=2, hidden=(32,))
    svi = SVI(vae.model, vae.guide, Adam({"lr": 1e-2}), loss=estimator(name, vae, **kw))
    losses = [svi.step(data) / len(data) for _ in range(40)]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.8 * first, (first, last)


@pytest.mark.parametrize("make, needle", [(lambda: MIWAE(0, 3), "num_outer"), (lambda: MIWAE(2, 1.5), "num_inner"),
                                          (lambda: CIWAE(1.5, 3), "beta"), (lambda: CIWAE(0.5, 0), "num_particles"),
                                          (lambda: PIWAE(True, 2), "num_outer")])
def test_bad_arguments_are_one_line_errors(make, needle):
    with pytest.raises(PyprogenError, match=needle) as info:
        make()
    assert "\n" not in str(info.value)


def test_piwae_trains_through_fit():
    """fit's step object calls differentiable_loss(...).backward(): the surrogate's gradients train the VAE."""
    from pyprogen.train import fit

    data = torch.bernoulli(torch.sigmoid(3 * torch.randn(20)).expand(64, 20))
    vae = VAE((20,), latent_dim=2, hidden=(32,))
    history = fit(vae, data, loss=PIWAE(2, 3), epochs=8, batch_size=32, lr=1e-2, progress=False)
    assert history[-1]["loss"] < 0.8 * history[0]["loss"], [h["loss"] for h in history]
