"""WAE-MMD objective (Tolstikhin et al. 2018, Algorithm 2) as a Pyro loss:

    loss = −Σ_n log p(x_n | z_n)  +  λ · B · MMD²_u( {z_n ~ q(z|x_n)}_{n=1..B},  {z̃_n ~ p(z)}_{n=1..B} )

The reconstruction cost is the negative log-likelihood of every observed site, *summed* over the
minibatch (as the other ELBOs here), so the MMD term is multiplied by the batch size B to keep the
paper's balance per data point (the paper uses the per-sample mean + λ·MMD²). Divide by B to get
the paper's number. Under a subsampled plate (``pyro.plate("data", N, subsample_size=B)``) the
penalty takes the plate's scale N/B like the reconstruction, i.e. λ·N·MMD². The code z is every
unobserved guide site inside the data plate, flattened per point and concatenated; the prior sample comes from the model trace's distribution at those sites
(``fn.sample()``, no gradient). MMD²_u is the unbiased estimator of :mod:`pyprogen.infer.kernels`
(default IMQ kernel with C = 2·D·σ², σ = ``scale`` = 1, summed over the WAE scales).
Unlike ``pyro.infer.Trace_MMD``, the MMD is taken across the minibatch, not across particles.
Latent sites outside the data plate are not supported.
"""
import torch

from ..errors import PyprogenError
from .registry import register_estimator
from .beta_elbo import check_weight
from .particle_elbo import ParticleELBO
from .kernels import get_kernel, mmd2_unbiased


class MMDELBO(ParticleELBO):
    """WAE-MMD loss for any Pyro model/guide pair (see module docstring for the scaling).

    :param lam: λ >= 0, weight of the MMD penalty.
    :param kernel: ``"imq"`` (default) | ``"rbf"`` | a callable ``k(x, y, scale) -> (n, m)``.
    :param scale: kernel scale (σ of the prior for IMQ; bandwidth for RBF, median heuristic if None).
    """

    def __init__(self, lam=10.0, kernel="imq", *, scale=None, num_particles=1, plate_name="data"):
        super().__init__(num_particles=num_particles)
        self.lam = check_weight(lam, "lam")
        self.kernel = kernel
        get_kernel(kernel)  # fail early on an unknown name
        self.scale = scale
        self.plate_name = plate_name

    def _codes(self, model_trace, guide_trace):
        posterior, prior, scale = [], [], 1.0
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample" or site["is_observed"]:
                continue
            g = guide_trace.nodes[name]
            if not any(f.name == self.plate_name for f in g["cond_indep_stack"]) or len(g["fn"].batch_shape) != 1:
                raise PyprogenError(f"model: MMDELBO needs latent site {name!r} inside plate {self.plate_name!r} "
                                    f"with batch shape (B,), got {tuple(g['fn'].batch_shape)}")
            b, scale = g["fn"].batch_shape[0], g["scale"]
            posterior.append(g["value"].reshape(b, -1))
            with torch.no_grad():
                prior.append(site["fn"].sample().reshape(b, -1))
        if not posterior:
            raise PyprogenError(f"model: MMDELBO needs a latent sample site inside plate {self.plate_name!r}")
        return torch.cat(posterior, -1), torch.cat(prior, -1).to(posterior[0].dtype), scale

    def _loss_particle(self, model_trace, guide_trace):
        recon = 0.0
        for site in model_trace.nodes.values():
            if site["type"] == "sample" and site["is_observed"]:
                recon = recon - site["log_prob_sum"]
        z_q, z_p, scale = self._codes(model_trace, guide_trace)
        if z_q.shape[0] < 2:
            raise PyprogenError(f"batch: MMDELBO needs a minibatch of at least 2 points, got {z_q.shape[0]}")
        return recon + self.lam * scale * z_q.shape[0] * mmd2_unbiased(z_q, z_p, self.kernel, self.scale)


@register_estimator("mmd")
def _mmd(model, **kw):
    """WAE-MMD objective (Tolstikhin et al. 2018); λ from the model (WAE) unless given."""
    return MMDELBO(kw.pop("lam", getattr(model, "lam", 10.0)), **kw)
