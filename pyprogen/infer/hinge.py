"""The hinge adversarial loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, SN-GAN, eq. 16).

    critic:    min  E_data[max(0, 1 − D(x))] + E_θ[max(0, 1 + D(x̃))]
    generator: min −E_θ[D(x̃)]

The critic is a soft-margin SVM between real (label +1) and generated (−1) samples; the
generator moves its samples along the critic's normal, as in WGAN. Usually paired with a
spectrally normalised critic (``spectral_norm=True`` of the nets), which is what bounds its
slope: unlike the Wasserstein losses, the hinge has no Lipschitz penalty of its own.
One critic step per generator step and Adam(0.5, 0.999) here, as for the other
logistic-style losses (SN-GAN used n_critic = 5 and Adam(0.5, 0.999) or (0, 0.9)).
"""
import torch

from .adversarial_loss import AdversarialLoss, register_adversarial_loss
from .penalties import batch_mean, critic_scores


@register_adversarial_loss("hinge")
class HingeLoss(AdversarialLoss):
    """Hinge GAN: margin loss for the critic, −E_θ[D(x̃)] for the generator."""

    def critic_loss(self, critic, real, fake):
        loss = (batch_mean(torch.relu(1 - critic_scores(critic, real)))
                + batch_mean(torch.relu(1 + critic_scores(critic, fake.detach()))))
        return loss, torch.zeros((), device=loss.device)

    def generator_loss(self, critic, fake):
        return -batch_mean(critic_scores(critic, fake))
