"""Estimators by name (for the CLI's ``--loss``): each entry builds an ELBO for a given model.

Entries take the model so that names like ``beta`` or ``tc`` pick up the model's own weights.
"""
import pyro.infer

from ..errors import PyprogenError
from ..registry import Registry

ESTIMATORS = Registry("estimator", argument="loss")
register_estimator = ESTIMATORS.register


def estimator(name, model=None, **kwargs):
    """Build the estimator registered as ``name`` for ``model`` (which supplies β, λ, ... by default)."""
    return ESTIMATORS.build(name, model, **kwargs)


@register_estimator("elbo")
def _elbo(model, **kw):
    return pyro.infer.Trace_ELBO(**kw)


@register_estimator("meanfield")
def _meanfield(model, **kw):
    return pyro.infer.TraceMeanField_ELBO(**kw)


@register_estimator("default")
def _default(model, **kw):
    return model.default_loss()


@register_estimator("jit-meanfield")
def _jit_meanfield(model, **kw):
    from .jit_elbo import JitTraceMeanField_ELBO

    return JitTraceMeanField_ELBO(**kw)


@register_estimator("beta")
def _beta(model, **kw):
    from .beta_elbo import BetaELBO

    return BetaELBO(kw.pop("beta", getattr(model, "beta", 1.0)), **kw)


@register_estimator("tc")
def _tc(model, **kw):
    from .tc_elbo import TCELBO

    for name in ("alpha", "beta", "gamma", "dataset_size"):
        if name not in kw and getattr(model, name, None) is None:
            raise PyprogenError(f"loss 'tc': needs {name} (from a BetaTCVAE model or as a keyword)")
        kw.setdefault(name, getattr(model, name, None))
    return TCELBO(kw.pop("alpha"), kw.pop("beta"), kw.pop("gamma"), kw.pop("dataset_size"), **kw)


@register_estimator("mmd")
def _mmd(model, **kw):
    from .mmd_elbo import MMDELBO

    return MMDELBO(kw.pop("lam", getattr(model, "lam", 10.0)), **kw)


@register_estimator("iwae")
def _iwae(model, num_particles=50, **kw):
    from .iwae import IWAE

    return IWAE(num_particles, **kw)
