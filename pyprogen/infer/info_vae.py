"""InfoVAE / MMD-VAE (Zhao, Song & Ermon 2019, "InfoVAE: Balancing Learning and Inference in
Variational Autoencoders", Sec. 3, the InfoVAE objective) as a Pyro loss:

    L = E_p(x) E_q(z|x)[log p(x|z)]  −  (1 − α) E_p(x) KL(q(z|x) || p(z))  −  (α + λ − 1) D(q(z) || p(z))

with D the MMD between the aggregate posterior q(z) and the prior (the paper's MMD-VAE). α = 1 drops
the per-point KL (the MMD-VAE of their experiments: reconstruction + MMD); α = 0, λ = 1 is the ELBO.
Both weights must be >= 0, i.e. α <= 1 and λ >= 1 − α.

As :class:`~pyprogen.infer.mmd_elbo.MMDELBO` (and reusing its trace reading): the reconstruction is
summed over the minibatch, the KL is the mean-field KL of ``TraceMeanField_ELBO`` (analytic where torch
has it, sampled otherwise), and MMD²_u between the minibatch of q(z|x) samples and as many prior draws
is multiplied by the batch size B (and the plate's subsampling scale) to keep the paper's per-point
balance. Kernel and scale as in :mod:`pyprogen.infer.kernels` (IMQ by default).
"""
from pyro.infer import TraceMeanField_ELBO

from ..errors import PyprogenError
from .kernels import mmd2_unbiased
from .mmd_elbo import MMDELBO
from .registry import register_estimator


class InfoELBO(MMDELBO):
    """Negative InfoVAE objective for any Pyro model/guide pair.

    :param alpha: α <= 1; the KL weight is 1 − α.
    :param lam: λ >= 1 − α; the MMD weight is α + λ − 1.
    :param kernel: ``"imq"`` (default) | ``"rbf"`` | a callable, as :class:`MMDELBO`.
    """

    def __init__(self, alpha=0.0, lam=10.0, kernel="imq", *, scale=None, num_particles=1, plate_name="data"):
        super().__init__(0.0, kernel, scale=scale, num_particles=num_particles, plate_name=plate_name)
        self.alpha = check_finite(alpha, "alpha")
        if self.alpha > 1.0:
            raise PyprogenError(f"alpha: expected a number <= 1 (a non-negative KL weight 1 - alpha), got {alpha!r}")
        self.info_lam = float(check_finite(lam, "lam"))
        if self.alpha + self.info_lam - 1.0 < 0:
            raise PyprogenError(f"lam: expected lam >= 1 - alpha = {1.0 - self.alpha:g} (a non-negative MMD weight), "
                                f"got {lam!r}")
        self.kl_weight = 1.0 - self.alpha
        self.mmd_weight = self.alpha + self.info_lam - 1.0

    def _loss_particle(self, model_trace, guide_trace):
        recon = 0.0
        for site in model_trace.nodes.values():
            if site["type"] == "sample" and site["is_observed"]:
                recon = recon - site["log_prob_sum"]
        loss = recon
        if self.kl_weight:
            _, surrogate = TraceMeanField_ELBO._differentiable_loss_particle(self, model_trace, guide_trace)
            loss = loss + self.kl_weight * (surrogate - recon)  # −ELBO − reconstruction = the KL part
        if self.mmd_weight:
            z_q, z_p, scale = self._codes(model_trace, guide_trace)
            if z_q.shape[0] < 2:
                raise PyprogenError(f"batch: InfoELBO needs a minibatch of at least 2 points, got {z_q.shape[0]}")
            loss = loss + self.mmd_weight * scale * z_q.shape[0] * mmd2_unbiased(z_q, z_p, self.kernel, self.scale)
        return loss


def check_finite(value, name):
    """A finite real number (any sign), else a one-line PyprogenError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) == float("inf"):
        raise PyprogenError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


@register_estimator("info")
def _info(model, **kw):
    """InfoVAE: reconstruction − (1 − α) KL − (α + λ − 1) MMD(q(z), p(z)) (Zhao et al. 2019)."""
    kw.setdefault("alpha", getattr(model, "alpha", 0.0))
    kw.setdefault("lam", getattr(model, "lam", 10.0))
    return InfoELBO(kw.pop("alpha"), kw.pop("lam"), **kw)
