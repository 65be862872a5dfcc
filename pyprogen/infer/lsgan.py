"""The least-squares GAN loss (Mao et al. 2017, "Least squares generative adversarial networks", eq. 2).

    critic:    min  ½·E_data[(D(x) − b)²] + ½·E_θ[(D(x̃) − a)²]
    generator: min  ½·E_θ[(D(x̃) − c)²]

with the paper's 0-1 coding a = 0 (fake), b = 1 (real), c = 1 (what the generator wants the
critic to believe) as the default. Mao et al. show that a = −1, b = 1, c = 0 (b − c = 1,
b − a = 2) makes the generator minimise the Pearson χ² divergence between p_data + p_θ and
2·p_θ (their Theorem 1, eq. 8); both codings are available through ``a``, ``b``, ``c``.
The critic outputs raw scores (no sigmoid). Squared errors penalise samples that are on the
right side of the boundary but far from it, which gives the generator gradients where the
saturating sigmoid of the minimax GAN gives none.
"""
import math

import torch

from ..errors import expect
from .adversarial_loss import AdversarialLoss, register_adversarial_loss
from .penalties import batch_mean, critic_scores


def _number(value, argument):
    expect(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value), argument,
           "a finite number", value)
    return float(value)


@register_adversarial_loss("lsgan")
class LSGANLoss(AdversarialLoss):
    """LSGAN: squared distance of the critic's score to targets ``b`` (real), ``a`` (fake), ``c`` (generator)."""

    def __init__(self, a=0.0, b=1.0, c=1.0):
        self.a, self.b, self.c = _number(a, "a"), _number(b, "b"), _number(c, "c")
        expect(self.a != self.b, "b", f"a target for real data different from a = {self.a}", self.b)

    def critic_loss(self, critic, real, fake):
        loss = 0.5 * (batch_mean((critic_scores(critic, real) - self.b) ** 2)
                      + batch_mean((critic_scores(critic, fake.detach()) - self.a) ** 2))
        return loss, torch.zeros((), device=loss.device)

    def generator_loss(self, critic, fake):
        return 0.5 * batch_mean((critic_scores(critic, fake) - self.c) ** 2)

    def __repr__(self):
        return f"LSGANLoss(a={self.a}, b={self.b}, c={self.c})"
