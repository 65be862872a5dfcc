"""WAE-GAN (Tolstikhin et al. 2018): a WAE whose divergence D(q(z), p(z)) is adversarial.

    min_{enc, dec}  E_x E_q(z|x)[−log p(x|z)] + λ · D_GAN(q(z), p(z))

where q(z) = ∫ q(z|x) p(x) dx is the aggregate posterior and D_GAN is estimated by a
discriminator in latent space (``critic``, alias ``latent_critic``) trained to tell p(z) = N(0, I) draws from
q(z|x) codes. The model and guide are the VAE's (sites ``"z"``, ``"x"``); the model declares
``critic_site = "z"``, so ``fit`` trains it with the registered step whose critic reads ``"z"``
(:class:`pyprogen.infer.wae_gan_svi.WAEGANSVI`). ``default_loss()`` is the non-saturating loss
(Algorithm 1 of the paper); pass any adversarial loss name, e.g. ``loss="gan-dp"``, to swap it. Paper defaults for MNIST:
λ = 1 and a latent discriminator MLP (theirs 4x512; here ``critic_hidden``, default 2x128).
"""
from ..nn.dcgan import MLPCritic
from .registry import register_model
from .wae import WAE


class WAEGAN(WAE):
    """WAE with ``reg="gan"`` and a latent discriminator ``critic`` (``z -> logit``)."""

    critic_site = "z"

    def __init__(self, data_shape, *, lam=1.0, adversarial="ns-gan", latent_critic=None, critic_hidden=(128, 128),
                 **kw):
        super().__init__(data_shape, reg="gan", lam=lam, **kw)
        from ..infer.adversarial_loss import adversarial_loss

        self.adversarial = adversarial_loss(adversarial)  # validates the name now
        self.critic = latent_critic or MLPCritic((self.latent_dim,), tuple(critic_hidden))

    @property
    def latent_critic(self):
        """The discriminator in latent space (stored as ``critic``, like a GAN's)."""
        return self.critic

    def default_loss(self):
        return self.adversarial


@register_model("wae-gan", help='WAE-GAN (Tolstikhin et al. 2018): reconstruction + λ·latent adversarial loss; critic on z.')
def _build(data_shape, **kw):
    return WAEGAN(data_shape, **kw)
