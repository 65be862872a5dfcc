"""Hinge and least-squares (LSGAN) losses against their formulas on a fixed critic (tolerance 1e-6)."""
import pytest
import torch
from torch import nn

from pyprogen.errors import PyprogenError
from pyprogen.infer import ADVERSARIAL_LOSSES, HingeLoss, LSGANLoss, adversarial_loss


@pytest.fixture
def fixed():
    """A fixed random critic 2 -> 16 -> 1 and real/fake batches whose scores straddle the hinge margins."""
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1)).double()
    with torch.no_grad():
        critic[2].weight.mul_(12.0)  # scores spread beyond ±1: both sides of each margin
    real, fake = torch.randn(64, 2, dtype=torch.float64), torch.randn(64, 2, dtype=torch.float64) + 0.5
    return critic, real, fake


def test_registered_by_name():
    assert isinstance(adversarial_loss("hinge"), HingeLoss) and ADVERSARIAL_LOSSES["hinge"] is HingeLoss
    assert isinstance(adversarial_loss("lsgan"), LSGANLoss) and ADVERSARIAL_LOSSES["lsgan"] is LSGANLoss
    assert adversarial_loss("hinge").critic_steps == 1 and adversarial_loss("lsgan").critic_steps == 1


def test_hinge_equals_its_formula(fixed):
    critic, real, fake = fixed
    dr, df = critic(real).squeeze(-1), critic(fake).squeeze(-1)
    assert (dr < 1).any() and (dr > 1).any() and (df > -1).any() and (df < -1).any()  # both hinge branches used
    expected_critic = sum(max(0.0, 1 - d) for d in dr.tolist()) / 64 + sum(max(0.0, 1 + d) for d in df.tolist()) / 64
    loss, penalty = HingeLoss().critic_loss(critic, real, fake)
    assert loss.item() == pytest.approx(expected_critic, abs=1e-6) and penalty.item() == 0
    assert HingeLoss().generator_loss(critic, fake).item() == pytest.approx(-sum(df.tolist()) / 64, abs=1e-6)


@pytest.mark.parametrize("a,b,c", [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0)])
def test_least_squares_equals_its_formula(fixed, a, b, c):
    critic, real, fake = fixed
    dr, df = critic(real).squeeze(-1).tolist(), critic(fake).squeeze(-1).tolist()
    expected_critic = 0.5 * sum((d - b) ** 2 for d in dr) / 64 + 0.5 * sum((d - a) ** 2 for d in df) / 64
    expected_gen = 0.5 * sum((d - c) ** 2 for d in df) / 64
    loss = adversarial_loss("lsgan", a=a, b=b, c=c)
    value, penalty = loss.critic_loss(critic, real, fake)
    assert value.item() == pytest.approx(expected_critic, abs=1e-6) and penalty.item() == 0
    assert loss.generator_loss(critic, fake).item() == pytest.approx(expected_gen, abs=1e-6)


def test_gradients_reach_the_right_network(fixed):
    critic, real, fake = fixed
    fake = fake.clone().requires_grad_(True)
    for loss in (HingeLoss(), LSGANLoss()):
        value, _ = loss.critic_loss(critic, real, fake)
        (g,) = torch.autograd.grad(value, fake, allow_unused=True)
        assert g is None  # the critic's loss never trains the generator
        (g,) = torch.autograd.grad(loss.generator_loss(critic, fake), fake)
        assert torch.isfinite(g).all() and g.abs().sum() > 0


def test_stacked_networks_sum_their_losses():
    torch.manual_seed(1)
    w = torch.tensor([[1.5, -0.2], [0.3, 0.1]])
    real, fake = torch.randn(2, 32, 2), torch.randn(2, 32, 2) + 1
    stacked = lambda x: torch.einsum("sbd,sd->sb", x, w)
    for loss in (HingeLoss(), LSGANLoss()):
        total = loss.critic_loss(stacked, real, fake)[0]
        separate = sum(loss.critic_loss(lambda x, s=s: x @ w[s], real[s], fake[s])[0] for s in range(2))
        assert total.item() == pytest.approx(separate.item(), rel=1e-6)


def test_bad_targets_are_one_line_errors():
    with pytest.raises(PyprogenError, match="^a: expected a finite number"):
        LSGANLoss(a=float("nan"))
    with pytest.raises(PyprogenError, match="^b: "):
        LSGANLoss(a=1.0, b=1.0)
