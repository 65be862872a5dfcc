"""Pareto-smoothed importance sampling diagnostic k̂ per data point (Vehtari et al. 2024, JMLR 25(72)).

For a guide q(z|x) used as an importance proposal for the posterior p(z|x), the weights

    log w_s = log p(x, z_s) - log q(z_s | x),   z_s ~ q(z | x),   s = 1..S            (eq. 1)

are fitted with a generalised Pareto tail; its shape k̂ says whether the guide covers the
posterior (Yao et al. 2018, "Yes, but did it work?", Sec. 2): k̂ < 0.5 good, 0.5–0.7 usable,
> 0.7 the importance estimates (and the guide as a posterior) cannot be trusted.

The weights are computed per data point from Pyro traces with vectorised particles: every site
sits in ``pyro.plate(plate_name, N)``, its log-density is summed over everything but the particle
and the plate dimension, so any Pyro model/guide pair with local latents works.
"""
import arviz as az
import numpy as np
import pyro
import torch
from pyro import poutine
from pyro.poutine.util import site_is_subsample

from ..errors import PyprogenError, expect

PARTICLE_PLATE = "_diagnostics_particles"
CONSTANT_WEIGHTS_NATS = 1e-3


def as_tensor(x, argument="x"):
    """Data as a float tensor with a leading point dimension (numpy arrays accepted)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    expect(isinstance(x, torch.Tensor), argument, "a tensor or numpy array", type(x).__name__)
    expect(x.dim() >= 1 and x.shape[0] >= 1, argument, "an array of shape (N, ...) with N >= 1", tuple(x.shape))
    return x.float() if not x.is_floating_point() else x


def max_plate_nesting(fn, *args):
    """The deepest plate nesting in one trace of ``fn(*args)``."""
    with poutine.block(), torch.no_grad():
        trace = poutine.trace(fn).get_trace(*args)
    dims = [-f.dim for site in trace.nodes.values() if site["type"] == "sample"
            for f in site["cond_indep_stack"] if f.vectorized]
    return max(dims, default=0)


def per_point(log_prob, site, nesting, plate_name):
    """A site's batch-shaped log-density ``(S, ..., N, ...)`` summed to ``(S, N)``."""
    frames = [f for f in site["cond_indep_stack"] if f.name == plate_name]
    if not frames:
        raise PyprogenError(f"model: expected site {site['name']!r} inside pyro.plate({plate_name!r}, N) "
                            "(per-point diagnostics need local latents and observations)")
    lp = log_prob.reshape((1,) * (nesting + 1 - log_prob.dim()) + tuple(log_prob.shape))
    lp = lp.movedim(frames[0].dim, 1)
    return lp.reshape(lp.shape[0], lp.shape[1], -1).sum(-1)


def vectorized_traces(model, guide, *args, num_particles, nesting):
    """Model and guide traces of ``num_particles`` guide draws in one outer plate, log-densities computed."""
    with torch.no_grad(), poutine.block():
        with pyro.plate(PARTICLE_PLATE, num_particles, dim=-(nesting + 1)):
            guide_tr = poutine.trace(guide).get_trace(*args)
            model_tr = poutine.trace(poutine.replay(model, trace=guide_tr)).get_trace(*args)
        guide_tr.compute_log_prob()
        model_tr.compute_log_prob()
    return model_tr, guide_tr


def sample_sites(trace, observed=None):
    """Sample sites of a trace (no plate subsample sites), optionally only (un)observed ones."""
    return {name: site for name, site in trace.nodes.items()
            if site["type"] == "sample" and not site_is_subsample(site)
            and (observed is None or site["is_observed"] == observed)}


def trace_log_weights(model, guide, *args, num_particles=1000, plate_name="data", chunk=250):
    """``log p(x, z) - log q(z|x)`` per particle and point, Tensor ``[num_particles, N]`` (eq. 1).

    Particles are drawn in vectorised chunks of ``chunk`` (an outer ``pyro.plate``) to bound memory.
    """
    expect(isinstance(num_particles, int) and num_particles >= 1, "num_particles", "a positive integer",
           num_particles)
    nesting = max(max_plate_nesting(model, *args), max_plate_nesting(guide, *args))
    out = []
    done = 0
    while done < num_particles:
        k = min(chunk, num_particles - done)
        model_tr, guide_tr = vectorized_traces(model, guide, *args, num_particles=k, nesting=nesting)
        lw = 0.0
        for trace, sign in ((model_tr, 1.0), (guide_tr, -1.0)):
            for site in sample_sites(trace).values():
                lw = lw + sign * per_point(site["log_prob"], site, nesting, plate_name).expand(k, -1)
        out.append(lw)
        done += k
    return torch.cat(out, 0)


def _log_weights(model, guide, x, num_particles, chunk=250):
    """Log weights ``[num_particles, N]`` without gradients, in chunks of particles.

    Uses the project's estimator (``pyprogen.infer.importance.log_weights``) where present,
    else :func:`trace_log_weights`.
    """
    try:
        from ..infer.importance import log_weights
    except ImportError:
        return trace_log_weights(model, guide, x, num_particles=num_particles, chunk=chunk)
    expect(isinstance(num_particles, int) and num_particles >= 1, "num_particles", "a positive integer",
           num_particles)
    with torch.no_grad():
        sizes = [min(chunk, num_particles - i) for i in range(0, num_particles, chunk)]
        return torch.cat([log_weights(model, guide, x, num_particles=k, plate_name="data") for k in sizes], 0)


def psis_k_from_log_weights(log_weights):
    """Pareto k̂ per point from log weights ``[S, N]`` with ArviZ's ``psislw``."""
    lw = torch.as_tensor(log_weights).detach().double().cpu().numpy().T  # (N, S): samples last
    _, k = az.psislw(lw, reff=1.0)
    k = np.array(k, dtype=np.float64, ndmin=1)
    # Weights equal to within 1e-3 nats (the guide is the posterior): the Pareto fit is undefined and
    # the weights are bounded, so k̂ = -inf (the best possible value), not ArviZ's spurious fit.
    k[np.ptp(lw, axis=-1) < CONSTANT_WEIGHTS_NATS] = -np.inf
    return torch.as_tensor(k)


def psis_k(model, guide, x, *, num_particles=1000):
    """Pareto k̂ of the importance weights p(x, z)/q(z|x) per data point, Tensor ``[N]``.

    :param model: a Pyro model ``model(x)`` with its sites in ``pyro.plate("data", N)``.
    :param guide: a Pyro guide ``guide(x)`` over the model's latent sites.
    :param num_particles: importance samples per point (PSIS needs a few hundred for a stable k̂).
    """
    x = as_tensor(x)
    return psis_k_from_log_weights(_log_weights(model, guide, x, num_particles))
