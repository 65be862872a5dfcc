"""Generator and critic networks for GANs: DCGAN-style convs for images, MLPs for vectors.

DCGAN (Radford et al. 2016): the generator projects z to a small feature map and doubles it
with stride-2 4x4 transposed convs (BatchNorm + ReLU), the critic halves it with stride-2
4x4 convs and LeakyReLU(0.2). Departures, both deliberate:

- the generator ends in a sigmoid, since pyprogen images live in [0, 1] (DCGAN: tanh on [-1, 1]);
- the critic has **no BatchNorm**: gradient penalties (WGAN-GP, R1) are per-sample
  quantities and batch statistics couple the samples (Gulrajani et al. 2017, Sec. 4).

28x28: 7 -> 14 -> 28; 32x32: 4 -> 8 -> 16 -> 32; 64x64: 4 -> 8 -> 16 -> 32 -> 64.
The MLP pair (vectors and 1-D data) follows the 2-D mixture experiments of Metz et al. 2017
(ReLU hidden layers of 128; a linear output for the generator, one logit for the critic);
``hidden`` and ``activation`` give deeper, narrower nets (the ring8/grid25 recipe: 4 x 64,
LeakyReLU(0.2) in both nets).

``dense=H`` adds a fully connected hidden layer of ``H`` units at the low-resolution end of a net:
in the generator between z and the first feature map (Linear, BatchNorm, ReLU), in the critic between
the last feature map and the logit (Linear, LeakyReLU(0.2)). This is the MNIST architecture of InfoGAN
(Chen et al. 2016, Appendix C.1: G FC 1024 - FC 7x7x128 - upconv 64 - upconv 1; D conv 64 - conv 128 -
FC 1024 - FC 1), without the critic's BatchNorm. Without it the critic's logit is a *linear* function of
local patch features (the receptive field of two stride-2 4x4 convs is 10x10 pixels), and cannot score
how the strokes of a digit fit together. On MNIST at 6,000 generator steps (benchmarks/gan_mnist.py track,
docs/results/gan_mnist_arch.json) precision went from 0.52 without dense layers to 0.67 with the critic's
alone and 0.71 with both; the generator's alone left it at 0.52.

``spectral_norm=True`` on a critic divides each weight matrix by its largest singular value,
estimated by one power iteration per training forward pass (Miyato et al. 2018, SN-GAN;
``torch.nn.utils.parametrizations.spectral_norm``); an integer ``n`` runs ``n`` iterations per
pass. A conv kernel is normalised as the ``(out, in·k·k)`` matrix, as in the paper.
:func:`spectral_normalise` applies it to any module. The estimate lags when the weights move
fast: after 100 Adam steps at lr 2e-4 the DCGAN critic's σ_max was 1.010–1.039 with one
iteration and 1.001–1.012 with five (6 seeds); the 4 x 64 MLP critic stayed within 1.002.
"""
import math

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from ..errors import PyprogenError
from .conv import _stages
from .mlp import mlp

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU}


def activation_factory(activation):
    """``"relu"``, ``"leaky_relu"`` (slope 0.2), ``"tanh"``, ``"elu"`` or a callable returning a module."""
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise PyprogenError(f"activation: expected one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


def power_iterations(spectral_norm, argument="spectral_norm"):
    """``False``/``0`` -> 0 (off), ``True`` -> 1 (SN-GAN), a positive integer -> itself."""
    if spectral_norm is True or spectral_norm is False:
        return int(spectral_norm)
    if not isinstance(spectral_norm, int) or spectral_norm < 0:
        raise PyprogenError(f"{argument}: expected true/false or a number of power iterations >= 0, "
                            f"got {spectral_norm!r}")
    return spectral_norm


def spectral_normalise(module, argument="critic", n_power_iterations=1):
    """Spectral normalisation of every ``Linear`` and ``Conv*`` weight in ``module`` (in place; returns it).

    Raises a one-line :class:`PyprogenError` naming ``argument`` when the module has no such weights
    (a user's critic built from other layers or plain tensors), and leaves already-normalised layers alone.
    """
    layers = [m for m in module.modules() if isinstance(m, _WEIGHTED)
              and (parametrize.is_parametrized(m, "weight") or isinstance(m._parameters.get("weight"), nn.Parameter))]
    if not layers:
        raise PyprogenError(f"{argument}: spectral norm needs Linear or Conv layers with weights, "
                            f"found none in {type(module).__name__}")
    for m in layers:
        if not parametrize.is_parametrized(m, "weight"):
            _spectral_norm(m, n_power_iterations=n_power_iterations)
    return module


class DCGANGenerator(nn.Module):
    """z ``(..., latent_dim)`` -> images ``(..., C, S, S)`` in [0, 1]."""

    def __init__(self, latent_dim, data_shape, width=64, dense=0):
        super().__init__()
        stages, final = _stages(tuple(data_shape))
        channels = [width * 2 ** (stages - 1 - i) for i in range(stages)] + [data_shape[0]]
        self.start = (channels[0], final, final)
        sizes = [latent_dim, *([dense] if dense else []), math.prod(self.start)]
        self.project = nn.Sequential(*(m for a, b in zip(sizes, sizes[1:])
                                       for m in (nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU())))
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

    def __init__(self, data_shape, width=64, spectral_norm=False, dense=0):
        super().__init__()
        stages, final = _stages(tuple(data_shape))
        layers, c = [], data_shape[0]
        for i in range(stages):
            out = width * 2 ** i
            layers += [nn.Conv2d(c, out, 4, 2, 1), nn.LeakyReLU(0.2)]
            c = out
        head = [nn.Linear(c * final * final, dense), nn.LeakyReLU(0.2), nn.Linear(dense, 1)] if dense else \
            [nn.Linear(c * final * final, 1)]
        self.net = nn.Sequential(*layers, nn.Flatten(), *head)
        if power_iterations(spectral_norm):
            spectral_normalise(self, n_power_iterations=power_iterations(spectral_norm))

    def forward(self, x):
        batch = x.shape[:-3]
        return self.net(x.reshape(-1, *x.shape[-3:])).reshape(*batch, 1)


class MLPGenerator(nn.Module):
    """z ``(..., latent_dim)`` -> ``(..., *data_shape)`` through hidden layers (ReLU by default), linear output."""

    def __init__(self, latent_dim, data_shape, hidden=(128, 128), activation="relu"):
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.net = mlp([latent_dim, *hidden, math.prod(self.data_shape)], activation_factory(activation))

    def forward(self, z):
        return self.net(z).reshape(*z.shape[:-1], *self.data_shape)


class MLPCritic(nn.Module):
    """``(..., *data_shape)`` -> one raw score/logit ``(..., 1)`` through LeakyReLU(0.2) layers."""

    def __init__(self, data_shape, hidden=(128, 128), activation="leaky_relu", spectral_norm=False):
        super().__init__()
        self.ndim = len(data_shape)
        self.net = mlp([math.prod(data_shape), *hidden, 1], activation_factory(activation))
        if power_iterations(spectral_norm):
            spectral_normalise(self, n_power_iterations=power_iterations(spectral_norm))

    def forward(self, x):
        return self.net(x.reshape(*x.shape[:x.dim() - self.ndim], -1))
