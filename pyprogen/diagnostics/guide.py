"""Guide samples as ArviZ ``InferenceData``, laid out like :func:`nuts_posterior`'s.

Draws z_s ~ q(z | x) for every point at once (vectorised particles in chunks, the traces of
:func:`pyprogen.infer.importance.weighted_traces`) and stores them with dims (chain, draw, point,
latent) through :mod:`.arviz_adapter`, so ArviZ's summaries and plots run on the guide and the
NUTS reference side by side. With ``model`` given, the ``log_likelihood`` group holds
log p(x_n | z_s) per point (replaying the model on the guide's draws), as ``az.from_pyro`` does
for MCMC.
"""
import torch
from pyro import poutine

from ..errors import expect
from ..infer.importance import sample_sites, site_log_prob, weighted_traces
from ..seeding import seeded
from .arviz_adapter import from_draws
from .nuts import site_dims
from .psis import CHUNK_SIZE, points


def _draws(model, guide, x, num_draws):
    """Guide draws ``{site: (S, *shape)}`` and, with a model, ``{observed site: log p(x_n | z_s) (S, N)}``."""
    with poutine.block(), torch.no_grad():
        shapes = {n: s["value"].shape for n, s in sample_sites(poutine.trace(guide).get_trace(x)).items()}
        draws, loglik = {n: [] for n in shapes}, {}
        for chunk in weighted_traces(model or guide, guide, x, num_particles=num_draws, chunk_size=CHUNK_SIZE):
            k = chunk.log_weights.shape[0]
            for name, shape in shapes.items():
                draws[name].append(chunk.guide_trace.nodes[name]["value"].reshape(k, *shape))
            if model is not None:
                for name, site in sample_sites(chunk.model_trace, observed=True).items():
                    lp = site_log_prob(site, "data", chunk.width)
                    loglik.setdefault(name, []).append(lp.expand(k, x.shape[0]))
    return ({n: torch.cat(v).cpu().numpy() for n, v in draws.items()},
            {n: torch.cat(v).cpu().numpy() for n, v in loglik.items()})


def guide_posterior(guide, x, *, num_samples=1000, num_chains=1, model=None, seed=None):
    """``InferenceData`` of ``num_chains`` x ``num_samples`` guide draws per point.

    Groups ``posterior`` (dims chain, draw, point, latent) and ``observed_data``; with ``model``,
    also ``log_likelihood`` (and the dims are read from the model, so they match NUTS's exactly).
    ``seed`` (optional) fixes the draws and restores the global RNG state afterwards.
    """
    expect(isinstance(num_samples, int) and num_samples >= 1, "num_samples", "a positive integer", num_samples)
    expect(isinstance(num_chains, int) and num_chains >= 1, "num_chains", "a positive integer", num_chains)
    x = points(x)
    if seed is None:
        draws, loglik = _draws(model, guide, x, num_samples * num_chains)
    else:
        with seeded(seed):
            draws, loglik = _draws(model, guide, x, num_samples * num_chains)
    dims = site_dims(model if model is not None else guide, x)
    dims.setdefault("x", ["point"])

    def grouped(a):
        return a.reshape((num_chains, num_samples) + a.shape[1:])

    observed = {name: x.cpu().numpy() for name in (loglik or {"x": None})}
    return from_draws({k: grouped(v) for k, v in draws.items()},
                      log_likelihood={k: grouped(v) for k, v in loglik.items()},
                      observed_data=observed, dims=dims, attrs={"sampler": "guide"})
