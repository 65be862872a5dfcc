"""GAN-DP and R2 score the penalised batch once (loss and penalty from one critic pass): the same
loss and critic gradients as the two-pass formula (discriminator loss + r1/r2_penalty on a pass of its own)."""
import pytest
import torch

from pyprogen.infer import GANDPLoss, R2Loss
from pyprogen.infer.minimax_gan import discriminator_loss
from pyprogen.infer.penalties import (input_gradient_sq_norms, r1_penalty, r2_penalty,
                                      scores_and_input_gradient_sq_norms)
from pyprogen.nn.dcgan import DCGANCritic


def two_pass(name, critic, real, fake, gamma):
    loss, _ = discriminator_loss(critic, real, fake)
    penalty = r1_penalty(critic, real, gamma=gamma) if name == "gan-dp" else r2_penalty(critic, fake, gamma=gamma)
    return loss + penalty, penalty


def critic_and_data(seed=0):
    torch.manual_seed(seed)
    critic = DCGANCritic((1, 28, 28), 8)  # the GAN's default conv critic (no BatchNorm, no spectral norm)
    real = torch.rand(16, 1, 28, 28)
    leaf = torch.rand(16, 1, 28, 28, requires_grad=True)
    return critic, real, leaf * 0.5, leaf  # fakes as a generator's output: with a graph behind them


@pytest.mark.parametrize("cls,name", [(GANDPLoss, "gan-dp"), (R2Loss, "r2")])
@pytest.mark.parametrize("gamma", [10.0, 0.5])
def test_one_pass_equals_two_pass_loss_and_gradients(cls, name, gamma):
    critic, real, fake, leaf = critic_and_data()
    params = list(critic.parameters())
    loss, penalty = cls(gamma=gamma).critic_loss(critic, real, fake)
    grads = torch.autograd.grad(loss, params, retain_graph=True)
    assert torch.autograd.grad(loss, leaf, allow_unused=True) == (None,)  # nothing flows back into the generator
    ref_loss, ref_penalty = two_pass(name, critic, real, fake, gamma)
    ref_grads = torch.autograd.grad(ref_loss, params)
    assert penalty.item() > 0
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-6, abs=1e-6)
    assert penalty.item() == pytest.approx(ref_penalty.item(), rel=1e-6, abs=1e-6)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def test_one_pass_on_stacked_critics_equals_separate_networks():
    torch.manual_seed(1)
    w = torch.randn(3, 5, requires_grad=True)
    stacked = lambda x: torch.tanh(torch.einsum("sbd,sd->sb", x, w))  # noqa: E731
    real, fake = torch.randn(3, 32, 5), torch.randn(3, 32, 5) + 1
    for cls, name in [(GANDPLoss, "gan-dp"), (R2Loss, "r2")]:
        loss, _ = cls(gamma=2.0).critic_loss(stacked, real, fake)
        ref, _ = two_pass(name, stacked, real, fake, 2.0)
        torch.testing.assert_close(torch.autograd.grad(loss, w)[0], torch.autograd.grad(ref, w)[0], rtol=1e-5, atol=1e-6)
        assert loss.item() == pytest.approx(ref.item(), rel=1e-6)


def test_scores_and_norms_helper_agrees_with_the_separate_functions():
    critic, real, _, _ = critic_and_data(2)
    scores, sq = scores_and_input_gradient_sq_norms(critic, real)
    assert scores.shape == sq.shape == (16,)
    torch.testing.assert_close(scores, critic(real).squeeze(-1), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(sq, input_gradient_sq_norms(critic, real), rtol=1e-6, atol=1e-7)
