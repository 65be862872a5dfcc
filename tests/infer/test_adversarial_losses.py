"""The seven adversarial losses: analytic values, the optimal discriminator, the Dirac-GAN."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from pyprogen.errors import PyprogenError
from pyprogen.infer import ADVERSARIAL_LOSSES, adversarial_loss

NAMES = ["gan", "ns-gan", "wgan", "wgan-gp", "wgan-lp", "gan-dp", "r2"]

@pytest.fixture
def one_thread():
    """Small nets: one intra-op thread is faster and does not spin on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)



def test_registry_has_the_seven_losses_and_rejects_unknown_names():
    assert set(NAMES) <= set(ADVERSARIAL_LOSSES)
    with pytest.raises(PyprogenError, match="loss"):
        adversarial_loss("no-such-loss")
    with pytest.raises(PyprogenError, match="gamma"):
        adversarial_loss("gan-dp", gamma=-1)


def test_defaults_follow_the_papers():
    assert adversarial_loss("wgan").clip == 0.01 and adversarial_loss("wgan").critic_steps == 5
    assert adversarial_loss("wgan-gp").lam == 10 and adversarial_loss("wgan-gp").critic_steps == 5
    assert adversarial_loss("gan-dp").gamma == 10 and adversarial_loss("gan-dp").critic_steps == 1
    p = [nn.Parameter(torch.zeros(2))]
    wgan_opt = adversarial_loss("wgan").make_critic_optimizer(p, 5e-5)
    assert isinstance(wgan_opt, torch.optim.RMSprop) and wgan_opt.defaults["lr"] == 5e-5
    gp_opt = adversarial_loss("wgan-gp").make_generator_optimizer(p, 1e-4)
    assert isinstance(gp_opt, torch.optim.Adam) and gp_opt.defaults["betas"] == (0.0, 0.9)


def test_loss_values_on_a_constant_and_a_linear_critic():
    real, fake = torch.zeros(8, 2), torch.ones(8, 2)
    c = 0.7
    const = lambda x: torch.full(x.shape[:-1] + (1,), c)
    lc, pen = adversarial_loss("gan").critic_loss(const, real, fake)
    assert lc.item() == pytest.approx(math.log1p(math.exp(-c)) + math.log1p(math.exp(c)), rel=1e-6)
    assert pen.item() == 0
    assert adversarial_loss("gan").generator_loss(const, fake).item() == pytest.approx(-math.log1p(math.exp(c)))
    assert adversarial_loss("ns-gan").generator_loss(const, fake).item() == pytest.approx(math.log1p(math.exp(-c)))
    linear = lambda x: x @ torch.tensor([2.0, -0.5])  # D(1,1) - D(0,0) = 1.5
    lw, _ = adversarial_loss("wgan").critic_loss(linear, real, fake)
    assert lw.item() == pytest.approx(1.5)
    assert adversarial_loss("wgan").generator_loss(linear, fake).item() == pytest.approx(-1.5)
    # the penalty is part of the returned critic loss: ‖w‖² = 4.25
    lg, pg = adversarial_loss("wgan-gp", lam=2.0).critic_loss(linear, real, fake)
    assert pg.item() == pytest.approx(2.0 * (math.sqrt(4.25) - 1) ** 2, rel=1e-5)
    assert lg.item() == pytest.approx(1.5 + pg.item(), rel=1e-6)
    ld, pd = adversarial_loss("gan-dp", gamma=2.0).critic_loss(linear, real, fake)
    assert pd.item() == pytest.approx(4.25, rel=1e-6)
    assert ld.item() == pytest.approx(math.log(2) + F.softplus(torch.tensor(1.5)).item() + 4.25, rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_losses_sum_over_stacked_networks(name):
    # two networks stacked along a leading dim give the sum of their separate losses
    torch.manual_seed(0)
    w = torch.tensor([[1.5, -0.2], [0.3, 0.1]])
    real, fake = torch.randn(2, 32, 2), torch.randn(2, 32, 2) + 1
    stacked = lambda x: torch.einsum("sbd,sd->sb", x, w)
    loss = adversarial_loss(name)
    total, _ = loss.critic_loss(stacked, real, fake)
    # linear critics: every penalty is independent of the interpolation ε, so the sum is exact
    separate = sum(loss.critic_loss(lambda x, s=s: x @ w[s], real[s], fake[s])[0] for s in range(2))
    assert total.item() == pytest.approx(separate.item(), rel=1e-5)
    gen = loss.generator_loss(stacked, fake)
    gen_sep = sum(loss.generator_loss(lambda x, s=s: x @ w[s], fake[s]) for s in range(2))
    assert gen.item() == pytest.approx(gen_sep.item(), rel=1e-5)


def test_wgan_clips_critic_weights_after_each_step():
    critic = nn.Linear(3, 1)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.5, -0.005, -2.0]]))
    adversarial_loss("wgan", clip=0.01).after_critic_step(critic)
    torch.testing.assert_close(critic.weight, torch.tensor([[0.01, -0.005, -0.01]]))


def test_minimax_discriminator_approaches_the_optimal_discriminator(one_thread):
    """Goodfellow et al. 2014, Prop. 1: D*(x) = p_data / (p_data + p_g), for a fixed generator."""
    torch.manual_seed(0)
    p_data, p_g = torch.distributions.Normal(1.0, 0.5), torch.distributions.Normal(-0.5, 1.0)
    critic = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    loss = adversarial_loss("gan")
    opt = torch.optim.Adam(critic.parameters(), lr=3e-3)
    for _ in range(800):
        real, fake = p_data.sample((512, 1)), p_g.sample((512, 1))
        lc, _ = loss.critic_loss(critic, real, fake)
        opt.zero_grad()
        lc.backward()
        opt.step()
    grid = torch.linspace(-1.5, 2.0, 36).unsqueeze(-1)
    d_star = torch.sigmoid(p_data.log_prob(grid) - p_g.log_prob(grid)).squeeze(-1)
    with torch.no_grad():
        d = torch.sigmoid(critic(grid)).squeeze(-1)
    assert (d - d_star).abs().max().item() < 0.05


def dirac_gan(name, steps, lr=0.1, **kw):
    """Mescheder et al. 2018, Sec. 2.2: p_data = δ_0, generator δ_θ, D(x) = ψ·x; simultaneous GD."""
    loss = adversarial_loss(name, **kw)
    theta, psi = torch.tensor(1.0, requires_grad=True), torch.tensor(0.0, requires_grad=True)
    critic, real = (lambda x: psi * x), torch.zeros(1, 1)
    radius = []
    for _ in range(steps):
        fake = theta.reshape(1, 1)
        (g_psi,) = torch.autograd.grad(loss.critic_loss(critic, real, fake)[0], psi)
        (g_theta,) = torch.autograd.grad(loss.generator_loss(critic, fake), theta)
        with torch.no_grad():
            psi -= lr * g_psi
            theta -= lr * g_theta
        radius.append(math.hypot(theta.item(), psi.item()))
    return radius


def test_dirac_gan_plain_gan_does_not_converge_and_gan_dp_does():
    plain = dirac_gan("gan", 1000)
    # simultaneous gradient steps spiral outwards: the distance to (0, 0) grows every step
    assert all(b > a for a, b in zip(plain, plain[1:]))
    assert plain[-1] > 2.0
    regularised = dirac_gan("gan-dp", 1000, gamma=1.0)
    assert regularised[-1] < 1e-6
    assert dirac_gan("r2", 1000, gamma=1.0)[-1] < 1e-6
