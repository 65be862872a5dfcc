"""Convolutional encoder/decoder for 28x28 and 64x64 images (DCGAN-style strided convs).

28x28: 28 -> 14 -> 7 (two stride-2 convs); 64x64: 64 -> 32 -> 16 -> 8 -> 4 (four), as in the
β-VAE/dSprites architecture of Higgins et al. 2017. ``width`` sets the channel count.
"""
from torch import nn
from torch.nn import functional as F

from ..errors import PyprogenError

# spatial size -> (number of stride-2 stages, final spatial size)
_STAGES = {28: (2, 7), 64: (4, 4), 32: (3, 4)}


def _stages(data_shape):
    if len(data_shape) != 3 or data_shape[1] != data_shape[2] or data_shape[1] not in _STAGES:
        raise PyprogenError(f"data_shape: conv nets expect (C, S, S) with S in {sorted(_STAGES)}, got {data_shape}")
    return _STAGES[data_shape[1]]


class ConvFeatures(nn.Module):
    """Image -> flat feature vector: stride-2 4x4 convs with LeakyReLU/ReLU."""

    def __init__(self, data_shape, width=32, activation=nn.ReLU):
        super().__init__()
        stages, final = _stages(data_shape)
        layers, c = [], data_shape[0]
        for i in range(stages):
            out = width * min(2 ** i, 4)
            layers += [nn.Conv2d(c, out, 4, 2, 1), activation()]
            c = out
        self.net = nn.Sequential(*layers, nn.Flatten())
        self.out_features = c * final * final

    def forward(self, x):
        return self.net(x)


class ConvEncoder(nn.Module):
    """x -> (loc, scale) of q(z|x)."""

    def __init__(self, data_shape, latent_dim, width=32, hidden=256):
        super().__init__()
        self.features = ConvFeatures(data_shape, width)
        self.head = nn.Sequential(nn.Linear(self.features.out_features, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 2 * latent_dim))

    def forward(self, x):
        batch = x.shape[:-3]
        h = self.head(self.features(x.reshape(-1, *x.shape[-3:])))
        loc, raw = h.reshape(*batch, -1).chunk(2, dim=-1)
        return loc, F.softplus(raw) + 1e-4


class ConvDecoder(nn.Module):
    """z -> ``(n, out_channels, S, S)``: mirror of :class:`ConvFeatures` with transposed convs."""

    def __init__(self, latent_dim, data_shape, out_channels=None, width=32, hidden=256):
        super().__init__()
        stages, final = _stages(data_shape)
        out_channels = out_channels or data_shape[0]
        c = width * min(2 ** (stages - 1), 4)
        self.start = (c, final, final)
        self.fc = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, c * final * final), nn.ReLU())
        layers = []
        for i in reversed(range(stages)):
            nxt = out_channels if i == 0 else width * min(2 ** (i - 1), 4)
            layers.append(nn.ConvTranspose2d(c, nxt, 4, 2, 1))
            if i > 0:
                layers.append(nn.ReLU())
            c = nxt
        self.net = nn.Sequential(*layers)
        self.size = data_shape[1]

    def forward(self, z):
        batch = z.shape[:-1]
        h = self.fc(z.reshape(-1, z.shape[-1])).reshape(-1, *self.start)
        out = self.net(h)
        if out.shape[-1] != self.size:  # 28x28: 7 -> 14 -> 28 is exact; keep a guard for other sizes
            out = F.interpolate(out, size=(self.size, self.size), mode="nearest")
        return out.reshape(*batch, *out.shape[1:])
