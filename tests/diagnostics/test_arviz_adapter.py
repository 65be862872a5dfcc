"""arviz_adapter: the one door to ArviZ. Round trip through netCDF, PSIS and r̂ against hand values."""
import pathlib
import re

import numpy as np
import pytest

from pyprogen.diagnostics import arviz_adapter as adapter
from pyprogen.errors import PyprogenError

ROOT = pathlib.Path(__file__).resolve().parents[2] / "pyprogen"


def draws(seed=0, chains=2, n=300, points=3):
    rng = np.random.default_rng(seed)
    return {"z": rng.normal(size=(chains, n, points, 2))}, {"x": rng.normal(size=(chains, n, points))}


def test_round_trip_through_netcdf(tmp_path):
    posterior, loglik = draws()
    x = np.arange(9.0).reshape(3, 3)
    dims = {"z": ["point", "latent"], "x": ["point"]}
    idata = adapter.from_draws(posterior, log_likelihood=loglik, observed_data={"x": x}, dims=dims,
                               attrs={"sampler": "test"})
    extra = adapter.point_dataset({"k_hat": [0.1, -np.inf, 0.9]}, idata.posterior["point"].values)
    full = adapter.with_groups(idata, {"diagnostics": extra})
    assert "diagnostics" not in adapter.group_names(idata)  # with_groups copies
    path = tmp_path / "sub" / "idata.nc"
    adapter.save_netcdf(full, path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["idata.nc"]  # no temp file left
    back = adapter.load_netcdf(str(path))
    assert set(adapter.group_names(back)) == {"posterior", "log_likelihood", "observed_data", "diagnostics"}
    # bit-for-bit values, dims as given
    assert np.array_equal(back.posterior["z"].values, posterior["z"])
    assert back.posterior["z"].dims == ("chain", "draw", "point", "latent")
    assert np.array_equal(back.log_likelihood["x"].values, loglik["x"])
    assert np.array_equal(back.observed_data["x"].values, x)
    assert np.array_equal(back.diagnostics["k_hat"].values, [0.1, -np.inf, 0.9])


@pytest.mark.parametrize("where", ["/proc/no/such/dir/x.nc", "nul\x00byte.nc"])
def test_save_to_an_unusable_path_is_one_line_error(where, tmp_path):
    path = where if where.startswith("/") else str(tmp_path / where)
    with pytest.raises(PyprogenError, match="^out: could not write") as info:
        adapter.save_netcdf(adapter.from_draws(draws()[0]), path)
    assert "\n" not in str(info.value)


def test_concat_chains_and_summary():
    a, _ = draws(seed=1, chains=1)
    b, _ = draws(seed=2, chains=1)
    joined = adapter.concat_chains([adapter.from_draws(a), adapter.from_draws(b)])
    assert dict(joined.posterior["z"].sizes) == {"chain": 2, "draw": 300, "z_dim_0": 3, "z_dim_1": 2}
    assert np.array_equal(joined.posterior["z"].values[1], b["z"][0])
    table = adapter.summary(joined)
    assert len(table) == 6
    # summary means are the draws' means (rounded to 2 decimals by ArviZ)
    np.testing.assert_allclose(table["mean"].values, np.concatenate([a["z"], b["z"]]).mean((0, 1)).ravel(),
                               atol=6e-3)


def test_rhat_and_ess_of_iid_and_of_shifted_chains():
    iid, _ = draws(seed=3, chains=4, n=1000)
    good = adapter.from_draws(iid)
    # iid N(0, 1) draws: r̂ within 0.01 of 1 and bulk ESS near the 4000 draws (Vehtari et al. 2021)
    assert float(abs(adapter.rhat(good)["z"] - 1).max()) < 0.01
    assert float(adapter.ess(good, method="bulk")["z"].min()) > 3000
    assert float(adapter.ess(good, method="tail")["z"].min()) > 2500
    shifted = {"z": iid["z"] + np.arange(4.0)[:, None, None, None]}  # chain means 0, 1, 2, 3
    # 8 split half-chains with means 0,0,1,1,2,2,3,3: between-chain variance B/n = 10/7 against within W = 1,
    # r̂ = sqrt((W (n-1)/n + B/n) / W) ≈ sqrt(1 + 10/7) = 1.56 (rank normalisation shrinks it a little; 0.05)
    assert np.allclose(adapter.rhat(adapter.from_draws(shifted))["z"].values, 1.56, atol=0.05)


def test_psis_of_constant_weights_is_uniform():
    smoothed, k = adapter.psis(np.zeros((2, 400)))
    assert smoothed.shape == (2, 400) and k.shape == (2,)
    # normalised log weights of equal weights: log(1/S) for every sample
    np.testing.assert_allclose(smoothed, np.log(1 / 400), atol=1e-12)


def test_only_the_adapter_imports_arviz():
    pattern = re.compile(r"^\s*(import arviz|from arviz)", re.M)
    importers = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py") if pattern.search(p.read_text()))
    assert importers == ["diagnostics/arviz_adapter.py"]
