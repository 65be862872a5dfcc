"""Guide samples as ``arviz.InferenceData``, laid out like :func:`nuts_posterior`'s.

Draws z_s ~ q(z | x) for every point at once (vectorised particles, ``pyro.infer.Predictive``)
and stores them with dims (chain, draw, point, latent) via ``az.from_dict``, so ``az.summary``,
``az.plot_pair`` or ``az.compare`` run on the guide and the NUTS reference side by side. With
``model`` given, the ``log_likelihood`` group holds log p(x_n | z_s) per point (replaying the model
on the guide's draws), as ``az.from_pyro`` does for MCMC.
"""
import arviz as az
import torch
from pyro import poutine

from ..errors import expect
from ..seeding import get_rng_state, set_rng_state, set_seed
from .nuts import site_dims
from .psis import as_tensor, max_plate_nesting, per_point, sample_sites, vectorized_traces


def _draws(model, guide, x, num_draws, chunk=250):
    """Guide draws ``{site: (S, *shape)}`` and, with a model, ``{observed site: log p(x_n | z_s) (S, N)}``."""
    with poutine.block(), torch.no_grad():
        shapes = {n: s["value"].shape for n, s in sample_sites(poutine.trace(guide).get_trace(x)).items()}
    nesting = max_plate_nesting(guide, x)
    if model is not None:
        nesting = max(nesting, max_plate_nesting(model, x))
    draws, loglik = {n: [] for n in shapes}, {}
    done = 0
    while done < num_draws:
        k = min(chunk, num_draws - done)
        model_tr, guide_tr = vectorized_traces(model or guide, guide, x, num_particles=k, nesting=nesting)
        for name, shape in shapes.items():
            draws[name].append(guide_tr.nodes[name]["value"].reshape(k, *shape))
        if model is not None:
            for name, site in sample_sites(model_tr, observed=True).items():
                lp = per_point(site["log_prob"], site, nesting, "data").expand(k, -1)
                loglik.setdefault(name, []).append(lp)
        done += k
    return ({n: torch.cat(v).cpu().numpy() for n, v in draws.items()},
            {n: torch.cat(v).cpu().numpy() for n, v in loglik.items()})


def guide_posterior(guide, x, *, num_samples=1000, num_chains=1, model=None, seed=None):
    """``arviz.InferenceData`` of ``num_chains`` x ``num_samples`` guide draws per point.

    Groups ``posterior`` (dims chain, draw, point, latent) and ``observed_data``; with ``model``,
    also ``log_likelihood`` (and the dims are read from the model, so they match NUTS's exactly).
    ``seed`` (optional) fixes the draws and restores the global RNG state afterwards.
    """
    expect(isinstance(num_samples, int) and num_samples >= 1, "num_samples", "a positive integer", num_samples)
    expect(isinstance(num_chains, int) and num_chains >= 1, "num_chains", "a positive integer", num_chains)
    x = as_tensor(x)
    saved = None
    if seed is not None:
        saved = get_rng_state()
        set_seed(seed)
    try:
        draws, loglik = _draws(model, guide, x, num_samples * num_chains)
    finally:
        if saved is not None:
            set_rng_state(saved)
    dims = site_dims(model if model is not None else guide, x)
    dims.setdefault("x", ["point"])

    def grouped(a):
        return a.reshape((num_chains, num_samples) + a.shape[1:])

    observed = {name: x.cpu().numpy() for name in (loglik or {"x": None})}
    return az.from_dict(posterior={k: grouped(v) for k, v in draws.items()},
                        log_likelihood={k: grouped(v) for k, v in loglik.items()} or None,
                        observed_data=observed, dims=dims, attrs={"sampler": "guide"})
