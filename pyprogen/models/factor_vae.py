"""FactorVAE (Kim & Mnih 2018, "Disentangling by Factorising"): the VAE with a penalty on the total correlation
of the aggregate posterior q(z) = E_p(x)[q(z|x)], estimated by a discriminator (Eq. 2 and Sec. 3):

    (1/N) Σ_i [ E_q(z|x_i)[log p(x_i|z)] − KL(q(z|x_i) || p(z)) ]  −  γ · KL(q(z) || q̄(z)),   q̄(z) = Π_j q(z_j),

    KL(q(z) || q̄(z)) ≈ E_q(z)[ log D(z) / (1 − D(z)) ],

where D (``critic``, logits) is trained to tell z ~ q(z) from codes whose dimensions were shuffled independently
across the minibatch (samples of q̄). The model and guide are the VAE's (sites ``"z"``, ``"x"``; any ``guide=`` and
``prior=``); the model declares ``critic_site = "z-permuted"``, so ``fit`` trains it with the registered step whose
critic reads permuted codes (:class:`pyprogen.infer.factor_vae.FactorVAESVI`). Paper settings: γ = 40 on dSprites in
its figures (disentanglement_lib sweeps 10–100; the reference PyTorch implementation uses 10, the default here),
discriminator 6x1000 LeakyReLU(0.2) (here ``critic_hidden``, default 6x1000), Adam 1e-4 for both nets
(the discriminator's ``critic_lr``, default 1e-4).
"""
from ..errors import PyprogenError
from ..nn.dcgan import MLPCritic
from .registry import register_model
from .vae import VAE


class FactorVAE(VAE):
    """VAE with a total-correlation discriminator ``critic`` (``z -> logit``).

    :param gamma: γ, the weight of the total correlation (>= 0; 0 is the plain VAE with an idle discriminator).
    :param critic_hidden: the discriminator's hidden widths.
    :param critic_lr: the discriminator's Adam learning rate (``None``: the VAE's).
    Other keywords go to :class:`~pyprogen.models.VAE`.
    """

    critic_site = "z-permuted"

    def __init__(self, data_shape, *, gamma=10.0, critic_hidden=(1000,) * 6, critic_lr=1e-4, **kw):
        super().__init__(data_shape, **kw)
        if isinstance(gamma, bool) or not (isinstance(gamma, (int, float)) and 0 <= gamma < float("inf")):
            raise PyprogenError(f"gamma: expected a finite number >= 0, got {gamma!r}")
        if critic_lr is not None and (isinstance(critic_lr, bool) or not isinstance(critic_lr, (int, float))
                                      or not 0 < critic_lr < float("inf")):
            raise PyprogenError(f"critic_lr: expected a positive number, got {critic_lr!r}")
        self.gamma, self.critic_lr = float(gamma), critic_lr
        self.critic = MLPCritic((self.latent_dim,), tuple(critic_hidden))

    def default_loss(self):
        from ..infer.factor_vae import FactorTCLoss

        return FactorTCLoss()


@register_model("factor-vae", help="FactorVAE (Kim & Mnih 2018): ELBO − γ·total correlation, estimated by a "
                                   "discriminator on z against dimension-wise permuted z.")
def _build(data_shape, **kw):
    return FactorVAE(data_shape, **kw)
