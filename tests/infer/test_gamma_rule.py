"""The default R1/R2 weight γ = γ₀·s_data·s_mode on data of known scale (pyprogen.infer.gamma_rule)."""
import math

import pytest
import torch

from pyprogen.data import load_dataset
from pyprogen.errors import PyprogenError
from pyprogen.infer.gamma_rule import GAMMA0, data_scales, default_gamma


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_unit_scale_1d_gives_gamma0():
    assert GAMMA0 == 10
    x = torch.randn(20000, 1, generator=gen())
    s = data_scales(x)
    assert s["modes"] == 1 and s["mode_var"] == s["data_var"]
    assert default_gamma(x) == pytest.approx(10.0, rel=0.1)  # 2,000-point subsample: variance within ~6 %


@pytest.mark.parametrize("a", [0.1, 3.0])
def test_rule_is_exactly_scale_covariant(a):
    for x in (torch.randn(5000, 1, generator=gen(1)), load_dataset("grid25").x):
        assert default_gamma(a * x) == pytest.approx(a * a * default_gamma(x), rel=1e-6)  # float32 rounding of a·x


def test_two_separated_modes_in_1d():
    g = gen(2)
    x = torch.cat([torch.randn(5000, 1, generator=g) * 0.4 - 2, torch.randn(5000, 1, generator=g) * 0.4 + 2])
    s = data_scales(x)
    assert s["modes"] == 2 and s["mode_var"] == pytest.approx(0.16, rel=0.1)
    assert default_gamma(x) == pytest.approx(10 * math.sqrt(4.16 * 0.16), rel=0.1)  # 8.2


@pytest.mark.parametrize("name,modes,sigma,spread,gamma", [("ring8", 8, 0.02, 2.0, 0.283),
                                                            ("grid25", 25, 0.05, 8.0, 1.41)])
def test_mode_benchmarks_find_their_modes(name, modes, sigma, spread, gamma):
    s = data_scales(load_dataset(name).x)
    assert s["modes"] == modes
    assert s["mode_var"] == pytest.approx(sigma ** 2, rel=0.1)
    assert s["data_var"] == pytest.approx(spread + sigma ** 2, rel=0.05)
    assert default_gamma(load_dataset(name).x) == pytest.approx(gamma, rel=0.1)
    assert 0.25 <= gamma <= 3  # the band where R1 worked on these sets (pyro-notes, GANs on ring8)


@pytest.mark.parametrize("sample,var", [(lambda g: torch.rand(10000, 1, generator=g), 1 / 12),  # uniform: W1/W2 = 4
                                        (lambda g: torch.randn(10000, 2, generator=g) * 1.5, 2.25),
                                        (lambda g: torch.rand(1500, 1, 28, 28, generator=g), 1 / 12)])
def test_unimodal_data_use_their_variance(sample, var):
    x = sample(gen(3))
    s = data_scales(x)
    assert s["modes"] == 1
    assert default_gamma(x) == pytest.approx(10 * var, rel=0.1)


def test_constant_data_and_bad_input():
    assert default_gamma(torch.ones(10, 3)) == 0.0
    with pytest.raises(PyprogenError, match="^data: expected at least 2 data points"):
        default_gamma(torch.ones(1, 2))
    with pytest.raises(PyprogenError, match="^data: expected finite values"):
        default_gamma(torch.tensor([[0.0], [float("nan")]]))


def test_deterministic_and_draws_no_random_numbers():
    x = load_dataset("ring8").x
    state = torch.get_rng_state()
    assert default_gamma(x) == default_gamma(x)
    assert torch.equal(state, torch.get_rng_state())
