"""Can the guide be trusted? NUTS reference, PSIS k̂ and the amortisation gap, in one call.

For each data point x_n (Cremer, Li & Duvenaud 2018, "Inference suboptimality in VAEs", eq. 3–5):

    log p(x) - ELBO[q(z|x)] = (log p(x) - ELBO[q*(z)]) + (ELBO[q*(z)] - ELBO[q(z|x)])
            inference gap   =    approximation gap     +       amortisation gap

q is the amortised guide, q* the best member of its family for this one point, fitted by SVI on
every point separately. The family is the guide's own when its model says how the encoder's outputs
index it (``posterior_parameters(x)`` and ``posterior_from(...)``, as every VAE-family model does): q*
then has its own loc, scale and flow context per point, started from the encoder's outputs, and shares
the flow's weights, so a flow guide is compared with the best flow of its family, not with a Gaussian
(:class:`LocalFamilyGuide`). For any other guide q* is a mean-field Gaussian (in the unconstrained
space of each latent) started from the guide's own mean and sd (:class:`LocalGaussianGuide`).
log p(x) is an importance-sampling
estimate with many particles (per point, from whichever of q and q* has the smaller k̂);
the ELBOs are the means of the same log weights, so the three numbers add up exactly.

Beside it: r̂ and bulk/tail ESS of the NUTS run (Vehtari et al. 2021), the gaps between NUTS's
and the guide's posterior means and sds per latent dimension, and PSIS k̂ per point.
"""
import math

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.distributions.transforms import biject_to
from pyro.infer import Trace_ELBO
from ..progress import progress_bar

from ..errors import PyprogenError
from ..infer.importance import guess_max_plate_nesting, sample_sites
from ..seeding import seeded
from .arviz_adapter import ess, rhat
from .guide import guide_posterior
from .nuts import frozen_parameters, nuts_posterior
from .psis import diagnostic_log_weights, points, psis_k_from_log_weights

K_GOOD, K_OK = 0.5, 0.7


class LocalGaussianGuide:
    """q*(z) = N(loc_n, diag scale_n^2) per point and latent site (non-amortised; Cremer et al. 2018)."""

    family = "mean-field Gaussian per point"

    def __init__(self, model, x, init_draws, plate_name="data"):
        with poutine.block(), torch.no_grad():
            trace = poutine.trace(model).get_trace(x)
        self.sites, self.plate_dim, self.n = {}, -1, x.shape[0]
        for name, site in sample_sites(trace, observed=False).items():
            frames = [f for f in site["cond_indep_stack"] if f.name == plate_name]
            if not frames or tuple(site["fn"].batch_shape) != (self.n,):
                raise PyprogenError(f"model: expected latent site {name!r} with batch shape (N,) in "
                                    f"pyro.plate({plate_name!r}, N) for a per-point guide")
            self.plate_dim = frames[0].dim
            transform = biject_to(site["fn"].support)
            u = transform.inv(torch.as_tensor(init_draws[name]))
            loc = u.mean(0).detach().clone().requires_grad_(True)
            log_scale = u.std(0).clamp_min(1e-3).log().detach().clone().requires_grad_(True)
            self.sites[name] = (transform, loc, log_scale, len(site["fn"].event_shape))

    def parameters(self):
        return [t for _, loc, log_scale, _ in self.sites.values() for t in (loc, log_scale)]

    def __call__(self, x=None, *args, **kwargs):
        with pyro.plate("data", self.n, dim=self.plate_dim):
            for name, (transform, loc, log_scale, event_dim) in self.sites.items():
                base = dist.Normal(loc, log_scale.exp()).to_event(loc.dim() - 1)
                fn = base if event_dim == loc.dim() - 1 and transform.domain == transform.codomain else \
                    dist.TransformedDistribution(base, [transform])
                pyro.sample(name, fn)


class LocalFamilyGuide:
    """q*(z) = ``owner.posterior_from(loc_n, scale_n, h_n)`` with free per-point ``loc_n``, ``log scale_n`` and
    context ``h_n`` (started from the encoder's outputs for x_n): the guide's own family, not amortised.
    ``owner`` is the model object whose ``posterior_parameters(x)`` gives them (site ``"z"``)."""

    family = "the guide's own (per-point loc, scale and flow context; the flow's weights shared)"

    def __init__(self, owner, x, site="z", plate_name="data"):
        self.owner, self.site, self.plate_name, self.n = owner, site, plate_name, x.shape[0]
        with torch.no_grad():
            loc, scale, context = owner.posterior_parameters(x)
        self.loc = loc.detach().clone().requires_grad_(True)
        self.log_scale = scale.detach().log().clone().requires_grad_(True)
        self.context = None if context is None else context.detach().clone().requires_grad_(True)

    def parameters(self):
        return [t for t in (self.loc, self.log_scale, self.context) if t is not None]

    def __call__(self, x=None, *args, **kwargs):
        with pyro.plate(self.plate_name, self.n):
            pyro.sample(self.site, self.owner.posterior_from(self.loc, self.log_scale.exp(), self.context))


