"""WAE-GAN training step (Tolstikhin et al. 2018, "Wasserstein Auto-Encoders", Algorithm 1).

A discriminator D in latent space tells prior samples z ~ p(z) ("real") from codes
z̃ ~ q(z|x) ("fake"); the encoder and decoder minimise

    (1/B) Σ_n −log p(x_n | z̃_n)  +  λ · generator_loss(D, z̃)

i.e. reconstruction plus λ times the adversarial loss of the codes. With the non-saturating
loss (the default) the second term is −λ·E log σ(D(z̃)), exactly the paper's Algorithm 1; any
:class:`AdversarialLoss` (gan-dp, wgan-gp, ...) can be used instead. Codes are read from the
trace of the model's *guide* (site ``"z"``) and the reconstruction term from the model replayed
on that trace, so the step is written against the Pyro program, not a class.
"""
import pyro.poutine as poutine
import torch

from .adversarial_loss import AdversarialLoss, adversarial_loss


class WAEGANLoss(AdversarialLoss):
    """Marks a WAE-GAN objective for ``fit``: an adversarial loss applied to latent codes.

    Delegates ``critic_loss``/``generator_loss``/optimisers/``critic_steps`` to ``adversarial``.
    """

    def __init__(self, adversarial="ns-gan"):
        self.adversarial = adversarial_loss(adversarial)
        self.critic_steps = self.adversarial.critic_steps

    def critic_loss(self, critic, real, fake):
        return self.adversarial.critic_loss(critic, real, fake)

    def generator_loss(self, critic, fake):
        return self.adversarial.generator_loss(critic, fake)

    def make_critic_optimizer(self, params, lr):
        return self.adversarial.make_critic_optimizer(params, lr)

    def make_generator_optimizer(self, params, lr):
        return self.adversarial.make_generator_optimizer(params, lr)

    def after_critic_step(self, critic):
        self.adversarial.after_critic_step(critic)

    def __repr__(self):
        return f"WAEGANLoss({self.adversarial!r})"


class WAEGANSVI:
    """``WAEGANSVI(model, guide, critic, ae_optim, critic_optim, loss, *, lam, modules=())``.

    :param model, guide: the Pyro model (observed site ``"x"``) and its encoder guide (site ``"z"``).
    :param critic: the latent discriminator, ``z -> score``.
    :param ae_optim, critic_optim: ``params -> Optimizer`` factories (or optimisers).
    :param loss: a :class:`WAEGANLoss` or an :class:`AdversarialLoss` (wrapped).
    :param lam: λ, weight of the adversarial term.
    :param modules: modules owning the encoder/decoder parameters (the critic's are excluded).
    """

    def __init__(self, model, guide, critic, ae_optim, critic_optim, loss, *, lam, modules=()):
        self.model, self.guide, self.critic = model, guide, critic
        self.loss = loss if isinstance(loss, WAEGANLoss) else WAEGANLoss(loss)
        self.lam = float(lam)
        self.modules = tuple(modules)
        self._ae_optim, self._critic_optim = ae_optim, critic_optim
        self.ae_optimizer = self.critic_optimizer = None

    @classmethod
    def for_model(cls, model, loss, lr):
        loss = loss if isinstance(loss, WAEGANLoss) else WAEGANLoss(loss)
        return cls(model.model, model.guide, model.critic,
                   lambda p: loss.make_generator_optimizer(p, lr), lambda p: loss.make_critic_optimizer(p, lr),
                   loss, lam=model.lam, modules=[model])

    def initialise(self, x=None):
        if self.ae_optimizer is not None:
            return
        self.critic_params = list(self.critic.parameters())
        seen = {id(p) for p in self.critic_params}
        params = []
        for module in self.modules:
            for p in module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        self.ae_params = params
        make = lambda optim, ps: optim if isinstance(optim, torch.optim.Optimizer) else optim(ps)  # noqa: E731
        self.ae_optimizer = make(self._ae_optim, params)
        self.critic_optimizer = make(self._critic_optim, self.critic_params)

    def _codes_and_reconstruction(self, x):
        """q(z|x) codes ``(B, K)``, prior draws at the same site, and the mean −log p(x|z)."""
        guide_tr = poutine.trace(self.guide).get_trace(x)
        model_tr = poutine.trace(poutine.replay(self.model, trace=guide_tr)).get_trace(x)
        model_tr.compute_log_prob()
        codes = guide_tr.nodes["z"]["value"]
        prior = model_tr.nodes["z"]["fn"].sample()
        reconstruction = -model_tr.nodes["x"]["log_prob"].sum() / len(x)
        return codes, prior, reconstruction

    def _critic_step(self, x):
        with torch.no_grad():
            codes = poutine.trace(self.guide).get_trace(x).nodes["z"]["value"]
            prior = torch.randn_like(codes)  # the WAE prior N(0, I)
        critic_loss, penalty = self.loss.critic_loss(self.critic, prior, codes)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()
        self.loss.after_critic_step(self.critic)
        return critic_loss.item(), float(penalty.detach())

    def step(self, x):
        self.initialise(x)
        critic_total = penalty_total = 0.0
        for _ in range(self.loss.critic_steps):
            c, p = self._critic_step(x)
            critic_total, penalty_total = critic_total + c, penalty_total + p
        for p in self.critic_params:
            p.requires_grad_(False)
        try:
            codes, _, reconstruction = self._codes_and_reconstruction(x)
            adversarial = self.loss.generator_loss(self.critic, codes)
            total = reconstruction + self.lam * adversarial
            self.ae_optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.ae_optimizer.step()
        finally:
            for p in self.critic_params:
                p.requires_grad_(True)
        k = self.loss.critic_steps
        return {"loss": total.item(), "reconstruction": reconstruction.item(), "gen_loss": adversarial.item(),
                "critic_loss": critic_total / k, "penalty": penalty_total / k}

    def evaluate_loss(self, x):
        with torch.enable_grad():
            codes, prior, reconstruction = self._codes_and_reconstruction(x)
            codes = codes.detach()
            critic_loss, penalty = self.loss.critic_loss(self.critic, prior, codes)
            adversarial = self.loss.generator_loss(self.critic, codes)
        return {"loss": (reconstruction + self.lam * adversarial).item(), "reconstruction": reconstruction.item(),
                "gen_loss": adversarial.item(), "critic_loss": critic_loss.item(), "penalty": float(penalty.detach())}

    def state_dict(self):
        return {"autoencoder_optimizer": self.ae_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict()}

    def load_state_dict(self, state):
        self.ae_optimizer.load_state_dict(state["autoencoder_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
