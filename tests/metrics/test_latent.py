"""Active units (Burda et al. 2016) and the β-VAE / FactorVAE disentanglement scores."""
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.metrics import mig
from pyprogen.metrics.latent import (FactorIndex, active_units, beta_vae_score, encoder_means, factor_vae_score,
                                     unit_activity)

SIZES = (3, 6, 10, 8, 8)  # a dSprites-like grid of discrete factors


def _factors(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, s, n) for s in SIZES], 1)


class _Encoder:
    """x -> E_q[z|x] = x * scales (a linear encoder whose unit variances are known)."""

    def __init__(self, scales):
        self.scales = torch.tensor(scales)

    def encode(self, x):
        return x * self.scales


class _GuideOnly:
    """A plain Pyro guide without ``encode``: the mean is read from the trace of site "z"."""

    def guide(self, x=None, n=None):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(2 * x, 0.5).to_event(1))


def test_active_units_counts_units_above_threshold():
    x = torch.randn(2000, 4, generator=torch.Generator().manual_seed(0))
    model = _Encoder([1.0, 0.5, 0.05, 0.001])  # variances ~1, 0.25, 0.0025, 1e-6
    activity = unit_activity(encoder_means(model, x))
    expected = np.var((x * model.scales).numpy(), axis=0, ddof=1)
    np.testing.assert_allclose(activity.numpy(), expected, rtol=1e-5)
    assert active_units(model, x) == 2
    assert active_units(model, x, threshold=0.001) == 3


def test_active_units_reads_any_pyro_guide():
    x = torch.randn(500, 3, generator=torch.Generator().manual_seed(1)) * torch.tensor([1.0, 0.1, 0.01])
    means = encoder_means(_GuideOnly(), x, batch_size=128)
    assert torch.allclose(means, 2 * x)
    assert active_units(_GuideOnly(), x) == 2  # variances 4, 0.04, 0.0004
    with pytest.raises(PyprogenError, match="threshold"):
        active_units(_GuideOnly(), x, threshold=-1)


def test_factor_index_pairs_share_the_fixed_factor():
    f = _factors(1000)
    index, rng = FactorIndex(f), np.random.default_rng(0)
    a, b = index.fixed_pair(2, 64, rng)
    assert (f[a, 2] == f[b, 2]).all() and not (f[a, 3] == f[b, 3]).all()
    batch = index.fixed_batch(4, 64, rng)
    assert len(np.unique(f[batch, 4])) == 1 and len(np.unique(f[batch, 0])) > 1


def test_scores_of_true_factors_are_perfect_and_of_noise_near_chance():
    f = _factors()
    rng = np.random.default_rng(1)
    truth = np.concatenate([f + 0.01 * rng.normal(size=f.shape), rng.normal(size=(len(f), 3))], 1)
    noise = rng.normal(size=(len(f), 8))
    kw = {"num_train": 600, "num_eval": 400}
    assert beta_vae_score(truth, f, **kw)["eval_accuracy"] >= 0.99
    assert factor_vae_score(truth, f, num_variance_estimate=2000, **kw)["eval_accuracy"] == 1.0
    # five factors: chance is 0.2; a majority vote / logistic regression on noise stays close to it
    assert beta_vae_score(noise, f, **kw)["eval_accuracy"] < 0.35
    assert factor_vae_score(noise, f, num_variance_estimate=2000, **kw)["eval_accuracy"] < 0.35


def test_factor_vae_prunes_collapsed_units():
    f = _factors(2000)
    codes = np.concatenate([f.astype(float), np.full((len(f), 2), 3.0)], 1)  # two constant (collapsed) units
    out = factor_vae_score(codes, f, num_train=200, num_eval=100, num_variance_estimate=1000)
    assert out["num_active_dims"] == 5 and out["eval_accuracy"] == 1.0
    empty = factor_vae_score(np.zeros((100, 3)), f[:100], num_train=10, num_eval=10, num_variance_estimate=50)
    assert empty == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_mig_of_true_factors_is_high_and_of_noise_near_zero():
    """The compare table's MIG (pyprogen.metrics.mig) on the same dSprites-like factors."""
    f = _factors()
    rng = np.random.default_rng(2)
    assert mig(f + 0.01 * rng.normal(size=f.shape), f) > 0.9
    assert mig(rng.normal(size=(len(f), 6)), f) < 0.05
