"""β-TCVAE objective (Chen et al. 2018, eq. 4 with the weights of their code):

    L = E_q[ log p(x|z) − α (log q(z|x) − log q(z)) − β (log q(z) − log Π_j q(z_j)) − γ (log Π_j q(z_j) − log p(z)) ]
           reconstruction      index-code MI            total correlation              dimension-wise KL

The aggregate posterior q(z) = 1/N Σ_n q(z|x_n) and its marginals q(z_j) are estimated on the
minibatch with *minibatch-stratified sampling* (MSS, Chen et al. 2018, appendix C.2):

    log q(z_i) ≈ logsumexp_j [ log W_ij + Σ_d log q(z_id | x_j) ],
    log Π_d q(z_id) ≈ Σ_d logsumexp_j [ log W_ij + log q(z_id | x_j) ],

with M = B − 1, W_ij = 1/M except W_ii = 1/N and one stratum entry W_i,(i+1 mod B) = (N − M)/(N M).
Every row of W sums to 1, so exp(estimate) is unbiased for q(z_i) given a uniformly drawn minibatch.
(The reference code sets ``W[M-1, 0]`` instead of ``W[M, 0]``, leaving rows M−1 and M summing to
1 ∓ 1/N; we use the cyclic form.) The simpler minibatch-*weighted* estimator carries an offset of
about (D − 1)·log N in log Π_j q(z_j) and is not used.

α = β = γ = 1 telescopes to the ordinary single-sample ELBO. The estimator reads traces: every
unobserved site inside the data plate must be a factorised distribution (``Normal(...).to_event(k)``
or a scalar site) with batch shape (B,); their dimensions are concatenated into one code z.
Latent sites outside the data plate (global latents) enter with their plain ELBO term.
"""

import torch
from pyro.distributions.util import scale_and_mask

from ..errors import PyprogenError
from .registry import register_estimator
from .beta_elbo import check_weight
from .particle_elbo import ParticleELBO
from .importance import check_reparameterised


def mss_log_weights(batch_size, dataset_size, dtype=torch.float32, device=None):
    """log W of the minibatch-stratified estimator, shape (B, B); row i weighs the data points for z_i."""
    b, n = int(batch_size), int(dataset_size)
    if b < 2:
        raise PyprogenError(f"batch: TCELBO needs a minibatch of at least 2 points, got {b}")
    if n < b:
        raise PyprogenError(f"dataset_size: expected at least the batch size {b}, got {n}")
    m = b - 1
    w = torch.full((b, b), 1.0 / m, dtype=dtype, device=device)
    idx = torch.arange(b, device=device)
    w[idx, idx] = 1.0 / n
    w[idx, (idx + 1) % b] = (n - m) / (n * m)
    return w.log()


def mss_log_densities(log_q, dataset_size):
    """MSS estimates from ``log_q[..., i, j, d] = log q(z_id | x_j)`` (…, B, B, D): ``(log q(z_i), log Π_d q(z_id))``."""
    log_w = mss_log_weights(log_q.shape[-2], dataset_size, log_q.dtype, log_q.device)
    log_qz = torch.logsumexp(log_w + log_q.sum(-1), dim=-1)
    log_prod = torch.logsumexp(log_w[:, :, None] + log_q, dim=-2).sum(-1)
    return log_qz, log_prod


def factorised_log_matrix(fn, value, name):
    """``log q(z_i,d | x_j)`` as (B, B, D) for a factorised site with batch shape (B,)."""
    if isinstance(fn, torch.distributions.Independent):
        base = fn.base_dist
    else:
        base = fn if fn.event_shape == () else None
    if base is not None and base.event_shape == () and len(fn.batch_shape) == 1:
        b = fn.batch_shape[0]
        return base.log_prob(value.unsqueeze(1)).reshape(b, b, -1)
    raise PyprogenError(f"guide: TCELBO needs site {name!r} to be factorised over dimensions "
                        f"(e.g. Normal(loc, scale).to_event(1)) with batch shape (B,); got {type(fn).__name__} "
                        f"with batch shape {tuple(fn.batch_shape)} and event shape {tuple(fn.event_shape)}")


def _in_plate(site, plate_name):
    return any(f.name == plate_name for f in site["cond_indep_stack"])


class TCELBO(ParticleELBO):
    """Loss of the β-TCVAE (negative of the objective above), summed over the minibatch.

    :param alpha: weight of the index-code mutual information.
    :param beta: weight of the total correlation.
    :param gamma: weight of the dimension-wise KL.
    :param dataset_size: N, the size of the training set (enters the MSS weights).
    :param plate_name: the data plate (default ``"data"``).
    """

    def __init__(self, alpha=1.0, beta=1.0, gamma=1.0, dataset_size=None, *, num_particles=1, plate_name="data"):
        super().__init__(num_particles=num_particles)
        self.alpha, self.beta, self.gamma = (check_weight(v, k) for k, v in
                                             (("alpha", alpha), ("beta", beta), ("gamma", gamma)))
        if isinstance(dataset_size, bool) or not isinstance(dataset_size, int) or dataset_size < 2:
            raise PyprogenError(f"dataset_size: expected an integer >= 2 (the training-set size), got {dataset_size!r}")
        self.dataset_size = dataset_size
        self.plate_name = plate_name

    def _loss_particle(self, model_trace, guide_trace):
        check_reparameterised(guide_trace, "TCELBO")
        elbo, per_point, blocks, first = 0.0, 0.0, [], None
        log_qzx, log_pz = 0.0, 0.0
        for name, site in model_trace.nodes.items():
            if site["type"] != "sample":
                continue
            if site["is_observed"]:
                elbo = elbo + site["log_prob_sum"]
                continue
            g = guide_trace.nodes[name]
            if not _in_plate(g, self.plate_name):
                elbo = elbo + site["log_prob_sum"] - g["log_prob_sum"]
                continue
            value = g["value"]
            blocks.append(factorised_log_matrix(g["fn"], value, name))
            log_qzx = log_qzx + g["fn"].log_prob(value)
            log_pz = log_pz + site["fn"].log_prob(value)
            if first is None:
                first = g
        if first is not None:
            log_qz, log_prod = mss_log_densities(torch.cat(blocks, -1), self.dataset_size)
            per_point = -(self.alpha * (log_qzx - log_qz) + self.beta * (log_qz - log_prod)
                          + self.gamma * (log_prod - log_pz))
            elbo = elbo + scale_and_mask(per_point, first["scale"], first["mask"]).sum()
        return -elbo


@register_estimator("tc")
def _tc(model, **kw):
    """β-TCVAE ELBO (Chen et al. 2018), MSS estimator; α, β, γ, dataset_size from a BetaTCVAE model."""
    for name in ("alpha", "beta", "gamma", "dataset_size"):
        if name not in kw and getattr(model, name, None) is None:
            raise PyprogenError(f"loss 'tc': needs {name} (from a BetaTCVAE model or as a keyword)")
        kw.setdefault(name, getattr(model, name, None))
    return TCELBO(kw.pop("alpha"), kw.pop("beta"), kw.pop("gamma"), kw.pop("dataset_size"), **kw)
