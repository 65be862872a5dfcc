"""Autoregressive sampling: the naive loop and the cached sampler.

The naive loop re-runs the whole network for every pixel (and channel): H·W·C full passes.
The cached sampler (the idea of Fast PixelCNN++, Ramachandran et al. 2017, "Fast Generation for
Convolutional Autoregressive Models") keeps every layer's activations in caches and computes each
activation once, when the pixels it depends on are known: ``net.step(cache, i, j)`` evaluates
all layers at pixel (i, j) only, ``net.end_row(cache, i)`` does the row-wise work (vertical stacks).

Both draw with the same pre-drawn noise, consumed in the same order, so under one seed they give
the same images (up to float rounding in the logits, which the tests show does not flip a draw):
- bernoulli: x = [logit + L > 0] with L ~ Logistic(0, 1), i.e. P(x = 1) = σ(logit);
- categorical: x = argmax(logits + G) with G ~ Gumbel(0, 1) (the Gumbel-max trick).
"""
import math

import torch
from ..progress import progress_bar

from ..errors import PyprogenError

# likelihood name -> (noise(n, data_shape) -> tensor, draw(params (n, k), noise) -> values)
DRAWS = {}


def register_draw(name):
    def decorator(pair):
        DRAWS[name] = pair()
        return pair

    return decorator


@register_draw("bernoulli")
def _bernoulli():
    def noise(n, data_shape, like):
        u = torch.rand(n, *data_shape, dtype=like.dtype, device=like.device).clamp(1e-12, 1 - 1e-7)
        return torch.log(u) - torch.log1p(-u)

    def draw(params, noise):
        return (params[:, 0] + noise > 0).to(params.dtype)

    return noise, draw


@register_draw("categorical")
def _categorical():
    def noise(n, data_shape, like):
        u = torch.rand(n, *data_shape, 256, dtype=like.dtype, device=like.device).clamp(1e-12, 1 - 1e-7)
        return -torch.log(-torch.log(u))

    def draw(params, noise):
        return (params + noise).argmax(dim=-1)

    return noise, draw


def _draws(likelihood):
    if likelihood.name not in DRAWS:
        raise PyprogenError(f"likelihood: autoregressive sampling supports {sorted(DRAWS)}, got {likelihood.name!r}")
    return DRAWS[likelihood.name]


def draw_noise(likelihood, n, data_shape, like):
    """The per-value noise for ``n`` images, drawn from torch's global RNG in one call."""
    return _draws(likelihood)[0](n, data_shape, like)


def _value_params(params, k, channels, c):
    """``(n, k * C)`` parameters at a pixel -> ``(n, k)`` of channel c (the likelihood's ``(k, C)`` layout)."""
    return params.reshape(params.shape[0], k, channels)[:, :, c]


@torch.no_grad()
def naive_sample(net, likelihood, noise, *, progress=False):
    """Observation-space values ``(n, C, H, W)``: one full forward pass per pixel and channel."""
    draw = _draws(likelihood)[1]
    n, channels, height, width = noise.shape[:4]
    k = likelihood.params_per_value
    values = torch.zeros(n, channels, height, width, dtype=torch.long, device=noise.device)
    x = torch.zeros(n, channels, height, width, dtype=noise.dtype, device=noise.device)
    for i in progress_bar(range(height), disable=not progress, desc="naive sampling"):
        for j in range(width):
            for c in range(channels):
                params = net(x)[:, :, i, j]
                v = draw(_value_params(params, k, channels, c), noise[:, c, i, j])
                values[:, c, i, j] = v.long()
                x[:, c, i, j] = likelihood.to_data(v).to(x.dtype)
    return values


@torch.no_grad()
def cached_sample(net, likelihood, noise, *, progress=False):
    """Same draws as :func:`naive_sample`, computing each cached activation once."""
    draw = _draws(likelihood)[1]
    n, channels, height, width = noise.shape[:4]
    k = likelihood.params_per_value
    values = torch.zeros(n, channels, height, width, dtype=torch.long, device=noise.device)
    cache = net.begin(n, height, width, noise)
    image = cache["image"]
    for i in progress_bar(range(height), disable=not progress, desc="cached sampling"):
        for j in range(width):
            pixel = image.at(i, j)
            for c in range(channels):
                params = net.step(cache, i, j)
                v = draw(_value_params(params, k, channels, c), noise[:, c, i, j])
                values[:, c, i, j] = v.long()
                pixel[:, c] = likelihood.to_data(v).to(noise.dtype)
        net.end_row(cache, i)
    return values


SAMPLERS = {"naive": naive_sample, "cached": cached_sample}


def autoregressive_sample(net, likelihood, n, data_shape, *, method="cached", like=None, progress=False):
    """Draw ``n`` images (observation space) with the named sampler; noise comes from torch's global RNG."""
    if method not in SAMPLERS:
        raise PyprogenError(f"method: expected one of {sorted(SAMPLERS)}, got {method!r}")
    if len(data_shape) != 3 or math.prod(data_shape) == 0:
        raise PyprogenError(f"data_shape: expected (C, H, W), got {tuple(data_shape)}")
    like = torch.zeros(()) if like is None else like
    noise = draw_noise(likelihood, n, data_shape, like)
    return SAMPLERS[method](net, likelihood, noise, progress=progress)
