"""DIP-VAE I and II (Kumar, Sattigeri & Balakrishnan 2018, Sec. 3): the VAE's model and guide trained
with the ELBO minus a penalty matching the covariance of the inferred prior to the identity,

    ELBO − λ_od Σ_{i≠j} [C]_ij² − λ_d Σ_i ([C]_ii − 1)²,   C = Cov[μ(x)] (I) or Cov_q(z)[z] (II).

The penalty lives in the estimator (:class:`pyprogen.infer.dip_vae.DIPELBO`), which reads the guide trace.
"""
from ..errors import PyprogenError
from .registry import register_model
from .vae import VAE


class DIPVAE(VAE):
    """VAE trained with the DIP-VAE objective.

    :param kind: ``"i"`` or ``"ii"``.
    :param lambda_od: λ_od (10); ``lambda_d``: λ_d (default 10·λ_od for I, λ_od for II, as disentanglement_lib).
    Other keywords go to :class:`~pyprogen.models.VAE`.
    """

    def __init__(self, data_shape, *, kind="i", lambda_od=10.0, lambda_d=None, **kw):
        super().__init__(data_shape, **kw)
        if kind not in ("i", "ii"):
            raise PyprogenError(f"kind: expected 'i' or 'ii', got {kind!r}")
        from ..infer.dip_vae import DIPELBO

        self.kind = kind
        loss = DIPELBO(kind, lambda_od, lambda_d)  # checks the weights
        self.lambda_od, self.lambda_d = loss.lambda_od, loss.lambda_d

    def default_loss(self):
        from ..infer.dip_vae import DIPELBO

        return DIPELBO(self.kind, self.lambda_od, self.lambda_d)


@register_model("dip-vae-i", help='DIP-VAE-I (Kumar et al. 2018): ELBO minus a penalty on Cov[μ(x)].')
def _build_dip_i(data_shape, **kw):
    return DIPVAE(data_shape, kind="i", **kw)


@register_model("dip-vae-ii", help='DIP-VAE-II (Kumar et al. 2018): ELBO minus a penalty on Cov_q(z)[z].')
def _build_dip_ii(data_shape, **kw):
    return DIPVAE(data_shape, kind="ii", **kw)