def local_family(guide):
    """The object that says how the encoder's outputs index ``guide``'s family, or None (see module doc)."""
    owner = getattr(guide, "__self__", None)
    ok = callable(getattr(owner, "posterior_parameters", None)) and callable(getattr(owner, "posterior_from", None))
    return owner if ok else None


def fit_local_guide(model, x, init_draws, *, steps=500, lr=1e-2, num_particles=8, progress=False, guide=None):
    """Fit the per-point optimum q* by maximising each point's ELBO (Adam, vectorised particles): in ``guide``'s
    own family when it has one (:func:`local_family`), else :class:`LocalGaussianGuide`."""
    owner = local_family(guide)
    local = LocalFamilyGuide(owner, x) if owner is not None else LocalGaussianGuide(model, x, init_draws)
    optim = torch.optim.Adam(local.parameters(), lr=lr)
    elbo = Trace_ELBO(num_particles=num_particles, vectorize_particles=True,
                      max_plate_nesting=guess_max_plate_nesting(model, local, (x,), {}))
    blocked = poutine.block(model, hide_types=["param"])
    for _ in progress_bar(range(steps), desc="per-point guide", disable=not progress, leave=False):
        optim.zero_grad()
        loss = elbo.differentiable_loss(blocked, local, x)
        loss.backward()
        optim.step()
    return local


def _summary_per_dim(values, point_dim="point"):
    """``{var: (dims, ...)}`` reduced over every dim except the latent ones, as float lists."""
    return values.stack(flat=[d for d in values.dims if d != point_dim]).values if point_dim in values.dims \
        else values.values.reshape(1, -1)


def posterior_gaps(nuts, guide):
    """Per latent site and dimension: r̂, ESS, mean |Δ mean|, mean |Δ mean| / sd_NUTS, sds and their ratio."""
    r_hat, bulk, tail = rhat(nuts), ess(nuts, method="bulk"), ess(nuts, method="tail")
    sample = ("chain", "draw")
    out = {}
    for name in nuts.posterior.data_vars:
        m_n, s_n = nuts.posterior[name].mean(sample), nuts.posterior[name].std(sample)
        m_q, s_q = guide.posterior[name].mean(sample), guide.posterior[name].std(sample)
        gap = abs(m_n - m_q)

        def per_dim(a, reduce):
            a = _summary_per_dim(a)  # (points, dims)
            return getattr(np, reduce)(a, axis=0).astype(float).tolist()

        out[name] = {
            "rhat_max": per_dim(r_hat[name], "max"), "ess_bulk_min": per_dim(bulk[name], "min"),
            "ess_tail_min": per_dim(tail[name], "min"), "mean_gap": per_dim(gap, "mean"),
            "std_mean_gap": per_dim(gap / s_n, "mean"), "sd_nuts": per_dim(s_n, "mean"),
            "sd_guide": per_dim(s_q, "mean"), "sd_ratio": per_dim(s_q / s_n, "mean"),
        }
    return out


def amortisation_gap(model, guide, x, guide_draws, *, num_particles=1000, steps=500, lr=1e-2, progress=False):
    """Per-point log p(x), ELBO of the guide and of the per-point optimum q* (nats), and k̂ of both."""
    lw_q = diagnostic_log_weights(model, guide, x, num_particles)
    local = fit_local_guide(model, x, guide_draws, steps=steps, lr=lr, progress=progress, guide=guide)
    lw_local = diagnostic_log_weights(model, local, x, num_particles)
    log_n = math.log(num_particles)
    k_q, k_local = psis_k_from_log_weights(lw_q), psis_k_from_log_weights(lw_local)
    # per point, the estimate whose weights PSIS trusts more (the smaller k̂)
    use_q = k_q <= k_local
    log_px = torch.where(use_q, lw_q.logsumexp(0) - log_n, lw_local.logsumexp(0) - log_n)
    return {"log_px": log_px, "elbo": lw_q.mean(0), "elbo_local": lw_local.mean(0), "k_hat": k_q,
            "k_hat_local": k_local, "local_family": local.family}


def _mean(t):
    return float(torch.as_tensor(t).detach().double().mean())


