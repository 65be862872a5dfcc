"""The minimax GAN loss of Goodfellow et al. 2014 (eq. 1), on discriminator logits D.

    critic:    min  −E_data[log σ(D(x))] − E_θ[log(1 − σ(D(x̃)))]
                  = E_data[softplus(−D(x))] + E_θ[softplus(D(x̃))]
    generator: min   E_θ[log(1 − σ(D(x̃)))] = −E_θ[softplus(D(x̃))]

At the optimum of the critic, σ(D*(x)) = p_data(x) / (p_data(x) + p_θ(x)) (Goodfellow et al.
2014, Prop. 1), and the generator minimises 2·JS(p_data ‖ p_θ) − log 4.
"""
import torch
from torch.nn import functional as F

from .adversarial_loss import AdversarialLoss, register_adversarial_loss
from .penalties import batch_mean, critic_scores


def logit_bce(real_scores, fake_scores):
    """Binary cross-entropy of critic logits, real labelled 1, fake 0: E[softplus(−D(x))] + E[softplus(D(x̃))]."""
    return batch_mean(F.softplus(-real_scores)) + batch_mean(F.softplus(fake_scores))


def discriminator_loss(critic, real, fake):
    """Binary cross-entropy of logits: real labelled 1, fake 0; returns (loss, real scores)."""
    real_scores = critic_scores(critic, real)
    fake_scores = critic_scores(critic, fake.detach())
    return logit_bce(real_scores, fake_scores), real_scores


@register_adversarial_loss("gan")
class MinimaxGANLoss(AdversarialLoss):
    """Minimax GAN (saturating generator loss)."""

    def critic_loss(self, critic, real, fake):
        loss, _ = discriminator_loss(critic, real, fake)
        return loss, torch.zeros((), device=loss.device)

    def generator_loss(self, critic, fake):
        return -batch_mean(F.softplus(critic_scores(critic, fake)))
