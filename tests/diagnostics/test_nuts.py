"""nuts_posterior against the closed-form posterior of a linear-Gaussian latent model.

z ~ N(0, I_2), x | z ~ N(A z + b, s^2 I_3)  =>  p(z | x) = N(P A^T (x - b) / s^2, P),  P = (I + A^T A / s^2)^-1.
"""
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.nn import PyroModule

from pyprogen.diagnostics import nuts_posterior

A = torch.tensor([[1.0, 0.5], [0.0, 1.0], [2.0, -1.0]])
B = torch.tensor([0.1, -0.2, 0.3])
S = 0.5
P = torch.linalg.inv(torch.eye(2) + A.T @ A / S**2)


def model(x):
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z @ A.T + B, S).to_event(1), obs=x)


def posterior_mean(x):
    return (x - B) @ A @ P.T / S**2


@pytest.fixture(scope="module")
def run():
    x = torch.tensor([[0.7, 0.2, -1.1], [1.5, -0.4, 2.0]])
    # jit_compile: the same draws as without (checked by hand), ~40 % less CPU time
    return x, nuts_posterior(model, x, num_samples=400, warmup_steps=200, num_chains=2, seed=0, jit_compile=True)


def test_layout(run):
    x, idata = run
    assert set(idata.groups()) >= {"posterior", "sample_stats", "log_likelihood", "observed_data"}
    assert dict(idata.posterior["z"].sizes) == {"chain": 2, "draw": 400, "point": 2, "latent": 2}
    assert dict(idata.log_likelihood["x"].sizes) == {"chain": 2, "draw": 400, "point": 2}
    assert torch.allclose(torch.as_tensor(idata.observed_data["x"].values), x)
    # a NUTS tree of depth d holds between 2^(d-1) and 2^d - 1 leapfrog steps (Hoffman & Gelman 2014)
    steps, depth = idata.sample_stats["n_steps"].values, idata.sample_stats["tree_depth"].values
    assert (steps >= 2 ** (depth - 1)).all() and (steps <= 2**depth - 1).all()


def test_matches_closed_form_posterior(run):
    import arviz as az

    x, idata = run
    z = torch.as_tensor(idata.posterior["z"].values).reshape(-1, 2, 2)  # (draws, point, latent)
    sd = P.diagonal().sqrt()
    # tolerance: 0.35 posterior sd on the mean (MC error with ESS ~ 400 is ~0.05 sd), 15 % on the sd
    assert torch.allclose(z.mean(0), posterior_mean(x), atol=0.35 * float(sd.min()))
    assert torch.allclose(z.std(0), sd.expand(2, 2), rtol=0.15)
    assert float(az.rhat(idata)["z"].max()) < 1.01
    assert float(az.ess(idata, method="bulk")["z"].min()) > 100
    # log_likelihood group: log N(x | A z + b, s^2 I) per draw and point, by hand
    ll = dist.Normal(z @ A.T + B, S).log_prob(x).sum(-1)
    assert torch.allclose(torch.as_tensor(idata.log_likelihood["x"].values).reshape(-1, 2), ll, atol=1e-4)


def test_sample_stats_recorded(run):
    _, idata = run
    stats = idata.sample_stats
    assert {"diverging", "tree_depth", "n_steps", "step_size", "acceptance_rate", "lp"} <= set(stats.data_vars)
    assert int(stats["diverging"].sum()) == 0  # a Gaussian posterior has no divergent transitions
    # lp is -U(z) = log p(z) + log p(x | z) at the draw (no transforms: z is unconstrained)
    z = torch.as_tensor(idata.posterior["z"].values)
    lp = dist.Normal(0.0, 1.0).log_prob(z).sum((-1, -2)) + torch.as_tensor(idata.log_likelihood["x"].values).sum(-1)
    assert torch.allclose(torch.as_tensor(stats["lp"].values, dtype=lp.dtype), lp, atol=1e-3)


def test_deterministic_and_rng_restored():
    x = torch.tensor([[0.7, 0.2, -1.1]])
    torch.manual_seed(123)
    a = nuts_posterior(model, x, num_samples=20, warmup_steps=20, num_chains=2, seed=3)
    after = torch.rand(3)
    torch.manual_seed(123)
    b = nuts_posterior(model, x, num_samples=20, warmup_steps=20, num_chains=2, seed=3)
    assert (a.posterior["z"].values == b.posterior["z"].values).all()
    assert torch.equal(after, torch.rand(3))  # the caller's RNG stream is untouched
    assert not (a.posterior["z"].values[0] == a.posterior["z"].values[1]).all()  # chains differ


class Decoder(PyroModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(2, 3)

    def model(self, x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(self.net(z), S).to_event(1), obs=x)


def test_decoder_weights_fixed():
    torch.manual_seed(0)
    dec = Decoder()
    before = dec.net.weight.detach().clone()
    nuts_posterior(dec.model, torch.zeros(2, 3), num_samples=10, warmup_steps=10, num_chains=1)
    assert dec.net.weight.grad is None and dec.net.weight.requires_grad
    assert torch.equal(dec.net.weight.detach(), before)
