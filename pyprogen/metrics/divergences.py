"""1-D divergences between samples (or samples and a distribution): histogram KL, KDE KL, exact W1.

All three are used by the stability study (Table 2.2 of the research notes), which compares
generated values with draws of the true target:

- :func:`histogram_kl` — KL(reference ‖ samples) = Σ_b p_b log(p_b / q_b) between normalised
  histograms on shared bins: ``bins`` equal bins over ``range`` plus two overflow bins (below /
  above), so mass outside the range counts. An empty ``samples`` bin gets probability 1e-10
  (a bin of reference mass p missed entirely costs ≈ p·(23 + log p)). With a
  ``torch.distributions.Distribution`` as reference the bin probabilities are exact (CDF
  differences) where torch has a CDF, else estimated from 10⁶ draws.
- :func:`kde_kl` — the same KL between Gaussian kernel density estimates (Silverman's rule
  bandwidth) evaluated on a fine grid over ``range`` (binned KDE: counts on ``grid`` cells
  convolved with the sampled kernel), with one overflow cell for the mass outside the grid.
- :func:`wasserstein1` — exact W1 = ∫|F_a(x) − F_b(x)| dx between two empirical distributions
  of any sizes (the CDF/quantile-function integral; equals ``scipy.stats.wasserstein_distance``).

The ``*_rows`` variants take ``(R, n)`` tensors and return ``(R,)`` — R independent comparisons
in one call (the study's 100 draws of 10,000 values).
"""
import math

import numpy as np
import torch

from ..errors import PyprogenError
from ..seeding import seeded

EMPTY_BIN = 1e-10


