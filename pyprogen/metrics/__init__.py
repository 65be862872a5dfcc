from .disentanglement import mig, total_correlation
from .divergences import histogram_kl, kde_kl, quantile_range, wasserstein1
from .likelihood import bits_per_dim, elbo, log_likelihood
from .mmd import mmd
from .sap_dci import dci, sap
from .modes import mode_coverage
