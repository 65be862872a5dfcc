"""Kernels and the unbiased MMD² estimator (Gretton et al. 2012, Lemma 6; WAE, Tolstikhin et al. 2018).

    MMD²_u(a, b) = 1/(n(n-1)) Σ_{i≠j} k(a_i, a_j) + 1/(m(m-1)) Σ_{i≠j} k(b_i, b_j) - 2/(nm) Σ_{i,j} k(a_i, b_j)

Kernels (``x``: (n, D), ``y``: (m, D) -> (n, m) Gram matrix):

- ``imq``: inverse multiquadratic ``k(x, y) = Σ_s C_s / (C_s + ‖x − y‖²)`` with ``C_s = 2·D·σ²·s`` summed over
  the scales ``s ∈ {.1, .2, .5, 1, 2, 5, 10}``, as in the WAE reference code; ``σ`` (``scale``) is the
  prior's standard deviation, default 1.
- ``rbf``: ``k(x, y) = exp(−‖x − y‖² / (2σ²))``; with ``scale=None`` the bandwidth is the median
  heuristic ``σ² = median_{i≠j} ‖u_i − u_j‖²`` over the pooled sample ``u = (a, b)`` (no gradient),
  the choice of the WAE reference code.
"""
import torch

from ..errors import PyprogenError

IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def squared_distances(x, y):
    """``‖x_i − y_j‖²`` as an (n, m) matrix (clamped at 0 against round-off)."""
    d = (x * x).sum(-1, keepdim=True) + (y * y).sum(-1)[None, :] - 2.0 * x @ y.T
    return d.clamp_min(0.0)


def imq_kernel(x, y, scale=None):
    """Inverse multiquadratic kernel summed over ``IMQ_SCALES`` (WAE); ``scale`` = σ of the prior."""
    sigma2 = 1.0 if scale is None else float(scale) ** 2
    d2 = squared_distances(x, y)
    base = 2.0 * x.shape[-1] * sigma2
    return sum((base * s) / (base * s + d2) for s in IMQ_SCALES)


def rbf_kernel(x, y, scale=None):
    """Gaussian kernel ``exp(−‖x − y‖²/(2σ²))``; ``scale=None``: σ² = median of the squared distances."""
    d2 = squared_distances(x, y)
    if scale is None:
        sigma2 = _median_sq_distance(torch.cat([x, y])).clamp_min(1e-12)
    else:
        sigma2 = float(scale) ** 2
    return torch.exp(-d2 / (2.0 * sigma2))


def _median_sq_distance(u):
    d2 = squared_distances(u, u).detach()
    n = u.shape[0]
    off = d2[~torch.eye(n, dtype=torch.bool, device=u.device)]
    return off.median() if off.numel() else torch.ones((), dtype=u.dtype, device=u.device)


KERNELS = {"imq": imq_kernel, "rbf": rbf_kernel}


def get_kernel(kernel):
    if callable(kernel):
        return kernel
    if kernel not in KERNELS:
        raise PyprogenError(f"kernel: expected one of {sorted(KERNELS)} or a callable, got {kernel!r}")
    return KERNELS[kernel]


def _as_matrix(t, argument):
    t = torch.as_tensor(t)
    if not t.is_floating_point():
        t = t.float()
    if t.dim() == 1:
        t = t[:, None]
    if t.dim() != 2 or t.shape[0] < 2:
        raise PyprogenError(f"{argument}: expected a (n >= 2, D) sample, got shape {tuple(t.shape)}")
    return t


def mmd2_unbiased(a, b, kernel="imq", scale=None):
    """Unbiased MMD² between samples ``a`` (n, D) and ``b`` (m, D) (1-D inputs are read as (n, 1)).

    With ``kernel="rbf"`` and ``scale=None`` the median-heuristic bandwidth is computed once on the
    pooled sample and shared by the three Gram matrices.
    """
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise PyprogenError(f"b: expected the dimension of a ({a.shape[1]}), got {b.shape[1]}")
    b = b.to(a.dtype)
    k = get_kernel(kernel)
    if k is rbf_kernel and scale is None:
        scale = float(_median_sq_distance(torch.cat([a, b])).clamp_min(1e-12).sqrt())
    n, m = a.shape[0], b.shape[0]
    kaa, kbb, kab = k(a, a, scale), k(b, b, scale), k(a, b, scale)
    term_a = (kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
    term_b = (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1))
    return term_a + term_b - 2.0 * kab.mean()
