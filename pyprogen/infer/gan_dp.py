"""GAN with a discriminator gradient penalty on real data ("GAN-DP").

Roth et al. 2017 ("Stabilizing training of GANs through regularization") penalise the
discriminator's input gradient; in the simplified form of Mescheder et al. 2018 ("Which
training methods for GANs do actually converge?", eq. 9) this is the R1 regulariser:

    critic:    min  E_data[softplus(−D(x))] + E_θ[softplus(D(x̃))] + γ/2·E_data[‖∇_x D(x)‖²]
    generator: min  E_θ[softplus(−D(x̃))]          (non-saturating)

R1 makes simultaneous gradient descent locally convergent on the Dirac-GAN and in general
(Mescheder et al. 2018, Theorem 4.1). Default γ = 10, the most robust value in the 1-D study.
"""
from ..errors import expect
from .adversarial_loss import register_adversarial_loss
from .minimax_gan import discriminator_loss
from .non_saturating_gan import NonSaturatingLoss
from .penalties import r1_penalty


@register_adversarial_loss("gan-dp")
class GANDPLoss(NonSaturatingLoss):
    """Non-saturating GAN + γ/2·E_data‖∇D‖² (R1)."""

    def __init__(self, gamma=10.0):
        expect(isinstance(gamma, (int, float)) and gamma >= 0, "gamma", "a number >= 0", gamma)
        self.gamma = float(gamma)

    def critic_loss(self, critic, real, fake):
        loss, _ = discriminator_loss(critic, real, fake)
        penalty = r1_penalty(critic, real, gamma=self.gamma)
        return loss + penalty, penalty

    def __repr__(self):
        return f"GANDPLoss(gamma={self.gamma})"
