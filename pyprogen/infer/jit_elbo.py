"""The mean-field ELBO, compiled once per (model, guide) into straight-line aten calls.

The estimator is TraceMeanField_ELBO's: analytic KL(q || p) where available (Kingma & Welling
2014, appendix B) plus the sampled likelihood. Its surrogate loss is recorded once by
:class:`~pyprogen.infer.compiled.CompiledLoss` and replayed every step: no ``torch.jit.trace``
(deprecated in torch 2.13, and its traced functions were never freed), every parameter of the
modules that own the model and guide an input — plain ``nn.Module`` attributes of a PyroModule
included. Built once per (model, guide, settings), reused when the same model is fitted again,
freed with the model. Per step it costs what hand-written PyTorch with the same math costs
(benchmarks/compile_paths.py).

Pyro 1.9.2's own ``JitTraceMeanField_ELBO`` also re-traces every step (it checks for a cached
``_loss_and_surrogate_loss`` but stores ``_differentiable_loss``). This class keeps its name and
constructor (``ignore_jit_warnings`` and ``jit_options`` are accepted and unused).
"""
from pyro.infer import JitTraceMeanField_ELBO as _PyroJitTraceMeanField_ELBO

from .compiled import compiled_loss
from .registry import register_estimator


class JitTraceMeanField_ELBO(_PyroJitTraceMeanField_ELBO):
    """TraceMeanField_ELBO whose ``differentiable_loss`` replays a record made once per model/guide."""

    def surrogate_loss(self, model, guide, *args, **kwargs):
        """The differentiable loss, uncompiled (what the record replays): −ELBO averaged over particles."""
        loss = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            loss = loss + self._differentiable_loss_particle(model_trace, guide_trace)[1] / self.num_particles
        return loss

    def compile(self, model, guide):
        """The :class:`~pyprogen.infer.compiled.CompiledLoss` of this estimator for ``(model, guide)``."""
        return compiled_loss(self.surrogate_loss, model, guide, estimator=self)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        return self.compile(model, guide)(*args, **kwargs)


@register_estimator("jit-meanfield")
def _jit_meanfield(model, **kw):
    """Mean-field ELBO recorded once per model and replayed as aten calls (see infer/compiled.py)."""
    return JitTraceMeanField_ELBO(**kw)
