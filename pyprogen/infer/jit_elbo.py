"""A JIT-compiled mean-field ELBO that compiles once.

Pyro 1.9.2's :class:`pyro.infer.JitTraceMeanField_ELBO` checks for a cached ``_loss_and_surrogate_loss``
but stores the compiled function as ``_differentiable_loss``, so it builds and traces a new compiled
function on every call (measured 4–8.5× slower than the non-JIT loss). This subclass caches the
compiled function under the name it checks. The estimator is unchanged: TraceMeanField_ELBO's
analytic KL(q || p) where available (Kingma & Welling 2014, appendix B) plus the sampled likelihood.
"""
import warnings
import weakref

import pyro.ops.jit
from pyro.infer import JitTraceMeanField_ELBO as _PyroJitTraceMeanField_ELBO

from .registry import register_estimator


class JitTraceMeanField_ELBO(_PyroJitTraceMeanField_ELBO):
    """Like Pyro's, but ``differentiable_loss`` is compiled once (per unique non-tensor kwargs)."""

    def differentiable_loss(self, model, guide, *args, **kwargs):
        kwargs["_pyro_model_id"] = id(model)
        kwargs["_pyro_guide_id"] = id(guide)
        if getattr(self, "_differentiable_loss", None) is None:
            weakself = weakref.ref(self)

            @pyro.ops.jit.trace(ignore_warnings=self.ignore_jit_warnings, jit_options=self.jit_options)
            def differentiable_loss(*args, **kwargs):
                kwargs.pop("_pyro_model_id")
                kwargs.pop("_pyro_guide_id")
                self = weakself()
                loss = 0.0
                for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
                    _, loss_particle = self._differentiable_loss_particle(model_trace, guide_trace)
                    loss = loss + loss_particle / self.num_particles
                return loss

            self._differentiable_loss = differentiable_loss
        with warnings.catch_warnings():  # torch 2.13 deprecates jit.trace, which Pyro's JIT is built on
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace.* is deprecated", category=DeprecationWarning)
            return self._differentiable_loss(*args, **kwargs)


@register_estimator("jit-meanfield")
def _jit_meanfield(model, **kw):
    """Mean-field ELBO compiled once with torch.jit (Pyro 1.9.2's re-traces every step)."""
    return JitTraceMeanField_ELBO(**kw)
