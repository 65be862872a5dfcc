"""Generator and critic networks for GANs: DCGAN-style convs for images, MLPs for vectors.

DCGAN (Radford et al. 2016): the generator projects z to a small feature map and doubles it
with stride-2 4x4 transposed convs (BatchNorm + ReLU), the critic halves it with stride-2
4x4 convs and LeakyReLU(0.2). Departures, both deliberate:

- the generator ends in a sigmoid, since pyprogen images live in [0, 1] (DCGAN: tanh on [-1, 1]);
- the critic has **no BatchNorm**: gradient penalties (WGAN-GP, R1) are per-sample
  quantities and batch statistics couple the samples (Gulrajani et al. 2017, Sec. 4).

28x28: 7 -> 14 -> 28; 32x32: 4 -> 8 -> 16 -> 32; 64x64: 4 -> 8 -> 16 -> 32 -> 64.
The MLP pair (vectors and 1-D data) follows the 2-D mixture experiments of Metz et al. 2017
(ReLU hidden layers of 128; a linear output for the generator, one logit for the critic).
"""
import math

from torch import nn

from .conv import _stages
from .mlp import mlp


class DCGANGenerator(nn.Module):
    """z ``(..., latent_dim)`` -> images ``(..., C, S, S)`` in [0, 1]."""

    def __init__(self, latent_dim, data_shape, width=64):
        super().__init__()
        stages, final = _stages(tuple(data_shape))
        channels = [width * 2 ** (stages - 1 - i) for i in range(stages)] + [data_shape[0]]
        self.start = (channels[0], final, final)
        self.project = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), nn.BatchNorm1d(math.prod(self.start)),
                                     nn.ReLU())
        layers = []
        for i in range(stages):
            last = i == stages - 1
            # 7 -> 14 -> 28 and 4 -> 8 -> ... are exact with kernel 4, stride 2, padding 1
            layers.append(nn.ConvTranspose2d(channels[i], channels[i + 1], 4, 2, 1, bias=last))
            layers += [nn.Sigmoid()] if last else [nn.BatchNorm2d(channels[i + 1]), nn.ReLU()]
        self.net = nn.Sequential(*layers)
        self.data_shape = tuple(data_shape)

    def forward(self, z):
        batch = z.shape[:-1]
        h = self.project(z.reshape(-1, z.shape[-1])).reshape(-1, *self.start)
        return self.net(h).reshape(*batch, *self.data_shape)


class DCGANCritic(nn.Module):
    """Images ``(..., C, S, S)`` -> one raw score/logit per image, shape ``(..., 1)``."""

    def __init__(self, data_shape, width=64):
        super().__init__()
        stages, final = _stages(tuple(data_shape))
        layers, c = [], data_shape[0]
        for i in range(stages):
            out = width * 2 ** i
            layers += [nn.Conv2d(c, out, 4, 2, 1), nn.LeakyReLU(0.2)]
            c = out
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * final * final, 1))

    def forward(self, x):
        batch = x.shape[:-3]
        return self.net(x.reshape(-1, *x.shape[-3:])).reshape(*batch, 1)


class MLPGenerator(nn.Module):
    """z ``(..., latent_dim)`` -> ``(..., *data_shape)`` through ReLU hidden layers, linear output."""

    def __init__(self, latent_dim, data_shape, hidden=(128, 128)):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.net = mlp([latent_dim, *hidden, math.prod(self.data_shape)], nn.ReLU)

    def forward(self, z):
        return self.net(z).reshape(*z.shape[:-1], *self.data_shape)


class MLPCritic(nn.Module):
    """``(..., *data_shape)`` -> one raw score/logit ``(..., 1)`` through LeakyReLU(0.2) layers."""

    def __init__(self, data_shape, hidden=(128, 128)):
        super().__init__()
        self.ndim = len(data_shape)
        self.net = mlp([math.prod(data_shape), *hidden, 1], lambda: nn.LeakyReLU(0.2))

    def forward(self, x):
        return self.net(x.reshape(*x.shape[:x.dim() - self.ndim], -1))
