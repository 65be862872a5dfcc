"""check: r̂/ESS, NUTS-vs-guide gaps and the inference-gap split against closed forms.

Linear-Gaussian model: p(z|x) = N(m, P), Λ = P^-1. A guide q = N(m + δ, diag(f^2 P_ii)) has
KL(q || p(z|x)) = ½[tr(Λ D) + δᵀΛδ − d + log det P − log det D]; the best mean-field Gaussian
q* = N(m, diag(1/Λ_ii)) has KL* = ½[log det P + Σ log Λ_ii]. So (Cremer et al. 2018)
    approximation gap = KL*,   amortisation gap = KL − KL*,   log p(x) − ELBO = KL.
"""
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyprogen.diagnostics import check, format_check

A = torch.tensor([[1.0, 0.5], [0.0, 1.0], [2.0, -1.0]])
B = torch.tensor([0.1, -0.2, 0.3])
S = 0.5
P = torch.linalg.inv(torch.eye(2) + A.T @ A / S**2)
LAM = torch.linalg.inv(P)
X = torch.tensor([[0.7, 0.2, -1.1], [1.5, -0.4, 2.0]])
DELTA = torch.tensor([0.2, -0.1])
F = 0.7


def model(x):
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(z @ A.T + B, S).to_event(1), obs=x)


def guide(x):
    m = (x - B) @ A @ P.T / S**2
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(m + DELTA, F * P.diagonal().sqrt()).to_event(1))


def kl_to_posterior(delta, var):
    d = torch.diag(var)
    return 0.5 * (torch.trace(LAM @ d) + delta @ LAM @ delta - 2 + torch.logdet(P) - torch.logdet(d))


@pytest.fixture(scope="module")
def result():
    return check(model, guide, X, num_samples=300, warmup_steps=200, guide_samples=1000, num_particles=2000,
                 local_steps=300, seed=0, jit_compile=True)


def test_gap_split_matches_closed_form(result):
    kl = float(kl_to_posterior(DELTA, F**2 * P.diagonal()))
    kl_star = float(kl_to_posterior(torch.zeros(2), 1 / LAM.diagonal()))
    exact = dist.MultivariateNormal(B, A @ A.T + S**2 * torch.eye(3)).log_prob(X)
    # tolerances: IS with 2000 particles (k̂ < 0.7) ~0.01 nats; ELBO means ~0.02; SVI fit ~0.02
    assert torch.allclose(torch.tensor(result["log_px"]), exact, atol=0.05)
    assert abs(result["gap_nats"] - kl) < 0.05
    assert abs(result["approximation_gap_nats"] - kl_star) < 0.05
    assert abs(result["amortisation_gap_nats"] - (kl - kl_star)) < 0.08
    assert result["gap_nats"] == pytest.approx(result["approximation_gap_nats"] + result["amortisation_gap_nats"])


def test_posterior_gaps_match_closed_form(result):
    z = result["sites"]["z"]
    assert result["rhat_max"] < 1.02 and result["ess_bulk_min"] > 100 and result["divergences"] == 0
    # |E_nuts z - E_q z| = |δ| per dim (NUTS MC error ~0.03); sd_q / sd_nuts = f (within 12 %)
    assert torch.allclose(torch.tensor(z["mean_gap"]), DELTA.abs(), atol=0.06)
    assert torch.allclose(torch.tensor(z["sd_ratio"]), torch.full((2,), F), rtol=0.12)
    assert torch.allclose(torch.tensor(z["sd_nuts"]), P.diagonal().sqrt(), rtol=0.12)
    # q narrower than p in the whitened sense: heavy-tailed weights, k̂ = 1 - 0.7^2 ≈ 0.5 (Pareto theory)
    assert all(0.2 < k < 0.9 for k in result["k_hat"])


def test_format_check(result):
    table = format_check(result)
    lines = table.splitlines()
    assert lines[0].startswith("| diagnostic") and set(lines[1]) <= {"|", "-"}
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert f"{result['amortisation_gap_nats']:.2f}" in table and "k̂ < 0.5" in table


def test_the_per_point_optimum_lives_in_the_guides_own_family():
    """For a VAE-family guide q* is the guide's family with per-point encoder outputs: it starts at the amortised
    guide exactly (diagonal: the same distribution; IAF: the same flow), and after fitting its ELBO is at least the
    amortised one on every point (2,000 particles, tolerance 0.05 nats); a plain function guide gets the Gaussian."""
    from pyprogen.diagnostics.check import LocalFamilyGuide, LocalGaussianGuide, fit_local_guide, local_family
    from pyprogen.diagnostics.psis import diagnostic_log_weights
    from pyprogen.models import build
    from pyprogen.train import fit

    x = (torch.rand(200, 1, 4, 4, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    for guide in ("diagonal", "iaf"):
        torch.manual_seed(0)
        vae = build("vae", (1, 4, 4), latent_dim=2, hidden=(16,), guide=guide)
        fit(vae, x, epochs=3, batch_size=50, progress=False)
        assert local_family(vae.guide) is vae
        points = x[:4]
        start = LocalFamilyGuide(vae, points)
        with torch.no_grad():
            q0, q1 = vae.posterior(points), start.owner.posterior_from(start.loc, start.log_scale.exp(), start.context)
            z = q0.sample((3,))
            assert torch.allclose(q0.log_prob(z), q1.log_prob(z), atol=1e-5)
        pyro.set_rng_seed(1)
        local = fit_local_guide(vae.model, points, None, guide=vae.guide, steps=200, lr=3e-2)
        assert isinstance(local, LocalFamilyGuide)
        with torch.no_grad():
            amortised = diagnostic_log_weights(vae.model, vae.guide, points, 2000).mean(0)
            best = diagnostic_log_weights(vae.model, local, points, 2000).mean(0)
        assert bool((best >= amortised - 0.05).all()), (guide, best, amortised)
    assert local_family(lambda x: None) is None and "Gaussian" in LocalGaussianGuide.family
