"""The default weight γ of the R1/R2 gradient penalties, from the scale of the training data.

    γ(x) = γ₀ · s_data · s_mode,     γ₀ = 10

- ``s_data²``: the mean per-dimension variance of the data (the spread the generator must cover);
- ``s_mode²``: the mean per-dimension variance *within* the data's modes (the width the critic
  must resolve), found by k-means; ``s_mode = s_data`` when the data have no clear modes;
- γ₀ = 10: the value the 1-D stability study found most robust on unit-scale targets, where
  ``s_data = s_mode = 1``.

Why a length squared. The penalty is γ/2·E‖∇ₓD(x)‖², and ∇ₓD has units of 1/length: rescaling
the data by a, x → a·x, with the critic D_a(x) = D(x/a) gives ‖∇D_a‖² = ‖∇D‖²/a², so the same
regularisation needs γ·a². Any rule must therefore be a squared length of the data; this one is
exactly a²-covariant (``default_gamma(a * x) == a**2 * default_gamma(x)``).

Why the geometric mean of two lengths. R1 flattens the critic on the data; how flat it may be
depends on what it must see. On unimodal data both lengths agree and γ = γ₀·variance (10 on a
unit Gaussian, 0.26 on Beta(2, 5)). On narrow, far-apart modes they do not: with the spread alone
(ring8's per-dimension variance is 2, so γ = 20) the critic is too flat to separate modes of
σ = 0.02 — γ = 10 failed there — and with the mode width alone (γ = 0.004) the penalty is
negligible and training collapses (γ = 0.01 kept 3 of 8 modes). The geometric mean sits between
(pyro-notes "GANs on ring8": γ 0.3–3 all worked):

    ========================  ========  ========  ======
    data                      s_data    s_mode    γ
    ========================  ========  ========  ======
    N(0, 1), 1-D              1         1         10
    N(±2, 0.4²) mixture, 1-D  2.04      0.4       8.2
    ring8 (σ 0.02, r 2)       1.41      0.02      0.28
    grid25 (σ 0.05, step 2)   2.83      0.05      1.41
    images, pixel variance v  √v        √v        10·v  (≈ 0.9 for MNIST in [0, 1])
    ========================  ========  ========  ======

Finding the modes (deterministic, no random numbers drawn). On at most 2,000 evenly strided
points (1,000 above 16 dimensions), k-means for K = 1 … K_max (64; 16 above 16 dimensions) from a farthest-first initialisation (3 Lloyd iterations) gives
the within-cluster variance W(K). Separated modes show as a cliff: W(K−1)/W(K) ≥ 5 at the true
K (the ratio is 1 + δ²/(4Dσ²) for two modes δ apart of per-dimension sd σ in D dimensions,
so ≥ 5 means modes at least 4σ√D apart), where a Gaussian never exceeds 2.75 and a uniform
interval 4. The K with the largest ratio is used when that ratio reaches 5; else K = 1.
"""
import math

import torch

from ..errors import PyprogenError

GAMMA0 = 10.0
CLIFF = 5.0


def _points(x, max_points):
    x = torch.as_tensor(x)
    if x.dim() < 1 or x.shape[0] < 2:
        raise PyprogenError(f"data: expected at least 2 data points to set gamma from, got shape {tuple(x.shape)}")
    x = x.reshape(x.shape[0], -1).double()
    if x.shape[1] == 0 or not bool(torch.isfinite(x).all()):
        raise PyprogenError("data: expected finite values with at least one dimension to set gamma from")
    stride = max(1, math.ceil(x.shape[0] / max_points))
    return x[::stride][:max_points]


def _within(x, centres, iterations):
    """Lloyd iterations from ``centres``; returns the mean per-dimension within-cluster variance."""
    for i in range(iterations + 1):
        d2 = torch.cdist(x, centres).pow(2)
        best, label = d2.min(dim=1)
        if i == iterations:
            return float(best.mean()) / x.shape[1]
        counts = torch.bincount(label, minlength=len(centres)).unsqueeze(1)
        sums = torch.zeros_like(centres).index_add_(0, label, x)
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)


def data_scales(x, *, max_points=None, max_modes=None, iterations=3):
    """``{"data_var", "mode_var", "modes"}``: per-dimension variance of the data, within its modes,
    and the number of modes found (1 when there is no cliff in the k-means curve; see module doc).

    Defaults: 2,000 points and K ≤ 64 up to 16 dimensions; 1,000 points and K ≤ 16 above (images:
    about half a CPU-second at 784 dimensions)."""
    wide = math.prod(torch.as_tensor(x).shape[1:]) > 16
    x = _points(x, max_points or (1000 if wide else 2000))
    n, dim = x.shape
    data_var = float(x.var(dim=0, unbiased=False).mean())
    if data_var == 0:
        return {"data_var": 0.0, "mode_var": 0.0, "modes": 1}
    if max_modes is None:
        max_modes = 16 if wide else 64
    max_modes = max(1, min(max_modes, n // 10))
    # farthest-first traversal from the point nearest the mean
    first = int(((x - x.mean(0)) ** 2).sum(1).argmin())
    order, dist = [first], ((x - x[first]) ** 2).sum(1)
    for _ in range(max_modes):
        nxt = int(dist.argmax())
        order.append(nxt)
        dist = torch.minimum(dist, ((x - x[nxt]) ** 2).sum(1))
    within = [data_var] + [_within(x, x[order[:k]].clone(), iterations) for k in range(2, max_modes + 2)]
    ratios = [within[k - 1] / max(within[k], 1e-300) for k in range(1, len(within))]  # W(K-1)/W(K), K = 2, ...
    best = max(range(len(ratios)), key=ratios.__getitem__) if ratios else None
    if best is None or ratios[best] < CLIFF:
        return {"data_var": data_var, "mode_var": data_var, "modes": 1}
    return {"data_var": data_var, "mode_var": within[best + 1], "modes": best + 2}


def default_gamma(x, *, gamma0=GAMMA0, **kwargs):
    """γ = γ₀·s_data·s_mode for training data ``x`` of shape ``(N, ...)`` (the module's rule).

    Returns γ₀·variance on unimodal data, ≈ 0.28 on ring8 and ≈ 1.4 on grid25."""
    s = data_scales(x, **kwargs)
    return gamma0 * math.sqrt(s["data_var"] * s["mode_var"])
