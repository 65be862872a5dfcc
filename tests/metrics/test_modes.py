"""mode_coverage on hand-built samples (PacGAN/VEEGAN protocol)."""
import math

import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.metrics import mode_coverage


def ring(k=8, radius=2.0):
    a = torch.arange(k, dtype=torch.float64) * 2 * math.pi / k
    return radius * torch.stack([a.cos(), a.sin()], -1)


def test_counts_modes_and_high_quality_share_on_hand_built_samples():
    centers, std = ring(), 0.02
    # 100 samples on each of modes 0..4, every one within 2.9σ of its centre (along a random direction)
    g = torch.Generator().manual_seed(0)
    good = []
    for k in range(5):
        angle = torch.rand(100, generator=g, dtype=torch.float64) * 2 * math.pi
        r = 2.9 * std * torch.rand(100, generator=g, dtype=torch.float64)
        good.append(centers[k] + r[:, None] * torch.stack([angle.cos(), angle.sin()], -1))
    # 60 samples just outside 3σ of mode 5, 40 at the origin (between modes)
    outside = centers[5] + torch.tensor([3.05 * std, 0.0], dtype=torch.float64)
    bad = torch.cat([outside.expand(60, 2), torch.zeros(40, 2, dtype=torch.float64)])
    result = mode_coverage(torch.cat(good + [bad]), centers, std=std, min_count=10)
    assert result["modes_covered"] == 5
    assert result["high_quality_fraction"] == pytest.approx(500 / 600, abs=1e-12)
    assert set(result) == {"modes_covered", "high_quality_fraction"}
    # each covered mode holds exactly 100 high-quality samples; the sample just outside 3σ counts nowhere
    assert mode_coverage(torch.cat(good + [bad]), centers, std=std, min_count=100)["modes_covered"] == 5
    assert mode_coverage(torch.cat(good + [bad]), centers, std=std, min_count=101)["modes_covered"] == 0


def test_default_threshold_is_one_fifth_of_the_expected_count():
    # PacGAN: 2500 samples on 25 modes, a mode needs >= 20 high-quality samples
    g = torch.arange(-4.0, 5.0, 2.0)
    centers = torch.cartesian_prod(g, g)
    per_mode = torch.full((25,), 100)
    per_mode[0], per_mode[1] = 19, 181  # mode 0 just below the threshold
    samples = torch.cat([centers[k].expand(int(n), 2) for k, n in enumerate(per_mode)])
    assert len(samples) == 2500
    result = mode_coverage(samples, centers, std=0.05)
    assert result["modes_covered"] == 24 and result["high_quality_fraction"] == 1.0
    assert mode_coverage(samples, centers, std=0.05, min_count=19)["modes_covered"] == 25


def test_bad_input_is_refused():
    with pytest.raises(PyprogenError, match="std"):
        mode_coverage(torch.zeros(4, 2), ring(), std=0.0)
    with pytest.raises(PyprogenError, match="centers"):
        mode_coverage(torch.zeros(4, 2), torch.zeros(3, 3), std=0.1)
    with pytest.raises(PyprogenError, match="samples"):
        mode_coverage(torch.full((4, 2), float("nan")), ring(), std=0.1)
