"""WGAN with a one-sided Lipschitz penalty (Petzka et al. 2018, "On the regularization of
Wasserstein GANs", eq. 8).

    critic:    min  E_θ[D(x̃)] − E_data[D(x)] + λ·E_x̂[max(0, ‖∇D(x̂)‖ − 1)²]
    generator: min −E_θ[D(x̃)]

Only gradients steeper than 1 are penalised, so a critic is not pushed towards ‖∇D‖ = 1
everywhere (in 1-D the two-sided penalty can pin a critic at slope −1; see WGAN-GP).
Defaults as WGAN-GP: λ = 10, n_critic = 5, Adam(0, 0.9).
"""
from .adversarial_loss import register_adversarial_loss
from .penalties import lipschitz_penalty
from .wgan_gp import PenalisedWassersteinLoss


@register_adversarial_loss("wgan-lp")
class WGANLPLoss(PenalisedWassersteinLoss):
    """WGAN-LP: one-sided penalty max(0, ‖∇D‖ − 1)² on random interpolates."""

    penalty_fn = staticmethod(lipschitz_penalty)
