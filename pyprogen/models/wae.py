"""Wasserstein autoencoder (Tolstikhin et al. 2018).

    min  E_p(x) E_q(z|x)[c(x, G(z))] + λ D(q(z), p(z))

where q(z) = ∫ q(z|x) p(x) dx is the aggregate posterior. ``reg="mmd"`` takes D as the MMD
with an inverse multiquadratic kernel (:class:`pyprogen.infer.MMDELBO`); ``reg="gan"`` takes it
as an adversarial divergence in latent space with a discriminator attached to the model.
The reconstruction cost is the likelihood's negative log-probability.
"""
from ..errors import PyprogenError
from .registry import register_model
from .vae import VAE

REGULARISERS = ("mmd", "gan")


class WAE(VAE):
    def __init__(self, data_shape, *, reg="mmd", lam=10.0, **kw):
        super().__init__(data_shape, **kw)
        if reg not in REGULARISERS:
            raise PyprogenError(f"reg: expected one of {REGULARISERS}, got {reg!r}")
        if not (isinstance(lam, (int, float)) and lam >= 0):
            raise PyprogenError(f"lam: expected a number >= 0, got {lam!r}")
        self.reg, self.lam = reg, float(lam)

    def default_loss(self):
        from ..infer import MMDELBO

        return MMDELBO(self.lam)


@register_model("wae-mmd", help='WAE-MMD (Tolstikhin et al. 2018): reconstruction + λ·MMD(q(z), p(z)).')
def _build(data_shape, **kw):
    return WAE(data_shape, reg="mmd", **kw)
