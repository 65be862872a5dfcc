"""The step protocol: the one interface ``fit`` drives, whatever the model family.

A *step object* owns a model's optimisers and performs one update on a minibatch, the way
``pyro.infer.SVI.step`` does. ``fit``, the NaN guard, gradient clipping, checkpoints, resume and
distributed training use only this interface:

- ``initialise(batch)``: capture the parameters and build the optimisers (no RNG consumed);
- ``step(batch) -> dict`` and ``evaluate_loss(batch) -> dict``: the loss terms as **means per
  data point** of the batch — ``{"loss"}`` for SVI (an ELBO summed over the data plate is divided
  by the batch size), ``{"gen_loss", "critic_loss", "penalty"}`` for adversarial steps;
- ``optimizers() -> [OptimizerSpec]``: each optimiser by name with its parameters and how their
  gradients combine across processes (``"sum"`` for a loss summed over the batch, ``"mean"``
  for a batch mean);
- ``state_dict()`` / ``load_state_dict(state)``: everything a checkpoint needs (default: every
  optimiser's state by name).

Step types live in :data:`STEPS`, one file each, registered where they are defined. A model says
what it needs by declaring ``critic_site``: ``None`` (a likelihood model trained by an ELBO),
``"x"`` (a critic on data: an implicit model such as a GAN) or ``"z"`` (a critic on latent codes:
WAE-GAN); :func:`make_step` picks the registered step whose ``critic_site`` matches for an
adversarial loss, and SVI for an estimator.
"""
from dataclasses import dataclass

import pyro.poutine as poutine
import torch
from pyro.poutine.runtime import NonlocalExit

from ..errors import PyprogenError
from ..registry import Registry
from .adversarial_loss import AdversarialLoss

STEPS = Registry("step type", argument="loss")
REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimiser of a step: ``name`` (e.g. "model", "generator", "critic"), the optimiser, the
    parameters it updates, and ``reduce``: how per-process gradients combine ("sum" or "mean")."""

    name: str
    optimizer: torch.optim.Optimizer
    params: tuple
    reduce: str = "mean"

    def __post_init__(self):
        if self.reduce not in REDUCTIONS:
            raise PyprogenError(f"reduce: expected one of {REDUCTIONS}, got {self.reduce!r}")


class Step:
    """Base class of step objects (see the module docstring for the protocol)."""

    #: the site the step's critic reads (None: no critic)
    critic_site = None

    @classmethod
    def for_model(cls, model, loss, lr):  # pragma: no cover - abstract
        """The step ``fit`` uses for ``model`` trained with ``loss`` at learning rate ``lr``."""
        raise NotImplementedError("abstract")

    def initialise(self, batch):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def step(self, batch):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def evaluate_loss(self, batch):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def optimizers(self):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def state_dict(self):
        return {spec.name: spec.optimizer.state_dict() for spec in self.optimizers()}

    def load_state_dict(self, state):
        for spec in self.optimizers():
            if spec.name not in state:
                raise PyprogenError(f"checkpoint: no state for the {spec.name} optimiser "
                                    f"(it holds {', '.join(sorted(state))})")
            spec.optimizer.load_state_dict(state[spec.name])


def make_optimizer(optim, params):
    """``optim`` is a ``torch.optim.Optimizer`` already, or a factory ``params -> Optimizer``."""
    return optim if isinstance(optim, torch.optim.Optimizer) else optim(list(params))


def capture_parameters(modules, program=None, *args, exclude=(), side_effect_free=True, **kwargs):
    """The parameters a step trains: those of ``modules`` (minus ``exclude``), then every Pyro
    param that ``program(*args, **kwargs)`` touches (``poutine.trace(param_only=True)``, as SVI
    captures them), each once, in a fixed order.

    The program runs under a forked RNG (no random numbers consumed). With ``side_effect_free``
    it also runs without gradients and with every module in eval mode (no BatchNorm statistics
    updated); a compiled loss that must trace with gradients passes ``False``.
    """
    skip = {id(p) for p in exclude}
    params, seen = [], set(skip)
    for module in modules:
        for p in module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    if program is None:
        return params
    modes = [(m, m.training) for module in modules for m in module.modules()] if side_effect_free else []
    try:
        for m, _ in modes:
            m.training = False
        with torch.random.fork_rng(devices=[]), torch.set_grad_enabled(not side_effect_free), \
                poutine.trace(param_only=True) as tr:
            program(*args, **kwargs)
    finally:
        for m, training in modes:
            m.training = training
    for node in tr.trace.nodes.values():
        p = node["value"].unconstrained()
        if id(p) not in seen and p.requires_grad:
            seen.add(id(p))
            params.append(p)
    return params


def site_distribution(program, site, *args, **kwargs):
    """The distribution of ``site`` in ``program(*args, **kwargs)``, stopping the program there
    (``poutine.escape``): a model's prior over ``"z"`` without running its decoder."""
    escaped = poutine.escape(program, escape_fn=lambda msg: msg["name"] == site)
    try:
        escaped(*args, **kwargs)
    except NonlocalExit as exit_:
        return exit_.site["fn"]
    raise PyprogenError(f"site: the program has no sample site {site!r}")


def _is_adversarial(loss):
    return isinstance(loss, AdversarialLoss)


def make_step(model, loss, lr):
    """The registered step that trains ``model`` with ``loss``; refuses a mismatch in one line.

    Adversarial losses go to the step whose critic reads the site the model's critic reads
    (``model.critic_site``); estimators (ELBOs, callables) go to SVI, unless the model is
    implicit (its critic reads data: there is no likelihood to bound).
    """
    site = getattr(model, "critic_site", None)
    name = type(model).__name__
    if _is_adversarial(loss):
        if site is None or not isinstance(getattr(model, "critic", None), torch.nn.Module):
            raise PyprogenError(f"loss: the adversarial loss {loss.name or type(loss).__name__!r} needs a model "
                                f"with a critic (gan, wae-gan), got {name}")
        matches = [cls for cls in STEPS.values() if cls.critic_site == site]
        if not matches:
            raise PyprogenError(f"loss: no step type trains a critic on site {site!r} ({name})")
        return matches[0].for_model(model, loss, lr)
    if site == "x":
        raise PyprogenError(f"loss: {name} is an implicit model (no likelihood of x to bound); expected an "
                            f"adversarial loss, got {getattr(loss, 'registry_name', None) or type(loss).__name__}")
    return STEPS.lookup("svi").for_model(model, loss, lr)
