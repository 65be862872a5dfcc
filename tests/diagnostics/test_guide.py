"""guide_posterior: draws of an exact-posterior guide, its log_likelihood group, netCDF round trip."""
import arviz as az
import numpy as np
import pyro
import pyro.distributions as dist
import torch

from pyprogen.diagnostics import guide_posterior

A = torch.tensor([[1.0, 0.5], [0.0, 1.0], [2.0, -1.0]])
B = torch.tensor([0.1, -0.2, 0.3])
S = 0.5
P = torch.linalg.inv(torch.eye(2) + A.T @ A / S**2)
X = torch.tensor([[0.7, 0.2, -1.1], [1.5, -0.4, 2.0], [0.0, 0.0, 0.0]])


def model(x):
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z @ A.T + B, S).to_event(1), obs=x)


def exact_guide(x):
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.MultivariateNormal((x - B) @ A @ P.T / S**2, covariance_matrix=P))


def test_draws_match_exact_posterior():
    idata = guide_posterior(exact_guide, X, num_samples=2000, num_chains=2, model=model, seed=0)
    assert dict(idata.posterior["z"].sizes) == {"chain": 2, "draw": 2000, "point": 3, "latent": 2}
    z = torch.as_tensor(idata.posterior["z"].values).reshape(-1, 3, 2)
    sd = P.diagonal().sqrt()
    # 4000 iid draws: standard error sd/63; tolerance 4 standard errors on the mean, 5 % on the sd
    assert torch.allclose(z.mean(0), (X - B) @ A @ P.T / S**2, atol=4 * float(sd.max()) / 63)
    assert torch.allclose(z.std(0), sd.expand(3, 2), rtol=0.05)
    ll = dist.Normal(z @ A.T + B, S).log_prob(X).sum(-1)  # by hand
    assert torch.allclose(torch.as_tensor(idata.log_likelihood["x"].values).reshape(-1, 3), ll, atol=1e-4)


def test_seed_reproducible():
    a = guide_posterior(exact_guide, X, num_samples=50, seed=1)
    b = guide_posterior(exact_guide, X.numpy(), num_samples=50, seed=1)
    assert np.array_equal(a.posterior["z"].values, b.posterior["z"].values)
    assert set(a.groups()) == {"posterior", "observed_data"}


def test_netcdf_round_trip_and_summary(tmp_path):
    idata = guide_posterior(exact_guide, X, num_samples=500, num_chains=2, model=model, seed=0)
    path = tmp_path / "guide.nc"
    idata.to_netcdf(str(path))
    back = az.from_netcdf(str(path))
    assert set(back.groups()) == set(idata.groups())
    assert np.array_equal(back.posterior["z"].values, idata.posterior["z"].values)
    assert np.array_equal(back.log_likelihood["x"].values, idata.log_likelihood["x"].values)
    summary = az.summary(back)
    assert len(summary) == 3 * 2
    # iid draws: r̂ within 0.01 of 1, summary means equal the draws' means
    assert (abs(summary["r_hat"] - 1) <= 0.01).all()
    np.testing.assert_allclose(summary["mean"].values,
                               idata.posterior["z"].mean(("chain", "draw")).values.ravel(), atol=1e-3)
