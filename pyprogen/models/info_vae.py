"""InfoVAE / MMD-VAE (Zhao, Song & Ermon 2019, Sec. 3): the VAE's model and guide trained with

    E_q[log p(x|z)] − (1 − α) KL(q(z|x) || p(z)) − (α + λ − 1) MMD(q(z), p(z)).

The objective lives in the estimator (:class:`pyprogen.infer.info_vae.InfoELBO`), which reads the traces.
"""
from .registry import register_model
from .vae import VAE


class InfoVAE(VAE):
    """VAE trained with the InfoVAE objective.

    :param alpha: α <= 1 (KL weight 1 − α); default 0 (full KL).
    :param lam: λ >= 1 − α (MMD weight α + λ − 1); default 10.
    :param kernel: the MMD kernel, ``"imq"`` (default) or ``"rbf"``.
    Other keywords go to :class:`~pyprogen.models.VAE`.
    """

    def __init__(self, data_shape, *, alpha=0.0, lam=10.0, kernel="imq", **kw):
        super().__init__(data_shape, **kw)
        from ..infer.info_vae import InfoELBO

        loss = InfoELBO(alpha, lam, kernel)  # checks the weights and the kernel
        self.alpha, self.lam, self.kernel = loss.alpha, loss.info_lam, kernel

    def default_loss(self):
        from ..infer.info_vae import InfoELBO

        return InfoELBO(self.alpha, self.lam, self.kernel)


@register_model("info-vae", help='InfoVAE / MMD-VAE (Zhao et al. 2019): ELBO with an MMD term on q(z).')
def _build_info_vae(data_shape, **kw):
    return InfoVAE(data_shape, **kw)
