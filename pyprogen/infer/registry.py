"""Estimators by name (for the CLI's ``--loss``): each entry builds an ELBO for a given model.

Entries take the model so that names like ``beta`` or ``tc`` pick up the model's own weights.
"""
import pyro.infer

from ..errors import PyprogenError

ESTIMATORS = {}


def register_estimator(name):
    def decorator(factory):
        ESTIMATORS[name] = factory
        return factory

    return decorator


def estimator(name, model=None, **kwargs):
    if name not in ESTIMATORS:
        raise PyprogenError(f"loss: unknown estimator {name!r}; expected one of {', '.join(sorted(ESTIMATORS))}")
    return ESTIMATORS[name](model, **kwargs)


@register_estimator("elbo")
def _elbo(model, **kw):
    return pyro.infer.Trace_ELBO(**kw)


@register_estimator("meanfield")
def _meanfield(model, **kw):
    return pyro.infer.TraceMeanField_ELBO(**kw)


@register_estimator("default")
def _default(model, **kw):
    return model.default_loss()
