"""The non-saturating GAN loss of Goodfellow et al. 2014 (Sec. 3), on discriminator logits D.

The critic is trained as in the minimax game; the generator instead maximises log σ(D(x̃)):

    generator: min  −E_θ[log σ(D(x̃))] = E_θ[softplus(−D(x̃))]

which gives strong gradients early in training when the discriminator rejects fakes easily.
"""
import torch
from torch.nn import functional as F

from .adversarial_loss import AdversarialLoss, register_adversarial_loss
from .minimax_gan import discriminator_loss
from .penalties import batch_mean, critic_scores


@register_adversarial_loss("ns-gan")
class NonSaturatingLoss(AdversarialLoss):
    """Non-saturating GAN ("NS-GAN")."""

    def critic_loss(self, critic, real, fake):
        loss, _ = discriminator_loss(critic, real, fake)
        return loss, torch.zeros((), device=loss.device)

    def generator_loss(self, critic, fake):
        return batch_mean(F.softplus(-critic_scores(critic, fake)))
