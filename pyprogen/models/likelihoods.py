"""Observation models p(x | decoder output) shared by every family with a decoder.

A decoder emits ``k * prod(data_shape)`` numbers per data point (``k = params_per_value``);
the likelihood reshapes them to ``(n, k, *data_shape)`` and returns a distribution whose
event shape is ``data_shape``.

- ``bernoulli``: logits; data must be 0/1. (Pyro validates this; continuous pixels are
  rejected with a clear error rather than silently scored, see ../pyro-notes.md.)
- ``gaussian``: mean in data space, with a fixed ``scale`` or, with ``scale="learned"``,
  one learned log-scale per value.
- ``categorical``: 256-way softmax per value over the levels ``round(255 x)``
  (van den Oord et al. 2016); the observation is the level as an integer.
"""
import math

import pyro.distributions as dist
import torch
from pyro.nn import PyroModule, pyro_method
from torch import nn

from ..errors import PyprogenError
from ..registry import Registry

LIKELIHOODS = Registry("likelihood")


def register_likelihood(name):
    def decorator(cls):
        cls.name = name
        return LIKELIHOODS.register(name)(cls)

    return decorator


def build_likelihood(name, data_shape, **kwargs):
    if isinstance(name, Likelihood):
        return name
    return LIKELIHOODS.build(name, tuple(data_shape), **kwargs)


class Likelihood(PyroModule):
    params_per_value = 1

    def __init__(self, data_shape):
        super().__init__()
        self.data_shape = tuple(data_shape)

    def _shape(self, params):
        """``(*batch, k * D)`` (MLP) or ``(*batch, k * C, H, W)`` (conv) -> ``(*batch, k, *data_shape)``."""
        k, size = self.params_per_value, math.prod(self.data_shape)
        if params.shape[-1] == k * size:
            batch = params.shape[:-1]
        else:
            batch = params.shape[:-len(self.data_shape)]
        return params.reshape(*batch, k, *self.data_shape)

    def distribution(self, params):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def observation(self, x):
        """What the site observes, given data in [0, 1] (identity except for the categorical)."""
        return x

    def to_data(self, value):
        """Map a site value back to data space in [0, 1]."""
        return value

    def mean(self, params):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def mean_of(self, fn):
        """E[x] in data space of a distribution this likelihood built (``distribution(params)``)."""
        return fn.mean

    def check(self, x, argument="data"):
        """Raise PyprogenError if ``x`` cannot be scored by this likelihood."""


@register_likelihood("bernoulli")
class BernoulliLikelihood(Likelihood):
    def distribution(self, params):
        logits = self._shape(params).squeeze(-len(self.data_shape) - 1)
        return dist.Bernoulli(logits=logits).to_event(len(self.data_shape))

    def mean(self, params):
        return torch.sigmoid(self._shape(params).squeeze(-len(self.data_shape) - 1))

    def check(self, x, argument="data"):
        if not bool(((x == 0) | (x == 1)).all()):
            raise PyprogenError(f"{argument}: the bernoulli likelihood needs 0/1 values; "
                                "binarise the data or use likelihood='gaussian'/'categorical'")


@register_likelihood("gaussian")
class GaussianLikelihood(Likelihood):
    def __init__(self, data_shape, scale=0.1):
        super().__init__(data_shape)
        if scale == "learned":
            self.log_scale = nn.Parameter(torch.zeros(*data_shape))
            self.fixed_scale = None
        else:
            if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
                raise PyprogenError(f"scale: expected a positive number or 'learned', got {scale!r}")
            self.fixed_scale = float(scale)

    @pyro_method
    def scale(self):
        return self.log_scale.exp() if self.fixed_scale is None else self.fixed_scale

    @pyro_method
    def distribution(self, params):
        loc = self.mean(params)
        return dist.Normal(loc, self.scale()).to_event(len(self.data_shape))

    def mean(self, params):
        return self._shape(params).squeeze(-len(self.data_shape) - 1)


@register_likelihood("categorical")
class CategoricalLikelihood(Likelihood):
    params_per_value = 256

    def _logits(self, params):
        return self._shape(params).movedim(-len(self.data_shape) - 1, -1)

    def distribution(self, params):
        return dist.Categorical(logits=self._logits(params)).to_event(len(self.data_shape))

    def observation(self, x):
        return (x * 255).round().long()

    def mean_of(self, fn):
        while hasattr(fn, "base_dist"):
            fn = fn.base_dist
        levels = torch.arange(256, dtype=fn.probs.dtype, device=fn.probs.device) / 255.0
        return fn.probs @ levels

    def to_data(self, value):
        return value.float() / 255.0

    def mean(self, params):
        probs = self._logits(params).softmax(-1)
        levels = torch.arange(256, dtype=probs.dtype, device=probs.device) / 255.0
        return probs @ levels

    def check(self, x, argument="data"):
        if bool(((x < 0) | (x > 1)).any()):
            raise PyprogenError(f"{argument}: the categorical likelihood needs values in [0, 1]")
