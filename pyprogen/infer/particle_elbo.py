"""Base for estimators written as one differentiable loss per (model trace, guide trace) particle.

Subclasses define ``_loss_particle(model_trace, guide_trace) -> Tensor``; this class averages it over
``num_particles`` Trace_ELBO-style traces and derives ``differentiable_loss``, ``loss`` and
``loss_and_grads`` from it, so the estimator works in ``pyro.infer.SVI`` and with torch optimisers.
"""
import torch
from pyro.infer import Trace_ELBO
from pyro.util import warn_if_nan


class ParticleELBO(Trace_ELBO):
    def _loss_particle(self, model_trace, guide_trace):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def differentiable_loss(self, model, guide, *args, **kwargs):
        loss = 0.0
        for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
            loss = loss + self._loss_particle(model_trace, guide_trace) / self.num_particles
        warn_if_nan(loss, "loss")
        return loss

    def loss(self, model, guide, *args, **kwargs):
        with torch.no_grad():
            return float(self.differentiable_loss(model, guide, *args, **kwargs))

    def loss_and_grads(self, model, guide, *args, **kwargs):
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        if torch.is_tensor(loss) and loss.requires_grad:
            loss.backward(retain_graph=self.retain_graph)
        return float(loss.detach()) if torch.is_tensor(loss) else float(loss)
