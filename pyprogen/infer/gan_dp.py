"""GAN with a discriminator gradient penalty on real data ("GAN-DP").

Roth et al. 2017 ("Stabilizing training of GANs through regularization") penalise the
discriminator's input gradient; in the simplified form of Mescheder et al. 2018 ("Which
training methods for GANs do actually converge?", eq. 9) this is the R1 regulariser:

    critic:    min  E_data[softplus(−D(x))] + E_θ[softplus(D(x̃))] + γ/2·E_data[‖∇_x D(x)‖²]
    generator: min  E_θ[softplus(−D(x̃))]          (non-saturating)

R1 makes simultaneous gradient descent locally convergent on the Dirac-GAN and in general
(Mescheder et al. 2018, Theorem 4.1). Default γ = 10, the most robust value in the 1-D study.

The critic scores the real batch once: that pass gives both the loss term and, differentiated with
respect to its input, the penalty (penalties.py, :func:`scores_and_input_gradient_sq_norms`) — the
same values as :func:`~pyprogen.infer.penalties.r1_penalty` on a pass of its own, for one forward
pass fewer per critic step (for a critic with state, such as BatchNorm statistics or a spectral
norm's power iteration, one update fewer).
"""
from ..errors import expect
from .adversarial_loss import register_adversarial_loss
from .minimax_gan import logit_bce
from .non_saturating_gan import NonSaturatingLoss
from .penalties import batch_mean, critic_scores, scores_and_input_gradient_sq_norms


@register_adversarial_loss("gan-dp")
class GANDPLoss(NonSaturatingLoss):
    """Non-saturating GAN + γ/2·E_data‖∇D‖² (R1)."""

    def __init__(self, gamma=10.0):
        expect(isinstance(gamma, (int, float)) and gamma >= 0, "gamma", "a number >= 0", gamma)
        self.gamma = float(gamma)

    def critic_loss(self, critic, real, fake):
        real_scores, sq_norms = scores_and_input_gradient_sq_norms(critic, real)  # one pass: loss and R1
        penalty = self.gamma / 2 * batch_mean(sq_norms)
        return logit_bce(real_scores, critic_scores(critic, fake.detach())) + penalty, penalty

    def __repr__(self):
        return f"GANDPLoss(gamma={self.gamma})"