def check(model, guide, x, *, num_samples=500, warmup_steps=500, num_chains=2, guide_samples=1000,
          num_particles=1000, local_steps=500, local_lr=1e-2, seed=0, progress=False, jit_compile=False):
    """Diagnostics of a guide against NUTS on the points ``x``; a JSON-ready dict (see module doc).

    ``result["inference_data"]`` holds the two ``arviz.InferenceData`` (``"nuts"``, ``"guide"``).
    """
    x = points(x)
    nuts = nuts_posterior(model, x, num_samples=num_samples, warmup_steps=warmup_steps, num_chains=num_chains,
                          seed=seed, progress=progress, jit_compile=jit_compile)
    with seeded(seed), frozen_parameters(model, x):
        q = guide_posterior(guide, x, num_samples=guide_samples, model=model)
        draws = {n: torch.as_tensor(q.posterior[n].stack(s=("chain", "draw")).transpose("s", ...).values)
                 for n in q.posterior.data_vars}
        gap = amortisation_gap(model, guide, x, draws, num_particles=num_particles, steps=local_steps,
                               lr=local_lr, progress=progress)
    sites = posterior_gaps(nuts, q)
    k = gap["k_hat"]
    divergences = int(nuts.sample_stats["diverging"].sum())
    total = gap["log_px"] - gap["elbo"]
    approx = gap["log_px"] - gap["elbo_local"]
    return {
        "config": {"points": int(x.shape[0]), "num_samples": num_samples, "warmup_steps": warmup_steps,
                   "num_chains": num_chains, "guide_samples": guide_samples, "num_particles": num_particles,
                   "local_steps": local_steps, "seed": seed, "local_family": gap["local_family"]},
        "rhat_max": max(max(s["rhat_max"]) for s in sites.values()),
        "ess_bulk_min": min(min(s["ess_bulk_min"]) for s in sites.values()),
        "ess_tail_min": min(min(s["ess_tail_min"]) for s in sites.values()),
        "divergences": divergences,
        "tree_depth_mean": float(nuts.sample_stats["tree_depth"].mean()),
        "mean_gap": float(np.mean([np.mean(s["mean_gap"]) for s in sites.values()])),
        "std_mean_gap": float(np.mean([np.mean(s["std_mean_gap"]) for s in sites.values()])),
        "sd_ratio": float(np.mean([np.mean(s["sd_ratio"]) for s in sites.values()])),
        "sites": sites,
        "k_hat": k.tolist(),
        "k_hat_fractions": {"good": _mean(k < K_GOOD), "ok": _mean((k >= K_GOOD) & (k <= K_OK)),
                            "bad": _mean(k > K_OK)},
        "k_hat_local": gap["k_hat_local"].tolist(),
        "log_px": gap["log_px"].tolist(), "elbo": gap["elbo"].tolist(), "elbo_local": gap["elbo_local"].tolist(),
        "log_px_nats": _mean(gap["log_px"]), "elbo_nats": _mean(gap["elbo"]),
        "elbo_local_nats": _mean(gap["elbo_local"]),
        "gap_nats": _mean(total), "approximation_gap_nats": _mean(approx),
        "amortisation_gap_nats": _mean(total - approx),
        "inference_data": {"nuts": nuts, "guide": q},
    }


def format_check(result):
    """The check's headline numbers as a Markdown table."""
    f = result["k_hat_fractions"]
    rows = [
        ("points", f"{result['config']['points']}"),
        ("r̂ (max)", f"{result['rhat_max']:.3f}"),
        ("ESS bulk / tail (min)", f"{result['ess_bulk_min']:.0f} / {result['ess_tail_min']:.0f}"),
        ("divergences", f"{result['divergences']}"),
        ("NUTS tree depth (mean)", f"{result['tree_depth_mean']:.2f}"),
        ("mean gap |E_nuts z - E_q z| (avg)", f"{result['mean_gap']:.3f}"),
        ("mean gap / sd_nuts (avg)", f"{result['std_mean_gap']:.3f}"),
        ("sd_q / sd_nuts (avg)", f"{result['sd_ratio']:.3f}"),
        ("k̂ < 0.5 / 0.5–0.7 / > 0.7", f"{f['good']:.2f} / {f['ok']:.2f} / {f['bad']:.2f}"),
        ("k̂ median", f"{float(np.median(result['k_hat'])):.3f}"),
        ("log p(x) (nats)", f"{result['log_px_nats']:.2f}"),
        ("ELBO amortised / per-point (nats)", f"{result['elbo_nats']:.2f} / {result['elbo_local_nats']:.2f}"),
        ("inference gap (nats)", f"{result['gap_nats']:.2f}"),
        ("approximation gap (nats)", f"{result['approximation_gap_nats']:.2f}"),
        ("amortisation gap (nats)", f"{result['amortisation_gap_nats']:.2f}"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"| {'diagnostic'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name.ljust(width)} | {value} |" for name, value in rows]
    return "\n".join(lines)
