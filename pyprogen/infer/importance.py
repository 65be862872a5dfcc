"""Per-data-point importance log-weights from Pyro traces (Burda et al. 2016, eq. 8).

    log w_kn = log p(x_n, z_kn) − log q(z_kn | x_n),   z_kn ~ q(z | x_n),   k = 1..K

For each particle k, every sample site's log-probability is summed over all dimensions except the
data plate (``plate_name``), observed and latent sites of the model counting positively and the
guide's latent sites negatively. This is the quantity behind the IWAE bound and importance-sampled
log-likelihoods; Pyro's ``RenyiELBO(alpha=0)`` is *not* it for models with local latents (pyro #3104).

Particles are vectorised: model and guide run inside an outer ``pyro.plate`` of size K at dim
``-(max_plate_nesting + 1)`` (as Pyro's ``vectorize_particles``). If a model does not broadcast,
particles are drawn one at a time instead (same estimator, slower).

Weights use each site's unscaled log-density (masks apply; ``poutine.scale`` and plate subsampling
scales do not, since they would distort the weights inside the logsumexp).

A site outside the data plate (a global latent) has no per-point share of the bound; it is accepted
only if its contribution ``log p − log q`` is identically zero, else :class:`PyprogenError`.
"""
import math
from typing import NamedTuple

import pyro
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import prune_subsample_sites, site_is_subsample

from ..errors import PyprogenError

PARTICLES = "_pyprogen_particles"


def sample_sites(trace, observed=None):
    """``{name: site}`` of a trace's sample sites (no plate subsample sites), optionally only the
    observed (``True``) or latent (``False``) ones."""
    return {name: site for name, site in trace.nodes.items()
            if site["type"] == "sample" and not site_is_subsample(site)
            and (observed is None or site["is_observed"] == observed)}


def guess_max_plate_nesting(model, guide, args, kwargs):
    """Deepest plate nesting seen in one (un-vectorised) run of guide and model."""
    with poutine.block():
        guide_trace = poutine.trace(guide).get_trace(*args, **kwargs)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs)
    depth = 0
    for trace in (guide_trace, model_trace):
        for site in trace.nodes.values():
            if site["type"] == "sample":
                dims = [-f.dim for f in site["cond_indep_stack"] if f.vectorized and f.dim is not None]
                depth = max([depth, *dims])
    return depth


def traces(model, guide, args, kwargs):
    """One guide trace and the model replayed against it, with log-probs computed."""
    guide_trace = prune_subsample_sites(poutine.trace(guide).get_trace(*args, **kwargs))
    model_trace = prune_subsample_sites(
        poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(*args, **kwargs))
    guide_trace.compute_log_prob()
    model_trace.compute_log_prob()
    return model_trace, guide_trace


def _data_frame(site, plate_name):
    for frame in site["cond_indep_stack"]:
        if frame.name == plate_name:
            return frame
    return None


def _per_point(log_prob, frame, width):
    """Sum a site's ``log_prob`` down to its per-point part.

    ``width``: number of trailing batch dims (``max_plate_nesting + 1`` with the particle dim first,
    or ``None`` without particles). Returns ``(K, N)`` / ``(K, 1)`` with particles, ``(N,)`` / ``()`` without;
    the trailing ``1``/``()`` forms mean the site is outside the data plate.
    """
    if not torch.is_tensor(log_prob):
        log_prob = torch.tensor(float(log_prob))
    if width is None:
        if frame is None:
            return log_prob.sum()
        axis = log_prob.dim() + frame.dim
        if axis < 0:  # the site's log-prob does not vary over the plate: one value for every point
            return log_prob.sum().expand(1)
        return log_prob.sum([d for d in range(log_prob.dim()) if d != axis]) if log_prob.dim() > 1 else log_prob
    while log_prob.dim() < width:
        log_prob = log_prob.unsqueeze(0)
    if log_prob.dim() > width:  # dims left of the particle dim (e.g. enumeration) are summed out
        log_prob = log_prob.sum(tuple(range(log_prob.dim() - width)))
    if frame is None:
        return log_prob.reshape(log_prob.shape[0], -1).sum(-1, keepdim=True)
    axis = width + frame.dim
    summed = [d for d in range(1, width) if d != axis]
    return log_prob.sum(summed) if summed else log_prob


def site_log_prob(site, plate_name="data", width=None):
    """One sample site's unscaled (masked) log-density per data point: ``(k, N)`` with a particle plate of
    width ``width``, ``(1, N)`` without (``N`` is 1 where the site does not vary over the plate)."""
    log_prob = scale_and_mask(site["unscaled_log_prob"], mask=site["mask"])
    out = _per_point(log_prob, _data_frame(site, plate_name), width)
    return out.reshape(1, -1) if width is None else out


def point_log_weights(model_trace, guide_trace, plate_name="data", width=None):
    """``log p(x, z) − log q(z)`` per data point from a pair of traces: ``(K, N)`` (particles) or ``(1, N)``.

    :param width: ``max_plate_nesting + 1`` when the traces carry a particle plate at dim ``-width``.
    """
    inside, outside = 0.0, {}
    for sign, trace in ((1.0, model_trace), (-1.0, guide_trace)):
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or (sign < 0 and site["is_observed"]):
                continue
            term = sign * site_log_prob(site, plate_name, width)
            if _data_frame(site, plate_name) is None:
                outside[name] = outside.get(name, 0.0) + term
            else:
                inside = inside + term
    if not torch.is_tensor(inside):
        raise PyprogenError(f"plate_name: expected sample sites inside plate {plate_name!r}, found none")
    for name, value in outside.items():
        if bool((torch.as_tensor(value).abs() > 1e-6).any()):
            raise PyprogenError(f"model: site {name!r} lies outside plate {plate_name!r} with a nonzero "
                                "log-density; a per-data-point importance bound does not apply to global latents")
        inside = inside + value
    return inside


