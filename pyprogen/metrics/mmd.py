"""Sample-based MMD² between two point clouds (Gretton et al. 2012), a metric wrapper of
:func:`pyprogen.infer.kernels.mmd2_unbiased` that accepts arrays and returns a float.
Unbiased, so it can be slightly negative when the two distributions are equal.
"""
import numpy as np
import torch

from ..infer.kernels import mmd2_unbiased


@torch.no_grad()
def mmd(a, b, *, kernel="imq", scale=None):
    """Unbiased MMD² of samples ``a`` (n, D) and ``b`` (m, D); kernel ``"imq"`` (WAE) or ``"rbf"``."""
    return float(mmd2_unbiased(_tensor(a), _tensor(b), kernel=kernel, scale=scale))


def _tensor(x):
    return x if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))
