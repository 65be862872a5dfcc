"""2-D Gaussian mixtures used to count modes (Metz et al. 2017, Unrolled GAN; Srivastava et al.
2017, VEEGAN; Lin et al. 2018, PacGAN).

- ``ring8``: 8 Gaussians evenly on a circle of radius 2, std 0.02.
- ``grid25``: 25 Gaussians on the grid {-4, -2, 0, 2, 4}², std 0.05.
"""
import math

import torch

from .arrays import ArrayDataset
from .catalog import DATASETS

TOY_SETS = {}
#: points and seed of each split of a generated set (train, valid and test are independent draws)
TOY_SIZES = {"train": (10000, 0), "valid": (2000, 2), "test": (2000, 1)}


def register_toy(name, std):
    """Register a mixture's centres (``fn() -> (K, 2)``) with component std ``std`` as data set ``name``."""
    def decorator(fn):
        TOY_SETS[name] = (fn, std)

        def load(split, data_dir=None):
            n, seed = TOY_SIZES[split]
            return toy_dataset(name, n, seed)

        DATASETS.register(name, help=f"2-D mixture of Gaussians {name}, std {std} (generated, no download)")(load)
        return fn

    return decorator


@register_toy("ring8", std=0.02)
def ring8_centers():
    angles = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
    return 2.0 * torch.stack([angles.cos(), angles.sin()], dim=-1)


@register_toy("grid25", std=0.05)
def grid25_centers():
    g = torch.arange(-4.0, 5.0, 2.0)
    return torch.cartesian_prod(g, g)


def toy_dataset(name, n, seed):
    """``n`` points of toy set ``name``; labels are the mode indices. Deterministic in ``seed``."""
    fn, std = TOY_SETS[name]
    centers = fn()
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(len(centers), (n,), generator=gen)
    x = centers[labels] + std * torch.randn(n, 2, generator=gen)
    return ArrayDataset(x, labels, name=name)


def toy_modes(name):
    """``(centers, std)`` of a toy set, for :func:`pyprogen.metrics.mode_coverage`."""
    fn, std = TOY_SETS[name]
    return fn(), std