def _vectorised(fn, num_particles, dim):
    def wrapped(*args, **kwargs):
        with pyro.plate(PARTICLES, num_particles, dim=dim):
            return fn(*args, **kwargs)

    return wrapped


def positive_int(value, argument):
    """``value`` if it is a positive ``int`` (not a bool), else a one-line :class:`PyprogenError`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PyprogenError(f"{argument}: expected a positive integer, got {value!r}")
    return value


class WeightedChunk(NamedTuple):
    """One chunk of particles: ``log_weights`` ``(k, N)`` (``(k, 1)`` if no site varies over the plate),
    the model and guide traces it came from, and ``width`` (``max_plate_nesting + 1`` when the traces
    carry the particle plate at dim ``-width``; ``None`` for a single un-vectorised particle)."""

    log_weights: torch.Tensor
    model_trace: object
    guide_trace: object
    width: object


def weighted_traces(model, guide, *args, num_particles, chunk_size=None, plate_name="data", max_plate_nesting=None,
                    require_rsample=False, **kwargs):
    """Draw ``num_particles`` particles ``z_kn ~ q(z | x_n)`` in chunks and yield a :class:`WeightedChunk` each.

    Chunks hold ``chunk_size`` particles (all of them when ``None``), vectorised in an outer plate; the
    chunks' ``log_weights`` stacked along dim 0 are eq. 8's ``log w_kn``. If a model does not broadcast
    over the particle plate, the first chunk says so and every particle is then drawn on its own (one
    chunk each, same estimator, slower). ``*args, **kwargs`` go to both model and guide.
    """
    positive_int(num_particles, "num_particles")
    chunk_size = num_particles if chunk_size is None else min(positive_int(chunk_size, "chunk_size"), num_particles)
    if max_plate_nesting is None:
        max_plate_nesting = guess_max_plate_nesting(model, guide, args, kwargs)
    width = max_plate_nesting + 1
    vectorised, done = True, 0
    while done < num_particles:
        k = min(chunk_size, num_particles - done)
        chunk = None
        if vectorised:
            try:
                model_trace, guide_trace = traces(_vectorised(model, k, -width), _vectorised(guide, k, -width),
                                                  args, kwargs)
                if require_rsample:
                    check_reparameterised(guide_trace, "IWAE")
                lw = point_log_weights(model_trace, guide_trace, plate_name, width)
                if lw.shape[0] != k:
                    raise ValueError("particle dim lost")
                chunk = WeightedChunk(lw, model_trace, guide_trace, width)
            except PyprogenError:
                raise
            except (RuntimeError, ValueError, IndexError):  # the model does not broadcast
                if done:
                    raise
                vectorised = False
        if chunk is not None:
            yield chunk
            done += k
            continue
        model_trace, guide_trace = traces(model, guide, args, kwargs)
        if require_rsample:
            check_reparameterised(guide_trace, "IWAE")
        yield WeightedChunk(point_log_weights(model_trace, guide_trace, plate_name), model_trace, guide_trace, None)
        done += 1


def log_weights(model, guide, *args, num_particles, chunk_size=None, plate_name="data", max_plate_nesting=None,
                require_rsample=False, **kwargs):
    """Importance log-weights ``log p(x_n, z_kn) − log q(z_kn | x_n)``, shape ``(num_particles, N)``.

    Differentiable (reparameterised guides give the IWAE gradient by autograd; ``require_rsample=True``
    refuses other guides); wrap in ``torch.no_grad()`` for evaluation. ``chunk_size`` bounds how many
    particles are vectorised at once (memory ``chunk_size × N``; the result is the same estimator).
    ``*args, **kwargs`` go to both model and guide.
    """
    chunks = [c.log_weights for c in weighted_traces(
        model, guide, *args, num_particles=num_particles, chunk_size=chunk_size, plate_name=plate_name,
        max_plate_nesting=max_plate_nesting, require_rsample=require_rsample, **kwargs)]
    n = max(c.shape[-1] for c in chunks)
    return torch.cat([c.expand(c.shape[0], n) for c in chunks])


def log_mean_weight(model, guide, *args, num_particles, chunk_size=None, plate_name="data", max_plate_nesting=None,
                    **kwargs):
    """``log (1/K) Σ_k w_kn`` per data point, shape ``(N,)``: Burda et al. (2016) eq. 8's L_K per point.

    Streams over chunks of ``chunk_size`` particles with a running logsumexp
    (``logaddexp(running, logsumexp_k log w_kn)``), so memory stays at one chunk whatever ``num_particles``.
    Equal to ``logsumexp(log_weights(...), 0) − log K`` up to float rounding.
    """
    total = None
    for chunk in weighted_traces(model, guide, *args, num_particles=num_particles, chunk_size=chunk_size,
                                 plate_name=plate_name, max_plate_nesting=max_plate_nesting, **kwargs):
        part = torch.logsumexp(chunk.log_weights, 0)
        total = part if total is None else torch.logaddexp(total, part)
    return total - math.log(num_particles)


def check_reparameterised(guide_trace, estimator):
    for name, site in guide_trace.nodes.items():
        if site["type"] == "sample" and not site["is_observed"] and not site["fn"].has_rsample:
            raise PyprogenError(f"guide: {estimator} needs reparameterised latent sites; {name!r} is not")
