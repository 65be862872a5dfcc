"""β-TCVAE (Chen et al. 2018): the VAE with the KL term split into three weighted parts,

    E_p(x)[KL(q(z|x)||p(z))] = I_q(x; z) + KL(q(z) || prod_j q(z_j)) + sum_j KL(q(z_j) || p(z_j))
                               (index-code MI, α)  (total correlation, β)  (dimension-wise KL, γ)

estimated with minibatch-stratified sampling, which needs the dataset size N.
The estimator is :class:`pyprogen.infer.TCELBO`.
"""
from ..errors import PyprogenError
from .registry import register_model
from .vae import VAE


class BetaTCVAE(VAE):
    def __init__(self, data_shape, *, alpha=1.0, beta=6.0, gamma=1.0, dataset_size=None, **kw):
        super().__init__(data_shape, **kw)
        for name, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
            if not (isinstance(value, (int, float)) and value >= 0):
                raise PyprogenError(f"{name}: expected a number >= 0, got {value!r}")
        if dataset_size is not None and not (isinstance(dataset_size, int) and dataset_size > 1):
            raise PyprogenError(f"dataset_size: expected an integer > 1, got {dataset_size!r}")
        self.alpha, self.beta, self.gamma = float(alpha), float(beta), float(gamma)
        self.dataset_size = dataset_size

    def default_loss(self):
        from ..infer import TCELBO

        if self.dataset_size is None:
            raise PyprogenError("dataset_size: BetaTCVAE needs the training-set size N for its estimator")
        return TCELBO(self.alpha, self.beta, self.gamma, self.dataset_size)


@register_model("beta-tcvae", help='β-TCVAE (Chen et al. 2018): ELBO with a weighted total-correlation term, MSS estimator.')
def _build(data_shape, **kw):
    return BetaTCVAE(data_shape, **kw)
