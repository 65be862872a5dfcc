"""Non-saturating GAN with the R2 penalty on generated samples (Mescheder et al. 2018, eq. 10).

    critic:    min  E_data[softplus(−D(x))] + E_θ[softplus(D(x̃))] + γ/2·E_θ[‖∇_x D(x̃)‖²]
    generator: min  E_θ[softplus(−D(x̃))]

Like R1 it makes the Dirac-GAN locally convergent (Mescheder et al. 2018, Theorem 4.2).
"""
from ..errors import expect
from .adversarial_loss import register_adversarial_loss
from .minimax_gan import discriminator_loss
from .non_saturating_gan import NonSaturatingLoss
from .penalties import r2_penalty


@register_adversarial_loss("r2")
class R2Loss(NonSaturatingLoss):
    """Non-saturating GAN + γ/2·E_θ‖∇D‖² (R2)."""

    def __init__(self, gamma=10.0):
        expect(isinstance(gamma, (int, float)) and gamma >= 0, "gamma", "a number >= 0", gamma)
        self.gamma = float(gamma)

    def critic_loss(self, critic, real, fake):
        loss, _ = discriminator_loss(critic, real, fake)
        penalty = r2_penalty(critic, fake, gamma=self.gamma)
        return loss + penalty, penalty

    def __repr__(self):
        return f"R2Loss(gamma={self.gamma})"
