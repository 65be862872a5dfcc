"""Spectral normalisation of the GAN critics and the deeper/narrower MLP options of pyprogen.nn.dcgan."""
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from pyprogen.errors import PyprogenError
from pyprogen.infer import adversarial_loss
from pyprogen.nn import DCGANCritic, MLPCritic, MLPGenerator
from pyprogen.nn.dcgan import spectral_normalise


def largest_singular_values(critic):
    """σ_max of every normalised weight, as the critic uses it (a conv kernel as its (out, in·k·k) matrix)."""
    out = []
    for m in critic.modules():
        if parametrize.is_parametrized(m, "weight"):
            w = m.weight.detach()
            out.append(torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), 2).item())
    return out


def train(critic, real, steps, lr, loss="gan-dp"):
    """``steps`` Adam updates of the critic against shifted fakes (R1 included: double backward).

    The learning rates are those of the recipes (1e-3 for the 2-D MLPs, 2e-4 for DCGAN). One power
    iteration per forward pass (SN-GAN's choice) tracks σ_max with a lag when the weights move fast:
    measured up to 0.04 above 1 mid-run for the conv critic at lr 1e-3, and up to 0.2 for the hinge
    loss's critic at lr 1e-3, settling again later. After 100 steps at lr 2e-4 the conv critic sat at
    1.010-1.039 with one iteration and 1.001-1.012 with five (6 seeds; this test is seed 1).
    """
    loss = adversarial_loss(loss, gamma=1.0) if loss == "gan-dp" else adversarial_loss(loss)
    opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.999))
    for _ in range(steps):
        fake = real + 0.5 * torch.randn_like(real)
        value, _ = loss.critic_loss(critic, real, fake)
        opt.zero_grad()
        value.backward()
        opt.step()
    critic.eval()
    return critic


def test_mlp_critic_keeps_unit_spectral_norm_after_training():
    torch.manual_seed(0)
    critic = MLPCritic((2,), hidden=(64,) * 4, spectral_norm=True)
    assert len(largest_singular_values(critic)) == 5  # every Linear, the output layer included
    real = torch.randn(256, 2) * torch.tensor([2.0, 0.1])
    norms = largest_singular_values(train(critic, real, steps=200, lr=1e-3))
    assert max(abs(s - 1) for s in norms) < 1e-2, norms
    # the raw (unnormalised) weights have moved away from norm 1: the parametrization does the work
    raw = [torch.linalg.matrix_norm(m.parametrizations.weight.original.detach(), 2).item()
           for m in critic.modules() if parametrize.is_parametrized(m, "weight")]
    assert max(abs(s - 1) for s in raw) > 0.1


def test_conv_critic_keeps_unit_spectral_norm_after_training():
    torch.manual_seed(1)
    critic = DCGANCritic((1, 28, 28), width=32, spectral_norm=5)  # 5 power iterations per pass
    assert len(largest_singular_values(critic)) == 3  # two convs and the output layer
    real = torch.rand(32, 1, 28, 28)
    norms = largest_singular_values(train(critic, real, steps=100, lr=2e-4))
    assert max(abs(s - 1) for s in norms) < 1e-2, norms


def test_power_iterations_option():
    c = MLPCritic((2,), spectral_norm=3)
    assert c.net[0].parametrizations.weight[0].n_power_iterations == 3
    assert MLPCritic((2,), spectral_norm=True).net[0].parametrizations.weight[0].n_power_iterations == 1
    with pytest.raises(PyprogenError, match="^spectral_norm: expected"):
        MLPCritic((2,), spectral_norm=-1)


def test_without_the_flag_nothing_is_normalised():
    assert largest_singular_values(MLPCritic((2,))) == []
    assert largest_singular_values(DCGANCritic((1, 28, 28), width=8)) == []


def test_spectral_normalise_a_user_critic_and_reject_one_without_weights():
    user = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
    assert spectral_normalise(user) is user and len(largest_singular_values(user)) == 2
    spectral_normalise(user)  # idempotent: no second parametrization
    assert len(user[0].parametrizations.weight) == 1

    class NoWeights(nn.Module):
        def forward(self, x):
            return x.sum(-1, keepdim=True)

    with pytest.raises(PyprogenError, match="^critic: spectral norm needs Linear or Conv layers"):
        spectral_normalise(NoWeights())
    with pytest.raises(PyprogenError, match="^critic: "):
        spectral_normalise(nn.Sequential(nn.ReLU()))


def test_deeper_narrower_mlp_options():
    g = MLPGenerator(16, (2,), hidden=(64,) * 4, activation="leaky_relu")
    linears = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [64, 64, 64, 64, 2] and linears[0].in_features == 16
    assert sum(isinstance(m, nn.LeakyReLU) and m.negative_slope == 0.2 for m in g.modules()) == 4
    assert g(torch.zeros(5, 16)).shape == (5, 2)
    assert any(isinstance(m, nn.ReLU) for m in MLPGenerator(16, (2,)).modules())  # default unchanged
    c = MLPCritic((2,), hidden=(64,) * 4)
    assert c(torch.zeros(5, 2)).shape == (5, 1)
    with pytest.raises(PyprogenError, match="^activation: expected one of"):
        MLPGenerator(16, (2,), activation="swish")
