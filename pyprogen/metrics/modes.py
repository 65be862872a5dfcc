"""Mode coverage on 2-D Gaussian mixtures (ring8, grid25).

The protocol of the mode-collapse benchmarks — Metz et al. 2017 (Unrolled GAN, Sec. 3.1),
Srivastava et al. 2017 (VEEGAN, Table 1) and Lin et al. 2018 (PacGAN, Sec. 5.1, Tables 2–3):

- a generated sample is **high quality** when it lies within 3σ of its nearest mode centre
  (σ the mixture's component standard deviation);
- a mode is **covered** when at least ``min_count`` high-quality samples are assigned to it.
  PacGAN counts a mode as lost with fewer than 20 of 2500 samples on the 25-mode grid, i.e.
  one fifth of the expected 100 per mode; the default here is that same rule,
  ``min_count = max(1, round(N / (5·K)))`` for N samples and K modes (20 for N = 2500, K = 25;
  62 for K = 8). VEEGAN reports modes with any high-quality sample: pass ``min_count=1``.
"""
import torch

from ..errors import expect


def _as_2d(a, argument):
    t = torch.as_tensor(a, dtype=torch.float64)
    expect(t.dim() == 2 and t.shape[0] >= 1, argument, "an array of shape (N, D) with N >= 1", tuple(t.shape))
    expect(bool(torch.isfinite(t).all()), argument, "finite values", "NaN or inf")
    return t


def mode_coverage(samples, centers, *, std, min_count=None):
    """``{"modes_covered", "high_quality_fraction"}`` for ``samples`` (N, D) around ``centers``
    (K, D) of component standard deviation ``std`` (the contract's result keys)."""
    x, c = _as_2d(samples, "samples"), _as_2d(centers, "centers")
    expect(x.shape[1] == c.shape[1], "centers", f"the same dimension as samples ({x.shape[1]})", c.shape[1])
    expect(isinstance(std, (int, float)) and std > 0, "std", "a number > 0", std)
    n, k = x.shape[0], c.shape[0]
    if min_count is None:
        min_count = max(1, round(n / (5 * k)))
    expect(isinstance(min_count, int) and min_count >= 1, "min_count", "an integer >= 1", min_count)
    dist, nearest = torch.cdist(x, c).min(dim=-1)
    good = dist <= 3 * std
    counts = torch.bincount(nearest[good], minlength=k)
    return {"modes_covered": int((counts >= min_count).sum()),
            "high_quality_fraction": float(good.double().mean())}
