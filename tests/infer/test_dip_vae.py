"""DIP-VAE I/II: the penalties equal a hand computation on a fixed batch; the loss is the mean-field
ELBO plus B times the penalty; the registry builds both; training lowers the penalty."""
import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import TraceMeanField_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.infer import estimator
from pyprogen.infer.dip_vae import DIPELBO
from pyprogen.models import build

B, D = 6, 3


def fixed_batch():
    g = torch.Generator().manual_seed(0)
    loc = torch.randn(B, D, generator=g) * torch.tensor([2.0, 0.5, 1.0])
    scale = torch.rand(B, D, generator=g) + 0.2
    x = torch.randn(B, generator=g)
    return loc, scale, x


def model(x):
    with pyro.plate("data", len(x)):
        z = pyro.sample("z", pyro.distributions.Normal(torch.zeros(len(x), D), 1.0).to_event(1))
        pyro.sample("x", pyro.distributions.Normal(z.sum(-1), 1.0), obs=x)


def guide(x):
    loc, scale, _ = fixed_batch()
    with pyro.plate("data", len(x)):
        pyro.sample("z", pyro.distributions.Normal(loc, scale).to_event(1))


def hand_penalty(cov, lambda_od, lambda_d):
    total = 0.0
    for i in range(D):
        for j in range(D):
            if i != j:
                total += lambda_od * float(cov[i, j]) ** 2
        total += lambda_d * (float(cov[i, i]) - 1.0) ** 2
    return total


def hand_covariance(loc, scale, kind):
    mean = [sum(float(loc[n, i]) for n in range(B)) / B for i in range(D)]
    cov = torch.zeros(D, D, dtype=torch.float64)
    for i in range(D):
        for j in range(D):
            cov[i, j] = sum((float(loc[n, i]) - mean[i]) * (float(loc[n, j]) - mean[j]) for n in range(B)) / B
            if kind == "ii" and i == j:  # + E_p(x)[Σ(x)]
                cov[i, i] += sum(float(scale[n, i]) ** 2 for n in range(B)) / B
    return cov


@pytest.mark.parametrize("kind,lambda_od,lambda_d", [("i", 10.0, 100.0), ("ii", 3.0, 0.5), ("i", 0.0, 2.0)])
def test_penalty_equals_a_hand_computation(kind, lambda_od, lambda_d):
    loc, scale, x = fixed_batch()
    elbo = DIPELBO(kind, lambda_od, lambda_d)
    guide_trace = poutine.trace(guide).get_trace(x)
    expected = hand_penalty(hand_covariance(loc, scale, kind), lambda_od, lambda_d)
    got = elbo.penalty(guide_trace) / B  # the loss carries B times the per-point penalty
    assert abs(float(got) - expected) < 1e-5 * max(1.0, abs(expected))


@pytest.mark.parametrize("kind", ["i", "ii"])
def test_loss_is_meanfield_elbo_plus_batch_times_penalty(kind):
    loc, scale, x = fixed_batch()
    pyro.set_rng_seed(3)
    loss = DIPELBO(kind, 2.0, 5.0).loss(model, guide, x)
    pyro.set_rng_seed(3)
    base = TraceMeanField_ELBO().loss(model, guide, x)
    expected = base + B * hand_penalty(hand_covariance(loc, scale, kind), 2.0, 5.0)
    assert loss == pytest.approx(expected, rel=1e-5)


def test_defaults_follow_disentanglement_lib_and_registry_builds_them():
    assert (DIPELBO("i", 10.0).lambda_d, DIPELBO("ii", 10.0).lambda_d) == (100.0, 10.0)
    m1 = build("dip-vae-i", (20,), latent_dim=2, hidden=(8,), lambda_od=4.0)
    m2 = build("dip-vae-ii", (20,), latent_dim=2, hidden=(8,))
    assert (m1.default_loss().kind, m1.default_loss().lambda_d) == ("i", 40.0)
    assert (m2.default_loss().kind, m2.default_loss().lambda_od) == ("ii", 10.0)
    assert estimator("dip-ii", m1).kind == "ii" and estimator("dip-ii", m1).lambda_od == 4.0


def test_training_shrinks_the_covariance_penalty():
    """SVI on a small VAE: the DIP-I penalty on the code means falls well below its start."""
    torch.manual_seed(0)
    pyro.clear_param_store()
    probs = torch.sigmoid(3 * torch.randn(20))
    data = torch.bernoulli(probs.expand(128, 20))
    vae = build("dip-vae-i", (20,), latent_dim=3, hidden=(32,), lambda_od=5.0)
    loss = vae.default_loss()
    opt = torch.optim.Adam(vae.parameters(), lr=1e-2)

    def penalty():
        with torch.no_grad():
            return float(loss.penalty(poutine.trace(vae.guide).get_trace(data)))

    start = penalty()
    for _ in range(150):
        opt.zero_grad()
        loss.differentiable_loss(vae.model, vae.guide, data).backward()
        opt.step()
    assert penalty() < 0.3 * start


def test_bad_input_raises():
    with pytest.raises(PyprogenError, match="kind"):
        DIPELBO("iii")
    with pytest.raises(PyprogenError, match="lambda_od"):
        DIPELBO("i", -1.0)
    with pytest.raises(PyprogenError, match="lambda_d"):
        build("dip-vae-ii", (20,), latent_dim=2, lambda_d=float("nan"))
    vae = build("dip-vae-i", (20,), latent_dim=2, hidden=(8,))
    with pytest.raises(PyprogenError, match="at least 2"):
        DIPELBO("i").loss(vae.model, vae.guide, torch.ones(1, 20))
