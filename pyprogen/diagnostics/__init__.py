"""Posterior diagnostics with ArviZ: NUTS reference vs guide, PSIS k̂, the amortisation gap.

Every ArviZ call goes through :mod:`.arviz_adapter`; running the check on a trained run directory is
:func:`pyprogen.experiments.diagnose.diagnose_dir` (diagnostics never import ``pyprogen.train``).
"""
from .check import check, fit_local_guide, format_check, posterior_gaps
from .guide import guide_posterior
from .nuts import nuts_posterior
from .psis import psis_k, psis_k_from_log_weights

__all__ = ["nuts_posterior", "guide_posterior", "psis_k", "psis_k_from_log_weights", "check", "format_check",
           "posterior_gaps", "fit_local_guide"]
