"""β-VAE (Higgins et al. 2017): the VAE with the KL term weighted by β,

    L_β = E_q[log p(x|z)] - β KL(q(z|x) || p(z)).

The model and guide are the VAE's; β lives in the estimator (:class:`pyprogen.infer.BetaELBO`),
which scales the latent sites with an effect handler.
"""
from ..errors import PyprogenError
from .registry import register_model
from .vae import VAE


class BetaVAE(VAE):
    def __init__(self, data_shape, *, beta=4.0, **kw):
        super().__init__(data_shape, **kw)
        if not (isinstance(beta, (int, float)) and beta >= 0):
            raise PyprogenError(f"beta: expected a number >= 0, got {beta!r}")
        self.beta = float(beta)

    def default_loss(self):
        from ..infer import BetaELBO  # estimators are chosen here, defined in infer/

        return BetaELBO(self.beta)


@register_model("beta-vae", help='β-VAE (Higgins et al. 2017): ELBO with the KL term weighted by β.')
def _build(data_shape, **kw):
    return BetaVAE(data_shape, **kw)
