"""WAE-GAN training step (Tolstikhin et al. 2018, "Wasserstein Auto-Encoders", Algorithm 1).

A discriminator D in latent space tells prior samples z ~ p(z) ("real") from codes
z̃ ~ q(z|x) ("fake"); the encoder and decoder minimise

    (1/B) Σ_n −log p(x_n | z̃_n)  +  λ · generator_loss(D, z̃)

i.e. reconstruction plus λ times the adversarial loss of the codes. With the non-saturating
loss (the default) the second term is −λ·E log σ(D(z̃)), exactly the paper's Algorithm 1; any
registered adversarial loss (gan-dp, wgan-gp, ...) can be used instead. Everything is read
from the Pyro program, not a class: codes from the trace of the *guide* (site ``"z"``), the
reconstruction term from the model replayed on that trace, and the "real" samples from the
model's own prior at site ``"z"`` (the model is stopped there with ``poutine.escape``).

It is :class:`AdversarialSVI` with the critic on site ``"z"``: only what the critic compares and
what the generator (here the autoencoder) minimises differ.
"""
import pyro.poutine as poutine
import torch

from .adversarial_svi import AdversarialSVI
from .step import STEPS, site_distribution


@STEPS.register("latent-adversarial")
class WAEGANSVI(AdversarialSVI):
    """``WAEGANSVI(model, guide, critic, ae_optim, critic_optim, loss, *, lam, modules=())``.

    :param model, guide: the Pyro model (latent ``"z"``, observed ``"x"``) and its encoder guide.
    :param critic: the latent discriminator, ``z -> score``.
    :param ae_optim, critic_optim: ``params -> Optimizer`` factories (or optimisers).
    :param loss: an adversarial loss or its registry name.
    :param lam: λ, weight of the adversarial term.
    :param modules: modules owning the encoder/decoder parameters (the critic's are excluded).
    """

    critic_site = "z"
    generator_name = "autoencoder"

    def __init__(self, model, guide, critic, ae_optim, critic_optim, loss, *, lam, modules=()):
        super().__init__(model, critic, ae_optim, critic_optim, loss, modules=modules, site="z")
        self.guide, self.lam = guide, float(lam)

    @classmethod
    def for_model(cls, model, loss, lr):
        loss = cls._resolve(loss)
        return cls(model.model, model.guide, model.critic, lambda p: loss.make_generator_optimizer(p, lr),
                   lambda p: loss.make_critic_optimizer(p, lr), loss, lam=model.lam, modules=[model])

    @staticmethod
    def _resolve(loss):
        from .adversarial_loss import adversarial_loss

        return adversarial_loss(loss)

    def codes(self, x):
        return poutine.trace(self.guide).get_trace(x).nodes["z"]["value"]

    def critic_inputs(self, x):
        """``(prior draws, codes)``: p(z) from the model's own ``"z"`` site, q(z|x) from the guide."""
        with torch.no_grad():
            codes = self.codes(x)
            prior = site_distribution(self.model, "z", n=len(x)).sample()
        return prior, codes

    def generator_objective(self, x):
        guide_tr = poutine.trace(self.guide).get_trace(x)
        model_tr = poutine.trace(poutine.replay(self.model, trace=guide_tr)).get_trace(x)
        reconstruction = -model_tr.nodes["x"]["fn"].log_prob(model_tr.nodes["x"]["value"]).sum() / len(x)
        adversarial = self.loss.generator_loss(self.critic, guide_tr.nodes["z"]["value"])
        total = reconstruction + self.lam * adversarial
        return total, {"loss": total, "reconstruction": reconstruction, "gen_loss": adversarial}
