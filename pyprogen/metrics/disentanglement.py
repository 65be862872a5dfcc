"""Disentanglement metrics: total correlation of a Gaussian encoder and the mutual information gap.

``total_correlation(loc, scale)``: KL(q(z) || Π_j q(z_j)) of the aggregate posterior
q(z) = 1/N Σ_n N(z; loc_n, diag scale_n²) (Chen et al. 2018, eq. 3), estimated on the full dataset:
draw z_i ~ q(z | x_i) for every point and average

    log q(z_i) − Σ_j log q(z_ij),  log q(z_i) = logmeanexp_n log N(z_i; loc_n, scale_n),
                                   log q(z_ij) = logmeanexp_n log N(z_ij; loc_nj, scale_nj).

Inputs are the encoder's means and standard deviations over the dataset, both (N, D). Cost is O(N²D),
computed in row chunks. For a Gaussian q(z) with correlation matrix R, TC = −½ log det R.

``mig(codes, factors, bins=20)``: the mutual information gap (Chen et al. 2018, eq. 6), computed as in
disentanglement_lib: each code (N, K) is discretised into ``bins`` equal-width bins over its range,
the discrete mutual information I(v_k; c_j) with every ground-truth factor (N, F) is taken in nats,
and MIG = mean_k [I_(1) − I_(2)] / H(v_k), the gap between the two most informative codes,
normalised by the factor's entropy. Factors must be discrete (integer labels).
"""
import math

import numpy as np
import torch

from ..errors import PyprogenError


def _matrix(x, argument):
    x = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x).double()
    if x.dim() == 1:
        x = x[:, None]
    if x.dim() != 2 or x.shape[0] < 2:
        raise PyprogenError(f"{argument}: expected an (N >= 2, D) array, got shape {tuple(x.shape)}")
    return x


@torch.no_grad()
def total_correlation(loc, scale, *, num_samples=1, chunk_size=1024, seed=None):
    """Full-dataset estimate of KL(q(z) || Π_j q(z_j)) in nats for a diagonal-Gaussian encoder.

    ``num_samples`` draws of z per data point; ``seed=None`` uses torch's global RNG (see ``seeding``).
    """
    loc, scale = _matrix(loc, "loc"), _matrix(scale, "scale")
    if loc.shape != scale.shape:
        raise PyprogenError(f"scale: expected the shape of loc {tuple(loc.shape)}, got {tuple(scale.shape)}")
    if not bool((scale > 0).all()):
        raise PyprogenError("scale: expected standard deviations > 0")
    gen = None if seed is None else torch.Generator().manual_seed(int(seed))
    n = loc.shape[0]
    z = (loc + scale * torch.randn((num_samples, *loc.shape), generator=gen, dtype=loc.dtype)).reshape(-1, loc.shape[1])
    log_n = math.log(n)
    tcs = []
    for start in range(0, z.shape[0], chunk_size):
        zc = z[start:start + chunk_size, None, :]  # (c, 1, D) against (N, D)
        log_q = torch.distributions.Normal(loc, scale).log_prob(zc)  # (c, N, D)
        log_qz = torch.logsumexp(log_q.sum(-1), 1) - log_n
        log_prod = (torch.logsumexp(log_q, 1) - log_n).sum(-1)
        tcs.append(log_qz - log_prod)
    return float(torch.cat(tcs).mean())


def _discretise(values, bins):
    """disentanglement_lib's histogram_discretize: equal-width bins over the range, labels 1..bins."""
    edges = np.histogram(values, bins)[1][:-1]
    return np.digitize(values, edges)


def _entropy(labels):
    _, counts = np.unique(labels, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def _mutual_info(a, b):
    """Discrete mutual information in nats (as sklearn.metrics.mutual_info_score)."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1.0)
    p = table / table.sum()
    outer = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / outer[nz])).sum())


def mig(codes, factors, *, bins=20):
    """Mutual information gap in [0, 1] of ``codes`` (N, K >= 2) for discrete ``factors`` (N, F)."""
    codes = np.asarray(codes.detach().cpu() if torch.is_tensor(codes) else codes, dtype=float)
    factors = np.asarray(factors.detach().cpu() if torch.is_tensor(factors) else factors)
    codes = codes[:, None] if codes.ndim == 1 else codes
    factors = factors[:, None] if factors.ndim == 1 else factors
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise PyprogenError(f"codes: expected an (N, K) array with K >= 2 codes, got shape {codes.shape}")
    if factors.ndim != 2 or factors.shape[0] != codes.shape[0]:
        raise PyprogenError(f"factors: expected an (N, F) array with N = {codes.shape[0]}, got shape {factors.shape}")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise PyprogenError(f"bins: expected an integer >= 2, got {bins!r}")
    if np.issubdtype(factors.dtype, np.floating) and not np.all(factors == np.round(factors)):
        raise PyprogenError("factors: expected discrete factor values (integer labels)")
    discrete = [_discretise(codes[:, k], bins) for k in range(codes.shape[1])]
    gaps = []
    for j in range(factors.shape[1]):
        h = _entropy(factors[:, j])
        if h <= 0:
            raise PyprogenError(f"factors: factor {j} takes a single value; its entropy is 0")
        mi = np.sort([_mutual_info(d, factors[:, j]) for d in discrete])[::-1]
        gaps.append((mi[0] - mi[1]) / h)
    return float(np.mean(gaps))
