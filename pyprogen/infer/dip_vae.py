"""DIP-VAE I and II (Kumar, Sattigeri & Balakrishnan 2018, "Variational Inference of Disentangled
Latent Concepts from Unlabeled Observations", Sec. 3) as Pyro losses.

DIP-VAE adds to the ELBO a moment-matching penalty that pushes the covariance of the inferred prior
(the aggregate posterior q(z) = E_p(x) q(z|x)) towards the identity of p(z) = N(0, I):

    max  ELBO  −  λ_od Σ_{i≠j} [C]_ij²  −  λ_d Σ_i ([C]_ii − 1)²

- DIP-VAE-I:  C = Cov_p(x)[μ(x)], the covariance of the encoder means;
- DIP-VAE-II: C = Cov_q(z)[z] = E_p(x)[Σ(x)] + Cov_p(x)[μ(x)], the covariance of z under the
  aggregate posterior (the paper's decomposition; Σ(x) is the encoder's covariance, diagonal here).

Expectations over p(x) are minibatch averages and covariances are population covariances (divide by
the batch size B, as disentanglement_lib). The ELBO part is the mean-field ELBO of Pyro's
``TraceMeanField_ELBO`` (analytic KL where torch has it, the sampled log q − log p otherwise), summed
over the minibatch as every ELBO here, so the penalty is multiplied by B (and by the data plate's
subsampling scale N/B) to keep the paper's balance per data point. Divide the loss by B to get the paper's
per-point number.

The code is read from the guide trace: every unobserved guide site inside the data plate with batch
shape (B,), flattened per data point and concatenated; μ and Σ are the site distribution's ``mean`` and
``variance`` (a guide whose distribution has none, e.g. a flow, raises; DIP-VAE-II then needs it too).
Defaults follow disentanglement_lib: λ_od = 10 with λ_d = 10·λ_od (I) and λ_d = λ_od (II).
"""
import torch
from pyro.infer import TraceMeanField_ELBO
from pyro.poutine.util import site_is_subsample

from ..errors import PyprogenError
from .beta_elbo import check_weight
from .particle_elbo import ParticleELBO
from .registry import register_estimator


def covariance(a):
    """Population covariance (divide by B) of the rows of ``a`` (B, D) -> (D, D)."""
    centred = a - a.mean(0, keepdim=True)
    return centred.T @ centred / a.shape[0]


def dip_penalty(cov, lambda_od, lambda_d):
    """λ_od Σ_{i≠j} C_ij² + λ_d Σ_i (C_ii − 1)² of a (D, D) covariance ``C``."""
    diag = torch.diagonal(cov)
    off = cov - torch.diag_embed(diag)
    return lambda_od * (off ** 2).sum() + lambda_d * ((diag - 1.0) ** 2).sum()


def _moments(fn, name):
    try:
        return fn.mean, fn.variance
    except NotImplementedError:
        raise PyprogenError(f"guide: DIP-VAE needs the mean and variance of site {name!r}; "
                            f"{type(fn).__name__} has none") from None


class DIPELBO(ParticleELBO):
    """Negative DIP-VAE objective for any Pyro model/guide pair (see the module docstring).

    :param kind: ``"i"`` (covariance of the encoder means) or ``"ii"`` (covariance of z under q).
    :param lambda_od: weight λ_od >= 0 of the squared off-diagonal covariances.
    :param lambda_d: weight λ_d >= 0 of the squared diagonal deviations from 1; default 10·λ_od for
        ``"i"`` and λ_od for ``"ii"``.
    """

    def __init__(self, kind="i", lambda_od=10.0, lambda_d=None, *, num_particles=1, plate_name="data"):
        super().__init__(num_particles=num_particles)
        if kind not in ("i", "ii"):
            raise PyprogenError(f"kind: expected 'i' or 'ii', got {kind!r}")
        self.kind = kind
        self.lambda_od = check_weight(lambda_od, "lambda_od")
        if lambda_d is None:
            lambda_d = 10.0 * self.lambda_od if kind == "i" else self.lambda_od
        self.lambda_d = check_weight(lambda_d, "lambda_d")
        self.plate_name = plate_name

    def code_covariance(self, guide_trace):
        """(C, B, scale): the penalised covariance of the guide's codes, the batch size, the plate scale."""
        means, variances, scale = [], [], 1.0
        for name, site in guide_trace.nodes.items():
            if site["type"] != "sample" or site["is_observed"] or site_is_subsample(site):
                continue
            if not any(f.name == self.plate_name for f in site["cond_indep_stack"]) or len(site["fn"].batch_shape) != 1:
                raise PyprogenError(f"guide: DIP-VAE needs latent site {name!r} inside plate {self.plate_name!r} "
                                    f"with batch shape (B,), got {tuple(site['fn'].batch_shape)}")
            mean, var = _moments(site["fn"], name)
            b = site["fn"].batch_shape[0]
            means.append(mean.reshape(b, -1))
            variances.append(var.reshape(b, -1))
            scale = site["scale"]
        if not means:
            raise PyprogenError(f"guide: DIP-VAE needs a latent sample site inside plate {self.plate_name!r}")
        mu = torch.cat(means, -1)
        if mu.shape[0] < 2:
            raise PyprogenError(f"batch: DIP-VAE needs a minibatch of at least 2 points, got {mu.shape[0]}")
        cov = covariance(mu)
        if self.kind == "ii":
            cov = cov + torch.diag_embed(torch.cat(variances, -1).mean(0))
        return cov, mu.shape[0], scale

    def penalty(self, guide_trace):
        """The penalty as it enters the (batch-summed) loss: scale · B · (λ_od Σ C_ij² + λ_d Σ (C_ii − 1)²)."""
        cov, b, scale = self.code_covariance(guide_trace)
        return scale * b * dip_penalty(cov, self.lambda_od, self.lambda_d)

    def _loss_particle(self, model_trace, guide_trace):
        _, surrogate = TraceMeanField_ELBO._differentiable_loss_particle(self, model_trace, guide_trace)
        return surrogate + self.penalty(guide_trace)


def _weights(model, kw, kind):
    kw.setdefault("lambda_od", getattr(model, "lambda_od", 10.0))
    kw.setdefault("lambda_d", getattr(model, "lambda_d", None))
    return DIPELBO(kind, kw.pop("lambda_od"), kw.pop("lambda_d"), **kw)


@register_estimator("dip-i")
def _dip_i(model, **kw):
    """DIP-VAE-I: ELBO − λ_od Σ_{i≠j} Cov[μ]_ij² − λ_d Σ_i (Cov[μ]_ii − 1)² (Kumar et al. 2018)."""
    return _weights(model, kw, "i")


@register_estimator("dip-ii")
def _dip_ii(model, **kw):
    """DIP-VAE-II: the DIP penalty on Cov_q(z)[z] = E[Σ(x)] + Cov[μ(x)] (Kumar et al. 2018)."""
    return _weights(model, kw, "ii")
