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

from .adversarial_loss import AdversarialLoss, adversarial_loss


def _optimizer(optim, params):
    """``optim`` is a ``torch.optim.Optimizer`` or a factory ``params -> Optimizer``."""
    return optim if isinstance(optim, torch.optim.Optimizer) else optim(params)


class AdversarialSVI:
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
    """

    def __init__(self, model, critic, gen_optim, critic_optim, loss, *, critic_steps=None, modules=(), site="x"):
        self.model, self.critic, self.site = model, critic, site
        self.loss = adversarial_loss(loss) if not isinstance(loss, AdversarialLoss) else loss
        self.critic_steps = int(critic_steps if critic_steps is not None else self.loss.critic_steps)
        self.modules = tuple(modules)
        self._gen_optim, self._critic_optim = gen_optim, critic_optim
        self.gen_optimizer = self.critic_optimizer = None

    @classmethod
    def for_model(cls, model, loss, lr):
        """The step object ``fit`` uses: the loss's own optimiser factories at learning rate ``lr``.

        A model whose adversarial training is not a generator-vs-data game (WAE-GAN's critic
        lives in latent space) provides ``model.adversarial_step(loss, lr)``, used instead.
        """
        loss = adversarial_loss(loss) if not isinstance(loss, AdversarialLoss) else loss
        if hasattr(model, "adversarial_step"):
            return model.adversarial_step(loss, lr)
        return cls(model.model, model.critic, lambda params: loss.make_generator_optimizer(params, lr),
                   lambda params: loss.make_critic_optimizer(params, lr), loss, modules=[model])

    # -- set-up ----------------------------------------------------------------------------
    def generate(self, n):
        """``n`` fakes from the model's ``site``, differentiable in the generator's parameters."""
        return poutine.trace(self.model).get_trace(n=n).nodes[self.site]["value"]

    def initialise(self, x=None):
        """Create both optimisers (capturing parameters) without consuming random numbers."""
        if self.gen_optimizer is not None:
            return
        critic_params = list(self.critic.parameters())
        critic_ids = {id(p) for p in critic_params}
        params, seen = [], set(critic_ids)
        for module in self.modules:
            for p in module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        n = 2 if x is None else len(x)
        # a side-effect-free trace: no RNG consumed, no BatchNorm running statistics updated
        modes = [(m, m.training) for module in self.modules for m in module.modules()]
        try:
            for m, _ in modes:
                m.training = False
            with torch.random.fork_rng(devices=[]), torch.no_grad(), poutine.trace(param_only=True) as tr:
                self.model(n=n)
        finally:
            for m, training in modes:
                m.training = training
        for node in tr.trace.nodes.values():
            p = node["value"].unconstrained()
            if id(p) not in seen and p.requires_grad:
                seen.add(id(p))
                params.append(p)
        self.gen_params, self.critic_params = params, critic_params
        self.gen_optimizer = _optimizer(self._gen_optim, params)
        self.critic_optimizer = _optimizer(self._critic_optim, critic_params)

    # -- training ----------------------------------------------------------------------------
    def _set_critic_grad(self, flag):
        for p in self.critic_params:
            p.requires_grad_(flag)

    def step(self, x):
        """Critic step(s), then one generator step; returns the losses as floats."""
        self.initialise(x)
        n = len(x)
        critic_total, penalty_total = 0.0, 0.0
        for _ in range(self.critic_steps):
            with torch.no_grad():
                fake = self.generate(n)
            critic_loss, penalty = self.loss.critic_loss(self.critic, x, fake)
            self.critic_optimizer.zero_grad(set_to_none=True)
            critic_loss.backward()
            self.critic_optimizer.step()
            self.loss.after_critic_step(self.critic)
            critic_total += critic_loss.item()
            penalty_total += float(penalty.detach())
        self._set_critic_grad(False)  # the generator step needs no critic weight gradients
        try:
            gen_loss = self.loss.generator_loss(self.critic, self.generate(n))
            self.gen_optimizer.zero_grad(set_to_none=True)
            gen_loss.backward()
            self.gen_optimizer.step()
        finally:
            self._set_critic_grad(True)
        return {"gen_loss": gen_loss.item(), "critic_loss": critic_total / self.critic_steps,
                "penalty": penalty_total / self.critic_steps}

    def evaluate_loss(self, x):
        """Losses on ``x`` and fresh fakes, no update (penalties still differentiate w.r.t. inputs)."""
        with torch.enable_grad():
            fake = self.generate(len(x)).detach()
            critic_loss, penalty = self.loss.critic_loss(self.critic, x, fake)
            gen_loss = self.loss.generator_loss(self.critic, fake)
        return {"gen_loss": gen_loss.item(), "critic_loss": critic_loss.item(), "penalty": float(penalty.detach())}

    # -- checkpoints ----------------------------------------------------------------------------
    def state_dict(self):
        return {"generator_optimizer": self.gen_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict()}

    def load_state_dict(self, state):
        self.gen_optimizer.load_state_dict(state["generator_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
