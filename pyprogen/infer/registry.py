"""Estimators by name (for the CLI's ``--loss``): each entry builds an ELBO for a given model.

Entries take the model so that names like ``beta`` or ``tc`` pick up the model's own weights.
"""
import pyro.infer

from ..registry import Registry

ESTIMATORS = Registry("estimator", argument="loss")
register_estimator = ESTIMATORS.register


def estimator(name, model=None, **kwargs):
    """Build the estimator registered as ``name`` for ``model`` (which supplies β, λ, ... by default)."""
    return ESTIMATORS.build(name, model, **kwargs)


@register_estimator("elbo")
def _elbo(model, **kw):
    """Pyro's Trace_ELBO (Monte-Carlo KL)."""
    return pyro.infer.Trace_ELBO(**kw)


@register_estimator("meanfield")
def _meanfield(model, **kw):
    """Pyro's TraceMeanField_ELBO (analytic KL where available)."""
    return pyro.infer.TraceMeanField_ELBO(**kw)


@register_estimator("default")
def _default(model, **kw):
    """The model's own default_loss()."""
    return model.default_loss()
