import math

import torch

from pyprogen.data import load_dataset, toy_modes


def test_ring8_points_lie_on_radius_two():
    x = load_dataset("ring8").x
    r = x.norm(dim=1)
    assert abs(float(r.mean()) - 2.0) < 0.01 and float(r.std()) < 0.03
    centers, std = toy_modes("ring8")
    assert centers.shape == (8, 2) and math.isclose(std, 0.02)


def test_grid25_every_mode_used_and_deterministic():
    a, b = load_dataset("grid25"), load_dataset("grid25")
    assert torch.equal(a.x, b.x)
    assert torch.bincount(a.y, minlength=25).min() > 300  # 10,000 points over 25 modes
    centers, std = toy_modes("grid25")
    nearest = torch.cdist(a.x, centers).argmin(1)
    assert torch.equal(nearest, a.y)
