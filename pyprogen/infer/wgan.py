"""Wasserstein GAN with weight clipping (Arjovsky et al. 2017, Algorithm 1).

    critic:    min  E_θ[D(x̃)] − E_data[D(x)],   then clip every critic weight to [−c, c]
    generator: min −E_θ[D(x̃)]

The clipped critic is K-Lipschitz for some K, so the critic's optimum estimates K·W1(p_data, p_θ)
by Kantorovich–Rubinstein duality. Paper defaults: c = 0.01, n_critic = 5, RMSprop with
learning rate 5e-5. The optimisers here are RMSprop at the learning rate ``fit`` passes
(``fit``'s ``lr``; pass ``--lr 5e-5`` on the command line for the paper's setting).
"""
import torch

from ..errors import expect
from .adversarial_loss import AdversarialLoss, register_adversarial_loss
from .penalties import batch_mean, critic_scores


def wasserstein_critic_loss(critic, real, fake):
    """E_θ[D(x̃)] − E_data[D(x)] (the negative of the critic's W1 estimate) and the real scores."""
    real_scores = critic_scores(critic, real)
    return batch_mean(critic_scores(critic, fake.detach())) - batch_mean(real_scores), real_scores


class WassersteinLoss(AdversarialLoss):
    """Shared generator side of the WGAN family: minimise −E_θ[D(x̃)]."""

    critic_steps = 5

    def generator_loss(self, critic, fake):
        return -batch_mean(critic_scores(critic, fake))


@register_adversarial_loss("wgan")
class WGANLoss(WassersteinLoss):
    """WGAN with weight clipping to ``[-clip, clip]`` after every critic update."""

    def __init__(self, clip=0.01, critic_steps=5):
        expect(isinstance(clip, (int, float)) and clip > 0, "clip", "a number > 0", clip)
        expect(isinstance(critic_steps, int) and critic_steps >= 1, "critic_steps", "an integer >= 1", critic_steps)
        self.clip, self.critic_steps = float(clip), critic_steps

    def critic_loss(self, critic, real, fake):
        loss, _ = wasserstein_critic_loss(critic, real, fake)
        return loss, torch.zeros((), device=loss.device)

    @torch.no_grad()
    def after_critic_step(self, critic):
        for p in critic.parameters():
            p.clamp_(-self.clip, self.clip)

    def make_critic_optimizer(self, params, lr):
        return torch.optim.RMSprop(params, lr=lr)

    def make_generator_optimizer(self, params, lr):
        return torch.optim.RMSprop(params, lr=lr)

    def __repr__(self):
        return f"WGANLoss(clip={self.clip}, critic_steps={self.critic_steps})"
