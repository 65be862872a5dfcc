"""Reference posteriors by NUTS (Hoffman & Gelman 2014, Algorithm 6) on the latents of a Pyro model.

Given data x and a model p(x, z) with fixed parameters θ (decoder weights), NUTS samples
p(z | x) ∝ p(z) p_θ(x | z) with the potential U(z) = -log p(z) - log p_θ(x | z). The points of
``pyro.plate("data", N)`` are independent, so one run samples all N posteriors at once.

Chains run one after another in this process (no multiprocessing), each from its own draw of
the initial strategy, so the result is a deterministic function of ``seed``. The result is an
``arviz.InferenceData`` built by ``az.from_pyro`` per chain and joined along ``chain`` (both through
:mod:`.arviz_adapter`); its ``sample_stats`` add tree depth, leapfrog steps, step size, acceptance rate and lp to the
divergences ArviZ reads from Pyro.
"""
import contextlib
import sys
import warnings

import numpy as np
import torch
from pyro import poutine
from pyro.infer.mcmc import MCMC, NUTS

from ..errors import expect
from ..infer.importance import sample_sites
from ..progress import is_terminal
from ..seeding import seeded
from .arviz_adapter import concat_chains, from_mcmc
from .psis import points


class _RecordingNUTS(NUTS):
    """NUTS that records per-transition leapfrog steps (2^depth - 1 for a full tree) and step size."""

    def _initialize_model_properties(self, model_args, model_kwargs):
        super()._initialize_model_properties(model_args, model_kwargs)
        potential = self.potential_fn

        def counted(params):
            self._evaluations += 1
            return potential(params)

        self._evaluations = 0
        self.potential_fn = counted

    def sample(self, params):
        cached = self._z_last is not None
        self._evaluations = 0
        mean_before, t_before = self._mean_accept_prob, self._t
        out = super().sample(params)
        steps = self._evaluations - (0 if cached else 1)
        n = self._t - self._warmup_steps if self._t > self._warmup_steps else self._t
        accept = n * self._mean_accept_prob - (n - 1) * mean_before if self._t > t_before else 1.0
        self.record = {"n_steps": steps, "tree_depth": int(steps).bit_length(), "step_size": float(self.step_size),
                       "acceptance_rate": float(accept), "lp": -float(self._potential_energy_last)}
        return out


@contextlib.contextmanager
def frozen_parameters(model, *args):
    """Fix the model's parameters (θ): no gradients flow into them while sampling z."""
    with poutine.block(), torch.no_grad():
        trace = poutine.trace(model).get_trace(*args)
    params = [site["value"] for site in trace.nodes.values() if site["type"] == "param"]
    owner = getattr(model, "__self__", None)
    if isinstance(owner, torch.nn.Module):
        params += list(owner.parameters())
    params = [p for p in {id(p): p for p in params}.values() if isinstance(p, torch.Tensor) and p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def site_dims(model, x, plate_name="data"):
    """ArviZ ``dims`` for every sample site: the data plate is ``point``, a latent vector's axis ``latent``."""
    with poutine.block(), torch.no_grad():
        trace = poutine.trace(model).get_trace(x)
    sites = sample_sites(trace)
    latents = [n for n, s in sites.items() if not s["is_observed"]]
    dims = {}
    for name, site in sites.items():
        fn = site["fn"]
        batch, event = len(fn.batch_shape), len(fn.event_shape)
        names = [f"{name}_batch_{i}" for i in range(batch)]
        for f in site["cond_indep_stack"]:
            if f.vectorized and batch + f.dim >= 0:
                names[batch + f.dim] = "point" if f.name == plate_name else f.name
        if site["is_observed"]:
            dims[name] = names  # event dims follow with ArviZ's default names
        elif event == 1:
            dims[name] = names + ["latent" if len(latents) == 1 else f"{name}_latent"]
        else:
            dims[name] = names + [f"{name}_dim_{i}" for i in range(event)]
    return dims


def nuts_posterior(model, x, *, num_samples=500, warmup_steps=500, num_chains=2, seed=0, progress=False,
                   target_accept_prob=0.8, max_tree_depth=10, jit_compile=False):
    """NUTS on the latents of ``model(x)`` with its parameters fixed; ``arviz.InferenceData``.

    Groups ``posterior`` (dims chain, draw, point, latent), ``sample_stats`` (diverging, tree_depth,
    n_steps, step_size, acceptance_rate, lp), ``log_likelihood`` and ``observed_data``.
    The global RNG state is restored afterwards. ``jit_compile=True`` compiles the potential
    energy with ``torch.jit`` (faster for neural decoders; the model must trace statically).
    """
    for name, value in (("num_samples", num_samples), ("warmup_steps", warmup_steps), ("num_chains", num_chains)):
        expect(isinstance(value, int) and value >= (0 if name == "warmup_steps" else 1), name,
               "a positive integer", value)
    x = points(x)
    dims = site_dims(model, x)
    chains = []
    with seeded(seed), frozen_parameters(model, x):
        for _ in range(num_chains):
            kernel = _RecordingNUTS(model, target_accept_prob=target_accept_prob, max_tree_depth=max_tree_depth,
                                    jit_compile=jit_compile, ignore_jit_warnings=True)
            stats = []

            def hook(kernel, params, stage, i, stats=stats):
                if stage == "Sample":
                    stats.append(kernel.record)

            mcmc = MCMC(kernel, num_samples=num_samples, warmup_steps=warmup_steps, num_chains=1,
                        hook_fn=hook, disable_progbar=not (progress and is_terminal(sys.stderr)))
            with warnings.catch_warnings():  # torch.jit.trace's deprecation notice, when jit_compile
                warnings.simplefilter("ignore", DeprecationWarning)
                mcmc.run(x)
            chains.append(from_mcmc(mcmc, dims=dims,
                                    sample_stats={key: np.array([s[key] for s in stats])[None] for key in stats[0]}))
    idata = concat_chains(chains)
    idata.posterior.attrs["sampler"] = "NUTS"
    return idata
