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
import pyro
import torch
from pyro import poutine
from pyro.distributions.util import scale_and_mask
from pyro.poutine.util import prune_subsample_sites

from ..errors import PyprogenError

PARTICLES = "_pyprogen_particles"


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


def point_log_weights(model_trace, guide_trace, plate_name="data", width=None):
    """``log p(x, z) − log q(z)`` per data point from a pair of traces: ``(K, N)`` (particles) or ``(N,)``.

    :param width: ``max_plate_nesting + 1`` when the traces carry a particle plate at dim ``-width``.
    """
    inside, outside = 0.0, {}
    for sign, trace in ((1.0, model_trace), (-1.0, guide_trace)):
        for name, site in trace.nodes.items():
            if site["type"] != "sample" or (sign < 0 and site["is_observed"]):
                continue
            frame = _data_frame(site, plate_name)
            log_prob = scale_and_mask(site["unscaled_log_prob"], mask=site["mask"])  # weights of a density
            term = sign * _per_point(log_prob, frame, width)
            if frame is None:
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


def log_weights(model, guide, *args, num_particles, plate_name="data", max_plate_nesting=None,
                require_rsample=False, **kwargs):
    """Importance log-weights ``log p(x_n, z_kn) − log q(z_kn | x_n)``, shape ``(num_particles, N)``.

    Differentiable (reparameterised guides give the IWAE gradient by autograd; ``require_rsample=True``
    refuses other guides); wrap in ``torch.no_grad()`` for evaluation. ``*args, **kwargs`` go to both
    model and guide.
    """
    if isinstance(num_particles, bool) or not isinstance(num_particles, int) or num_particles < 1:
        raise PyprogenError(f"num_particles: expected a positive integer, got {num_particles!r}")
    if max_plate_nesting is None:
        max_plate_nesting = guess_max_plate_nesting(model, guide, args, kwargs)
    width = max_plate_nesting + 1
    try:
        model_trace, guide_trace = traces(_vectorised(model, num_particles, -width),
                                          _vectorised(guide, num_particles, -width), args, kwargs)
        if require_rsample:
            check_reparameterised(guide_trace, "IWAE")
        lw = point_log_weights(model_trace, guide_trace, plate_name, width)
        if lw.shape[0] != num_particles:
            raise ValueError("particle dim lost")
        return lw
    except PyprogenError:
        raise
    except (RuntimeError, ValueError, IndexError):  # the model does not broadcast: one particle at a time
        rows = []
        for _ in range(num_particles):
            model_trace, guide_trace = traces(model, guide, args, kwargs)
            if require_rsample:
                check_reparameterised(guide_trace, "IWAE")
            rows.append(point_log_weights(model_trace, guide_trace, plate_name))
        return torch.stack(torch.broadcast_tensors(*rows))


def check_reparameterised(guide_trace, estimator):
    for name, site in guide_trace.nodes.items():
        if site["type"] == "sample" and not site["is_observed"] and not site["fn"].has_rsample:
            raise PyprogenError(f"guide: {estimator} needs reparameterised latent sites; {name!r} is not")
