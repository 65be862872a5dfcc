"""``AdversarialSVI``: SVI's interface for adversarial training of any implicit Pyro model.

Where :class:`pyro.infer.SVI` steps one optimiser on an ELBO, this steps two: the critic on
``loss.critic_loss`` (``critic_steps`` times, each followed by ``loss.after_critic_step``,
e.g. WGAN weight clipping) and then the generator on ``loss.generator_loss``
(Goodfellow et al. 2014, Algorithm 1; Arjovsky et al. 2017, Algorithm 1).

Fakes come from running the Pyro *model*: ``poutine.trace(model).get_trace(n=B)`` and reading
its ``"x"`` site, so any Pyro program with a reparameterised/deterministic ``x`` site works (a
GAN's ``pyro.deterministic("x", G(z))``, or a decoder's mean). Each critic step uses the same
real minibatch and a fresh batch of fakes (the papers draw a fresh real batch per critic step;
``fit`` hands one batch per step).
"""
import pyro.poutine as poutine
import torch

from .adversarial_loss import adversarial_loss
from .step import STEPS, OptimizerSpec, Step, capture_parameters, make_optimizer


@STEPS.register("adversarial")
class AdversarialSVI(Step):
    """``AdversarialSVI(model, critic, gen_optim, critic_optim, loss, *, critic_steps=None)``.

    :param model: a Pyro model called as ``model(n=B)``, with the generated data at site ``site``.
    :param critic: a module (or callable with ``.parameters()``) ``x -> scores``.
    :param gen_optim: a ``torch.optim.Optimizer`` over the generator's parameters, or a factory
        ``params -> Optimizer``; with a factory the parameters are those of ``modules`` (minus the
        critic's) plus every Pyro param the model touches, captured once like SVI does.
    :param critic_optim: an optimiser over the critic's parameters, or a factory.
    :param loss: an :class:`AdversarialLoss` or its registry name.
    :param critic_steps: critic updates per generator update (default: ``loss.critic_steps``).
    :param modules: modules whose parameters the generator optimiser owns (e.g. ``[gan]``).
    :param site: the name of the data site in the model's trace (default ``"x"``).
    :param after_generator_step: optional callable run after every generator update (a GAN's
        weight average, :meth:`pyprogen.models.GAN.after_generator_step`).

    Implements the step protocol (infer/step.py): the losses are batch means, so gradients of
    different processes are averaged.
    """

    critic_site = "x"

    def __init__(self, model, critic, gen_optim, critic_optim, loss, *, critic_steps=None, modules=(), site="x",
                 after_generator_step=None):
        self.model, self.critic, self.site = model, critic, site
        self.after_generator_step = after_generator_step
        self.loss = adversarial_loss(loss)
        self.critic_steps = int(critic_steps if critic_steps is not None else self.loss.critic_steps)
        self.modules = tuple(modules)
        self._gen_optim, self._critic_optim = gen_optim, critic_optim
        self.gen_optimizer = self.critic_optimizer = None

    @classmethod
    def for_model(cls, model, loss, lr):
        """The step object ``fit`` uses: the loss's own optimiser factories, the generator's at ``lr``
        and the critic's at the model's ``critic_lr`` (``lr`` when it has none); the model's
        ``critic_steps`` and ``after_generator_step`` (EMA) when it has them."""
        loss = adversarial_loss(loss)
        critic_lr = getattr(model, "critic_lr", None) or lr
        return cls(model.model, model.critic, lambda params: loss.make_generator_optimizer(params, lr),
                   lambda params: loss.make_critic_optimizer(params, critic_lr), loss, modules=[model],
                   critic_steps=getattr(model, "critic_steps", None),
                   after_generator_step=getattr(model, "after_generator_step", None))

    # -- set-up ----------------------------------------------------------------------------
    def generate(self, n):
        """``n`` fakes from the model's ``site``, differentiable in the generator's parameters."""
        return poutine.trace(self.model).get_trace(n=n).nodes[self.site]["value"]

    def initialise(self, x=None):
        """Create both optimisers (capturing parameters) without consuming random numbers."""
        if self.gen_optimizer is not None:
            return
        self.critic_params = list(self.critic.parameters())
        self.gen_params = capture_parameters(self.modules, self.model, exclude=self.critic_params,
                                             n=2 if x is None else len(x))
        self.gen_optimizer = make_optimizer(self._gen_optim, self.gen_params)
        self.critic_optimizer = make_optimizer(self._critic_optim, self.critic_params)

    #: the name of the generator's optimiser in ``optimizers()`` and checkpoints
    generator_name = "generator"

    def optimizers(self):
        return [OptimizerSpec(self.generator_name, self.gen_optimizer, tuple(self.gen_params)),
                OptimizerSpec("critic", self.critic_optimizer, tuple(self.critic_params))]

    # -- training ----------------------------------------------------------------------------
    def _set_critic_grad(self, flag):
        for p in self.critic_params:
            p.requires_grad_(flag)

    def critic_inputs(self, x):
        """``(real, fake)`` the critic compares: the data and a fresh batch of fakes (no gradient)."""
        with torch.no_grad():
            return x, self.generate(len(x))

    def generator_objective(self, x):
        """The scalar the generator minimises and the terms to report (name -> tensor)."""
        gen_loss = self.loss.generator_loss(self.critic, self.generate(len(x)))
        return gen_loss, {"gen_loss": gen_loss}

    def step(self, x):
        """``critic_steps`` critic updates, then one generator update; the losses as batch means."""
        self.initialise(x)
        critic_total, penalty_total = 0.0, 0.0
        for _ in range(self.critic_steps):
            real, fake = self.critic_inputs(x)
            critic_loss, penalty = self.loss.critic_loss(self.critic, real, fake)
            self.critic_optimizer.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.critic_optimizer.step()
            self.loss.after_critic_step(self.critic)
            critic_total += critic_loss.item()
            penalty_total += float(penalty.detach())
        self._set_critic_grad(False)  # the generator step needs no critic weight gradients
        try:
            objective, terms = self.generator_objective(x)
            self.gen_optimizer.zero_grad(set_to_none=True)
            objective.backward()
            self.gen_optimizer.step()
            if self.after_generator_step is not None:
                self.after_generator_step()
        finally:
            self._set_critic_grad(True)
        return {**{k: v.item() for k, v in terms.items()}, "critic_loss": critic_total / self.critic_steps,
                "penalty": penalty_total / self.critic_steps}

    def evaluate_loss(self, x):
        """The same terms on ``x`` and fresh draws, no update (penalties differentiate w.r.t. inputs)."""
        with torch.enable_grad():
            _, terms = self.generator_objective(x)
            real, fake = self.critic_inputs(x)
            critic_loss, penalty = self.loss.critic_loss(self.critic, real, fake)
        return {**{k: v.item() for k, v in terms.items()}, "critic_loss": critic_loss.item(),
                "penalty": float(penalty.detach())}