def _rows(x, name):
    x = torch.as_tensor(x).detach().to(torch.float64)
    if x.dim() == 1:
        x = x.unsqueeze(0)
    elif x.dim() == 2 and x.shape[1] == 1:
        x = x.t()
    if x.dim() != 2 or x.shape[1] == 0:
        raise PyprogenError(f"{name}: expected a non-empty 1-D array of values, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise PyprogenError(f"{name}: expected finite values, got NaN or inf")
    return x


def _is_dist(x):
    return isinstance(x, torch.distributions.Distribution)


def quantile_range(dist, *, lower=0.0005, upper=0.9995, widen=0.1, draws=1_000_000, seed=0):
    """(lo, hi): the ``lower``–``upper`` quantile range of ``dist`` from ``draws`` seeded draws,
    widened by ``widen`` of its width on each side (the study's fixed histogram range)."""
    with seeded(seed):
        x = dist.sample((draws,)).to(torch.float64)
    x = x[torch.isfinite(x)]
    lo, hi = (float(q) for q in np.quantile(x.numpy(), [lower, upper]))
    pad = widen * (hi - lo) if hi > lo else 1.0
    return lo - pad, hi + pad


def _range(range_, *arrays):
    if range_ is not None:
        lo, hi = float(range_[0]), float(range_[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise PyprogenError(f"range: expected finite (low, high) with low < high, got {range_}")
        return lo, hi
    lo = min(float(a.min()) for a in arrays)
    hi = max(float(a.max()) for a in arrays)
    pad = 1e-9 * max(1.0, abs(lo), abs(hi)) if hi == lo else 0.0
    return lo - pad, hi + pad


def bin_probabilities_rows(x, lo, hi, bins):
    """``(R, n)`` values -> ``(R, bins + 2)`` probabilities: [below lo, bins over [lo, hi], above hi]."""
    r, n = x.shape
    idx = torch.floor((x - lo) / (hi - lo) * bins).long().clamp_(-1, bins) + 1  # 0 = below, bins+1 = above
    idx = idx + torch.arange(r).unsqueeze(1) * (bins + 2)
    counts = torch.bincount(idx.flatten(), minlength=r * (bins + 2)).view(r, bins + 2)
    return counts.to(torch.float64) / n


def discrete_kl(p, q):
    """Σ p log(p / max(q, 1e-10)) over the last dimension (terms with p = 0 are 0)."""
    q = q.clamp_min(EMPTY_BIN)
    return torch.where(p > 0, p * (torch.log(p.clamp_min(1e-300)) - torch.log(q)), torch.zeros_like(p)).sum(-1)


def _dist_bin_probabilities(dist, lo, hi, bins, draws=1_000_000):
    from ..data.targets import cdf

    edges = torch.linspace(lo, hi, bins + 1, dtype=torch.float64)
    try:
        c = cdf(dist, edges.to(torch.get_default_dtype())).to(torch.float64)
    except NotImplementedError:
        return bin_probabilities_rows(dist.sample((draws,)).to(torch.float64).unsqueeze(0), lo, hi, bins)[0]
    return torch.cat([c[:1], c.diff(), 1 - c[-1:]]).clamp_min(0)


def histogram_kl_rows(samples, reference, *, bins=100, range):
    """KL(reference ‖ samples) per row; ``samples`` ``(R, n)``, ``reference`` ``(R, m)`` or a Distribution."""
    lo, hi = range
    q = bin_probabilities_rows(samples, lo, hi, bins)
    p = (_dist_bin_probabilities(reference, lo, hi, bins).unsqueeze(0) if _is_dist(reference)
         else bin_probabilities_rows(reference, lo, hi, bins))
    return discrete_kl(p, q)


def histogram_kl(samples, reference, *, bins=100, range=None) -> float:
    """KL(reference ‖ samples) between normalised histograms on shared bins with two overflow bins.

    ``range`` defaults to the span of both sample sets (of ``samples`` and the 0.05–99.95 %
    quantile range of a distribution reference).
    """
    if not (isinstance(bins, int) and bins >= 1):
        raise PyprogenError(f"bins: expected an integer >= 1, got {bins!r}")
    x = _rows(samples, "samples")
    if _is_dist(reference):
        ref = reference
        span = [x, torch.tensor(quantile_range(reference, widen=0.0, draws=100_000))]
    else:
        ref = _rows(reference, "reference")
        span = [x, ref]
    return float(histogram_kl_rows(x, ref, bins=bins, range=_range(range, *span))[0])


def bandwidth_rows(x, rule="silverman"):
    """Per-row Gaussian-kernel bandwidth: Silverman 0.9·min(σ, IQR/1.34)·n^(-1/5) or Scott σ·n^(-1/5)."""
    n = x.shape[1]
    sd = x.std(1) if n > 1 else torch.zeros(x.shape[0], dtype=x.dtype)
    if rule == "scott":
        h = sd * n ** -0.2
    elif rule == "silverman":
        q = torch.quantile(x, torch.tensor([0.25, 0.75], dtype=x.dtype), dim=1)
        iqr = (q[1] - q[0]) / 1.34
        spread = torch.where(iqr > 0, torch.minimum(sd, iqr), sd)
        h = 0.9 * spread * n ** -0.2
    else:
        raise PyprogenError(f"bandwidth: expected 'silverman', 'scott' or a positive number, got {rule!r}")
    return h.clamp_min(1e-12)


def kde_masses_rows(x, lo, hi, grid, bandwidth):
    """``(R, n)`` values -> ``(R, grid + 1)`` masses: KDE mass on each grid cell, then the mass outside."""
    cells = bin_probabilities_rows(x, lo, hi, grid)[:, 1:-1]
    dx = (hi - lo) / grid
    h = bandwidth if torch.is_tensor(bandwidth) else torch.full((x.shape[0],), float(bandwidth), dtype=x.dtype)
    half = int(min(grid, math.ceil(4 * float(h.max()) / dx)))
    offsets = torch.arange(-half, half + 1, dtype=x.dtype) * dx
    kernel = torch.exp(-0.5 * (offsets.unsqueeze(0) / h.unsqueeze(1)) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)  # (R, 2·half + 1), each sums to 1
    size = 1 << (grid + 2 * half).bit_length()  # linear (not circular) convolution by FFT
    full = torch.fft.irfft(torch.fft.rfft(cells, n=size) * torch.fft.rfft(kernel, n=size), n=size)
    smooth = full[:, half:half + grid].clamp_min(0)  # the kernel is symmetric: no flip needed
    return torch.cat([smooth, (1 - smooth.sum(1, keepdim=True)).clamp_min(0)], 1)


def _dist_masses(dist, lo, hi, grid):
    from ..data.targets import log_density

    dx = (hi - lo) / grid
    centres = lo + (torch.arange(grid, dtype=torch.float64) + 0.5) * dx
    lp = log_density(dist, centres.to(torch.get_default_dtype()))
    m = torch.exp(lp.to(torch.float64)).nan_to_num(0.0) * dx
    return torch.cat([m, (1 - m.sum()).clamp_min(0).unsqueeze(0)])


def kde_kl_rows(samples, reference, *, range, grid=512, bandwidth="silverman"):
    """KL(reference ‖ samples) per row between binned Gaussian KDEs (exact density for a Distribution)."""
    lo, hi = range
    bw = lambda x: bandwidth_rows(x, bandwidth) if isinstance(bandwidth, str) else bandwidth  # noqa: E731
    q = kde_masses_rows(samples, lo, hi, grid, bw(samples))
    p = (_dist_masses(reference, lo, hi, grid).unsqueeze(0) if _is_dist(reference)
         else kde_masses_rows(reference, lo, hi, grid, bw(reference)))
    return discrete_kl(p, q)


def kde_kl(samples, reference, *, grid=512, bandwidth="silverman", range=None) -> float:
    """KL(reference ‖ samples) between Gaussian KDEs on a ``grid``-cell grid over ``range``.

    ``bandwidth``: ``"silverman"`` (default), ``"scott"`` or a positive number. ``range`` defaults
    to the span of both sets widened by three bandwidths.
    """
    if not (isinstance(bandwidth, str) or (isinstance(bandwidth, (int, float)) and bandwidth > 0)):
        raise PyprogenError(f"bandwidth: expected 'silverman', 'scott' or a positive number, got {bandwidth!r}")
    if not (isinstance(grid, int) and grid >= 8):
        raise PyprogenError(f"grid: expected an integer >= 8, got {grid!r}")
    x = _rows(samples, "samples")
    if _is_dist(reference):
        ref, span = reference, [x, torch.tensor(quantile_range(reference, widen=0.0, draws=100_000))]
    else:
        ref = _rows(reference, "reference")
        span = [x, ref]
    if range is None:
        h = float(bandwidth_rows(x, bandwidth).max()) if isinstance(bandwidth, str) else float(bandwidth)
        lo, hi = _range(None, *span)
        range = (lo - 3 * h, hi + 3 * h)
    return float(kde_kl_rows(x, ref, range=_range(range), grid=grid, bandwidth=bandwidth)[0])


def wasserstein1_rows(a, b):
    """Exact W1 per row between ``(R, n)`` and ``(R, m)`` empirical distributions (any n, m)."""
    a, b = a.sort(1).values, b.sort(1).values
    if a.shape[1] == b.shape[1]:  # equal sizes: the quantile functions share their steps
        return (a - b).abs().mean(1)
    both = torch.cat([a, b], 1).sort(1).values
    widths = both.diff(dim=1)
    points = both[:, :-1].contiguous()
    fa = torch.searchsorted(a, points, right=True).to(torch.float64) / a.shape[1]
    fb = torch.searchsorted(b, points, right=True).to(torch.float64) / b.shape[1]
    return ((fa - fb).abs() * widths).sum(1)


def wasserstein1(a, b) -> float:
    """Exact 1-D Wasserstein-1 distance ∫|F_a − F_b| dx between two samples (sizes may differ)."""
    return float(wasserstein1_rows(_rows(a, "a"), _rows(b, "b"))[0])
