"""Gradient penalties against hand-computed values on linear and quadratic critics."""
import pytest
import torch
from torch import nn

from pyprogen.infer.penalties import (batch_mean, critic_scores, gradient_penalty, interpolates,
                                      interpolation_noise, lipschitz_penalty, r1_penalty, r2_penalty)


def linear_critic(weight):
    critic = nn.Linear(weight.numel(), 1)
    with torch.no_grad():
        critic.weight.copy_(weight.reshape(1, -1))
        critic.bias.fill_(0.3)
    return critic


class StackedLinear(nn.Module):
    """S independent linear critics: x (S, B, d) -> scores (S, B)."""

    def __init__(self, weights):
        super().__init__()
        self.weight = nn.Parameter(weights.clone())

    def forward(self, x):
        return torch.einsum("sbd,sd->sb", x, self.weight)


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, 3, generator=g), torch.randn(64, 3, generator=g) + 2


@pytest.mark.parametrize("norm", [0.5, 1.0, 2.5])
def test_penalties_on_linear_critic_equal_hand_computed(data, norm):
    torch.manual_seed(0)
    real, fake = data
    w = torch.tensor([1.0, -2.0, 0.5])
    critic = linear_critic(w / w.norm() * norm)  # ‖∇D‖ = ‖w‖ = norm everywhere
    assert gradient_penalty(critic, real, fake, lam=10).item() == pytest.approx(10 * (norm - 1) ** 2, abs=1e-5)
    assert lipschitz_penalty(critic, real, fake, lam=10).item() == pytest.approx(10 * max(norm - 1, 0) ** 2, abs=1e-5)
    assert r1_penalty(critic, real, gamma=4).item() == pytest.approx(2 * norm ** 2, rel=1e-6)
    assert r2_penalty(critic, fake, gamma=4).item() == pytest.approx(2 * norm ** 2, rel=1e-6)


def test_one_sided_penalty_is_zero_and_gradient_free_inside_the_unit_ball(data):
    real, fake = data
    critic = linear_critic(torch.tensor([0.3, 0.4, 0.0]))  # ‖w‖ = 0.5 < 1
    penalty = lipschitz_penalty(critic, real, fake)
    penalty.backward()
    assert penalty.item() == 0.0
    assert critic.weight.grad.abs().max().item() == 0.0


def test_r1_trains_the_critic_with_the_analytic_gradient(data):
    # d/dw [γ/2 ‖w‖²] = γ w: needs create_graph (double backward) to be non-zero.
    real, _ = data
    w = torch.tensor([1.0, -2.0, 0.5])
    critic = linear_critic(w)
    r1_penalty(critic, real, gamma=3.0).backward()
    torch.testing.assert_close(critic.weight.grad.reshape(-1), 3.0 * w, rtol=1e-6, atol=1e-6)


def test_r1_on_a_quadratic_critic_uses_per_sample_gradients(data):
    # D(x) = ½‖x‖², ∇D = x, so R1 = γ/2 · mean ‖x‖²; image-shaped data (B, 1, 2, 2).
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 1, 2, 2, generator=g)
    critic = lambda v: 0.5 * v.pow(2).flatten(1).sum(-1, keepdim=True)  # (B, 1) output
    expected = 5.0 * x.flatten(1).pow(2).sum(-1).mean()
    assert r1_penalty(critic, x, gamma=10).item() == pytest.approx(expected.item(), rel=1e-6)


def test_stacked_critics_sum_over_networks_and_keep_gradients_separate():
    torch.manual_seed(0)
    S, B, d = 4, 16, 3
    weights = torch.randn(S, d) * torch.tensor([0.3, 0.8, 1.5, 2.0]).unsqueeze(-1)
    norms = weights.norm(dim=-1)
    real, fake = torch.randn(S, B, d), torch.randn(S, B, d)
    stack = StackedLinear(weights)
    gp = gradient_penalty(stack, real, fake, lam=10)
    assert gp.item() == pytest.approx((10 * (norms - 1) ** 2).sum().item(), rel=1e-5)
    lp = lipschitz_penalty(stack, real, fake, lam=10)
    assert lp.item() == pytest.approx((10 * torch.relu(norms - 1) ** 2).sum().item(), rel=1e-5)
    r1 = r1_penalty(stack, real, gamma=2.0)
    r1.backward()
    # each network's gradient is its own γ·w_s, unaffected by the other networks
    torch.testing.assert_close(stack.weight.grad, 2.0 * weights, rtol=1e-5, atol=1e-6)


def test_interpolates_draw_one_epsilon_per_sample_on_the_segment():
    torch.manual_seed(0)
    real, fake = torch.zeros(3, 50, 4), torch.ones(3, 50, 4)
    x = interpolates(lambda v: v.sum(-1), real, fake)
    # every coordinate of a sample shares the same ε, and 1 − ε ~ U(0, 1)
    assert torch.all(x.std(-1) == 0)
    assert x.min().item() >= 0 and x.max().item() <= 1
    assert x[..., 0].mean().item() == pytest.approx(0.5, abs=0.1)


def test_interpolation_noise_supplies_epsilon_and_nests():
    real, fake = torch.zeros(2, 5, 3), torch.ones(2, 5, 3)
    critic = lambda v: v.sum(-1)  # noqa: E731
    seen = []

    def quarter(shape, dtype, device):
        seen.append((tuple(shape), dtype))
        return torch.full(shape, 0.25, dtype=dtype, device=device)

    state = torch.get_rng_state()
    with interpolation_noise(quarter):
        x = interpolates(critic, real, fake)
        with interpolation_noise(lambda shape, dtype, device: torch.ones(shape, dtype=dtype)):
            assert torch.equal(interpolates(critic, real, fake), real)  # ε = 1: the real point
        assert torch.equal(interpolates(critic, real, fake), x)  # the outer sampler again
    assert torch.equal(x, torch.full((2, 5, 3), 0.75))  # x̂ = ε·0 + (1 − ε)·1
    assert seen[0] == ((2, 5, 1), torch.float32)  # one ε per network and sample
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG was not used
    with interpolation_noise(lambda shape, dtype, device: torch.ones(shape, dtype=dtype)):
        assert gradient_penalty(linear_critic(torch.tensor([2.0, 0.0, 0.0])), real[0], fake[0]).item() == \
            pytest.approx(10.0)
    assert not torch.equal(interpolates(critic, real, fake), interpolates(critic, real, fake))  # torch.rand again


def test_scores_convention_and_batch_mean():
    x = torch.randn(2, 5, 3)
    assert critic_scores(lambda v: v.sum(-1, keepdim=True), x).shape == (2, 5)
    assert critic_scores(lambda v: v.sum(-1), x).shape == (2, 5)
    values = torch.tensor([[1.0, 3.0], [10.0, 20.0]])
    assert batch_mean(values).item() == pytest.approx(2.0 + 15.0)
