"""Non-saturating GAN with the R2 penalty on generated samples (Mescheder et al. 2018, eq. 10).

    critic:    min  E_data[softplus(−D(x))] + E_θ[softplus(D(x̃))] + γ/2·E_θ[‖∇_x D(x̃)‖²]
    generator: min  E_θ[softplus(−D(x̃))]

Like R1 it makes the Dirac-GAN locally convergent (Mescheder et al. 2018, Theorem 4.2). As in
GAN-DP (gan_dp.py), one critic pass on the generated batch gives its loss term and the penalty
(the values of :func:`~pyprogen.infer.penalties.r2_penalty` on a pass of its own).
"""
from ..errors import expect
from .adversarial_loss import register_adversarial_loss
from .minimax_gan import logit_bce
from .non_saturating_gan import NonSaturatingLoss
from .penalties import batch_mean, critic_scores, scores_and_input_gradient_sq_norms


@register_adversarial_loss("r2")
class R2Loss(NonSaturatingLoss):
    """Non-saturating GAN + γ/2·E_θ‖∇D‖² (R2)."""

    def __init__(self, gamma=10.0):
        expect(isinstance(gamma, (int, float)) and gamma >= 0, "gamma", "a number >= 0", gamma)
        self.gamma = float(gamma)

    def critic_loss(self, critic, real, fake):
        fake_scores, sq_norms = scores_and_input_gradient_sq_norms(critic, fake)  # one pass: loss and R2
        penalty = self.gamma / 2 * batch_mean(sq_norms)
        return logit_bce(critic_scores(critic, real), fake_scores) + penalty, penalty

    def __repr__(self):
        return f"R2Loss(gamma={self.gamma})"
