"""diagnose_dir on a tiny VAE trained for one epoch with pyprogen.train.fit."""
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from pyprogen.diagnostics.arviz_adapter import group_names, load_netcdf, summary
from pyprogen.errors import PyprogenError
from pyprogen.experiments.diagnose import diagnose_dir
from pyprogen.io import read_json
from pyprogen.models import build
from pyprogen.train import fit


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae")
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(256, 12, generator=g) < torch.linspace(0.1, 0.9, 12)).float()
    torch.manual_seed(0)  # the initial weights, too: otherwise they depend on which tests ran before
    model = build("vae", (12,), latent_dim=2, hidden=(16,))
    fit(model, x, epochs=1, batch_size=64, seed=0, out=str(out), progress=False)
    return str(out), x[:3]


@pytest.fixture(scope="module")
def result(run_dir):
    out, x = run_dir
    return diagnose_dir(out, data=x.numpy(), points=3, num_samples=60, warmup_steps=60, num_particles=1000,
                        local_steps=100, progress=False)


def log_px_by_quadrature(model, x, half_width=7.0, n=301):
    """log ∫ N(z; 0, I) p(x | z) dz on a 2-D grid (trapezoid weights ~ uniform cell area)."""
    u = torch.linspace(-half_width, half_width, n)
    z = torch.cartesian_prod(u, u)
    with torch.no_grad():
        logits = model.decoder(z)
    log_lik = torch.distributions.Bernoulli(logits=logits[:, None, :]).log_prob(x[None]).sum(-1)  # (grid, N)
    log_prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1, keepdim=True)
    cell = (u[1] - u[0]) ** 2
    return torch.logsumexp(log_prior + log_lik, 0) + math.log(cell)


def test_files_and_netcdf(result, run_dir):
    files = result["files"]
    assert set(files) == {"diagnostics.nc", "diagnostics.json", "diagnostics.md", "pair.png", "k_hat.png"}
    idata = load_netcdf(files["diagnostics.nc"])
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data", "guide_posterior",
            "diagnostics"} <= set(group_names(idata))
    assert dict(idata.posterior["z"].sizes) == {"chain": 2, "draw": 60, "point": 3, "latent": 2}
    np.testing.assert_allclose(idata.diagnostics["k_hat"].values, result["k_hat"])
    np.testing.assert_allclose(idata.observed_data["x"].values, run_dir[1].numpy())
    assert len(summary(idata)) == 3 * 2
    saved = read_json(files["diagnostics.json"])
    assert saved["amortisation_gap_nats"] == pytest.approx(result["amortisation_gap_nats"])
    for name in ("pair.png", "k_hat.png"):
        with open(files[name], "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_log_px_against_quadrature(result, run_dir):
    from pyprogen.train import load

    out, x = run_dir
    reference = log_px_by_quadrature(load(out), x)
    # 1000 importance samples from the better of guide / per-point guide: within 0.05 nats of the grid
    assert torch.allclose(torch.tensor(result["log_px"]), reference, atol=0.05)
    gap = np.array(result["log_px"]) - np.array(result["elbo"])
    assert (gap > -0.05).all()  # ELBO <= log p(x) up to Monte Carlo error
    assert result["gap_nats"] == pytest.approx(result["approximation_gap_nats"] + result["amortisation_gap_nats"])


def test_needs_data_name(run_dir):
    with pytest.raises(PyprogenError, match="data"):
        diagnose_dir(run_dir[0], points=3, progress=False)


def test_diagnostics_do_not_import_train():
    """The run-directory runner lives in experiments; importing the diagnostics loads no pyprogen.train."""
    code = ("import sys, pyprogen.diagnostics, pyprogen.diagnostics.report; "
            "print(sorted(m for m in sys.modules if m.startswith('pyprogen.train')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
