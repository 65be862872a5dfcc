"""Fully connected networks: a plain MLP, a Gaussian encoder head and a decoder."""
import math

from torch import nn
from torch.nn import functional as F


def mlp(sizes, activation=nn.Tanh, last_activation=None):
    """``sizes = [in, h1, ..., out]`` -> ``nn.Sequential`` of Linear layers with activations between."""
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    if last_activation is not None:
        layers.append(last_activation())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """x -> (loc, scale) of a diagonal Gaussian q(z|x); ``x`` of any shape ``(n, *data_shape)``.

    Default widths 2x200 with tanh follow Burda et al. 2016 (one stochastic layer).
    """

    def __init__(self, data_shape, latent_dim, hidden=(200, 200), activation=nn.Tanh):
        super().__init__()
        self.net = mlp([math.prod(data_shape), *hidden], activation, last_activation=activation)
        self.loc = nn.Linear(hidden[-1], latent_dim)
        self.raw_scale = nn.Linear(hidden[-1], latent_dim)
        self.ndim = len(data_shape)

    def forward(self, x):
        h = self.net(x.reshape(*x.shape[:x.dim() - self.ndim], -1))
        return self.loc(h), F.softplus(self.raw_scale(h)) + 1e-4


class MLPDecoder(nn.Module):
    """z -> ``out_features`` numbers (the likelihood's parameters, flattened)."""

    def __init__(self, latent_dim, out_features, hidden=(200, 200), activation=nn.Tanh):
        super().__init__()
        self.net = mlp([latent_dim, *hidden, out_features], activation)

    def forward(self, z):
        return self.net(z)
