"""1-D divergences against analytic values and scipy."""
import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch import distributions as D

from pyprogen.errors import PyprogenError
from pyprogen.metrics import histogram_kl, kde_kl, wasserstein1
from pyprogen.metrics.divergences import histogram_kl_rows, wasserstein1_rows

# KL(N(0,1) ‖ N(1,1)) = (μ1 − μ0)²/2 = 0.5. With 10⁵ samples per side the histogram estimate
# (100 bins, bias ≈ bins/2n ≈ 0.0005, sd ≈ 0.005) and the KDE estimate (Silverman h ≈ 0.09,
# which shrinks the KL to 0.5/(1 + h²) ≈ 0.496) are within 0.02 of the truth.
TOL_KL = 0.02


@pytest.fixture(scope="module")
def normals():
    g = torch.Generator().manual_seed(0)
    return torch.randn(100_000, generator=g), torch.randn(100_000, generator=g) + 1


def test_histogram_kl_matches_analytic_gaussian_kl(normals):
    ref, samples = normals
    assert histogram_kl(samples, ref) == pytest.approx(0.5, abs=TOL_KL)
    assert histogram_kl(samples, D.Normal(0.0, 1.0)) == pytest.approx(0.5, abs=TOL_KL)  # exact bin masses
    assert histogram_kl(samples.numpy(), ref.numpy()) == pytest.approx(histogram_kl(samples, ref), abs=1e-12)


def test_kde_kl_matches_analytic_gaussian_kl(normals):
    ref, samples = normals
    assert kde_kl(samples, ref) == pytest.approx(0.5, abs=TOL_KL)
    assert kde_kl(samples, D.Normal(0.0, 1.0)) == pytest.approx(0.5, abs=TOL_KL)


def test_histogram_bins_and_overflow_by_hand():
    ref = torch.tensor([0.05, 0.15, 0.15, 0.95])  # bins of width 0.1 over (0, 1)
    samples = torch.tensor([0.05, 0.15, 0.55, 1.5])  # one value above the range: the overflow bin
    # p = {b0: 1/4, b1: 1/2, b9: 1/4}, q = {b0: 1/4, b1: 1/4, b5: 1/4, above: 1/4}; q(b9) = 0 -> 1e-10
    expected = 0.5 * math.log(2) + 0.25 * math.log(0.25 / 1e-10)
    assert histogram_kl(samples, ref, bins=10, range=(0, 1)) == pytest.approx(expected, rel=1e-9)
    # all generated mass outside the range: uniform p over 100 bins costs log(1e10) − log(100)
    u = (torch.arange(10_000, dtype=torch.float64) + 0.5) / 10_000
    assert histogram_kl(u + 5, u, bins=100, range=(0, 1)) == pytest.approx(math.log(1e10) - math.log(100), rel=1e-9)


def test_histogram_kl_exact_reference_masses_by_cdf():
    x = torch.tensor([0.1, 0.3, 0.35, 0.8])
    p = np.full(4, 0.25)  # Uniform(0, 1) on 4 bins over (0, 1); both overflow bins have mass 0
    q = np.array([0.25, 0.5, 1e-10, 0.25])
    assert histogram_kl(x, D.Uniform(0.0, 1.0), bins=4, range=(0, 1)) == pytest.approx(float(np.sum(p * np.log(p / q))))


@pytest.mark.parametrize("n, m", [(1000, 1000), (700, 1500), (1, 5)])
def test_wasserstein1_equals_scipy(n, m):
    rng = np.random.default_rng(n + m)
    a, b = rng.normal(size=n), rng.gamma(2.0, size=m)
    assert wasserstein1(a, b) == pytest.approx(scipy.stats.wasserstein_distance(a, b), rel=1e-12, abs=1e-12)


def test_wasserstein1_rows_and_analytic_shift():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(3, 20_000, generator=g, dtype=torch.float64)
    b = torch.randn(3, 20_000, generator=g, dtype=torch.float64) + 1
    w = wasserstein1_rows(a, b)
    for i in range(3):
        assert float(w[i]) == pytest.approx(scipy.stats.wasserstein_distance(a[i], b[i]), rel=1e-12)
    assert torch.allclose(w, torch.ones(3, dtype=torch.float64), atol=0.03)  # W1(N(0,1), N(1,1)) = 1


def test_all_three_sit_at_their_noise_floor_for_one_distribution():
    """Two 10,000-draws of Beta(2, 5): each statistic is small, and the rows API agrees with the scalar one."""
    beta = D.Beta(2.0, 5.0)
    torch.manual_seed(2)
    a, b = beta.sample((2, 10_000)).double()
    rng = (-0.1, 1.0)
    h = histogram_kl(a, b, range=rng)
    # histogram KL of two same-distribution samples ≈ (occupied bins − 1)/n ≈ 0.009 (measured 0.013-0.02)
    assert h < 0.03
    assert kde_kl(a, b, range=rng) < 0.005
    # W1 between two n-samples of one distribution is O(n^-1/2): 0.0027 ± 0.0011 measured over 100 pairs
    assert wasserstein1(a, b) < 0.01
    assert float(histogram_kl_rows(a[None], b[None], range=rng)[0]) == pytest.approx(h, rel=1e-12)


def test_bad_input_raises():
    with pytest.raises(PyprogenError, match="bins"):
        histogram_kl(torch.randn(10), torch.randn(10), bins=0)
    with pytest.raises(PyprogenError, match="finite"):
        histogram_kl(torch.tensor([0.0, math.nan]), torch.randn(10))
    with pytest.raises(PyprogenError, match="range"):
        histogram_kl(torch.randn(10), torch.randn(10), range=(1, 0))
    with pytest.raises(PyprogenError, match="bandwidth"):
        kde_kl(torch.randn(10), torch.randn(10), bandwidth=-1.0)
    with pytest.raises(PyprogenError, match="non-empty"):
        wasserstein1(torch.tensor([]), torch.randn(10))
