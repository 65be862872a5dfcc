"""WGAN with a two-sided gradient penalty (Gulrajani et al. 2017, Algorithm 1, eq. 3).

    critic:    min  E_θ[D(x̃)] − E_data[D(x)] + λ·E_x̂[(‖∇D(x̂)‖ − 1)²],  x̂ = εx + (1−ε)x̃
    generator: min −E_θ[D(x̃)]

Paper defaults: λ = 10, n_critic = 5, Adam(β1 = 0, β2 = 0.9) (their lr 1e-4; here ``fit``'s lr).
"""
import torch

from ..errors import expect
from .penalties import gradient_penalty
from .adversarial_loss import register_adversarial_loss
from .wgan import WassersteinLoss, wasserstein_critic_loss


class PenalisedWassersteinLoss(WassersteinLoss):
    """W1 critic loss plus a penalty ``penalty_fn(critic, real, fake, lam=..., batch_ndim=...)``."""

    penalty_fn = None

    def __init__(self, lam=10.0, critic_steps=5):
        expect(isinstance(lam, (int, float)) and lam >= 0, "lam", "a number >= 0", lam)
        expect(isinstance(critic_steps, int) and critic_steps >= 1, "critic_steps", "an integer >= 1", critic_steps)
        self.lam, self.critic_steps = float(lam), critic_steps

    def critic_loss(self, critic, real, fake):
        loss, real_scores = wasserstein_critic_loss(critic, real, fake)
        penalty = type(self).penalty_fn(critic, real, fake, lam=self.lam, batch_ndim=real_scores.dim())
        return loss + penalty, penalty

    def make_critic_optimizer(self, params, lr):
        return torch.optim.Adam(params, lr=lr, betas=(0.0, 0.9))

    def make_generator_optimizer(self, params, lr):
        return torch.optim.Adam(params, lr=lr, betas=(0.0, 0.9))

    def __repr__(self):
        return f"{type(self).__name__}(lam={self.lam}, critic_steps={self.critic_steps})"


@register_adversarial_loss("wgan-gp")
class WGANGPLoss(PenalisedWassersteinLoss):
    """WGAN-GP: two-sided penalty (‖∇D‖ − 1)² on random interpolates."""

    penalty_fn = staticmethod(gradient_penalty)
