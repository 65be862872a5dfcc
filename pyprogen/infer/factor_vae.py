"""FactorVAE's training step (Kim & Mnih 2018, "Disentangling by Factorising", Algorithm 2).

The VAE (encoder, decoder, prior: anything with sites ``"z"`` and ``"x"``) minimises

    (1/B) Σ_n [ −log p(x_n | z_n) + KL(q(z|x_n) || p(z)) ]  +  γ · TC(z),
    TC(z) = KL(q(z) || q̄(z)) ≈ (1/B) Σ_n log [D(z_n) / (1 − D(z_n))] = (1/B) Σ_n logit D(z_n),

with z_n ~ q(z|x_n) and q̄(z) = Π_j q(z_j). The discriminator D (the model's ``critic``, raw logits) tells codes
z ~ q(z) (label 1) from codes whose dimensions were shuffled independently across the batch
(:func:`permute_dims`, samples of q̄; label 0); it minimises the binary cross-entropy

    −(1/B) Σ_n [ log D(z_n) + log(1 − D(z̃_n)) ],   z̃ = permute_dims(z).

Both terms read the Pyro program, not a class: codes from the guide's trace at ``"z"``, the reconstruction
from the model replayed on it, the KL in closed form where torch has it (diagonal guide, normal prior),
else its one-sample estimate log q(z|x) − log p(z) (flow guides, mixture priors). As disentanglement_lib
does, the discriminator's z and z̃ come from the same minibatch (the paper draws a second one).

It is :class:`AdversarialSVI` with a critic on the permuted codes (``critic_site = "z-permuted"``): the
critic step first (on codes drawn without gradient), then the VAE step with the critic frozen.
"""
import pyro.poutine as poutine
import torch
from torch.distributions import kl_divergence

from ..errors import PyprogenError
from .adversarial_loss import AdversarialLoss
from .adversarial_svi import AdversarialSVI
from .minimax_gan import discriminator_loss
from .penalties import critic_scores
from .step import STEPS


def permute_dims(z, generator=None):
    """``z`` (B, D) with each column shuffled by its own random permutation of the batch (Kim & Mnih 2018,
    Algorithm 1): every marginal q(z_j) is kept exactly, the dependence between dimensions is destroyed."""
    if z.dim() != 2:
        raise PyprogenError(f"z: expected codes of shape (batch, dims), got {tuple(z.shape)}")
    keys = torch.rand(z.shape, generator=generator, device=z.device if generator is None else generator.device)
    return torch.gather(z, 0, keys.argsort(0).to(z.device))


def tc_estimate(critic, z):
    """The density-ratio estimate of the total correlation: the mean logit, (1/B) Σ log D(z)/(1 − D(z))."""
    return critic_scores(critic, z).mean()


class FactorTCLoss(AdversarialLoss):
    """The discriminator's cross-entropy (codes 1, permuted codes 0) and the TC estimate the VAE minimises.

    Optimisers as the paper: Adam(β = (0.9, 0.999)) for the VAE, Adam(β = (0.5, 0.9)) for the discriminator.
    Not in the adversarial-loss registry (it trains no GAN): :class:`~pyprogen.models.FactorVAE` returns it.
    """

    name = "factor-tc"

    def critic_loss(self, critic, real, fake):
        loss, _ = discriminator_loss(critic, real, fake)
        return loss, torch.zeros((), device=loss.device)

    def generator_loss(self, critic, fake):
        return tc_estimate(critic, fake)

    def make_critic_optimizer(self, params, lr):
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.9))

    def make_generator_optimizer(self, params, lr):
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))


@STEPS.register("factor-vae")
class FactorVAESVI(AdversarialSVI):
    """``FactorVAESVI(model, guide, critic, vae_optim, critic_optim, *, gamma, modules=(), loss=None)``.

    :param model, guide: the Pyro model (latent ``"z"``, observed ``"x"``) and its guide q(z|x).
    :param critic: the discriminator on codes, ``z -> logit``.
    :param vae_optim, critic_optim: ``params -> Optimizer`` factories (or optimisers).
    :param gamma: γ, the weight of the total-correlation estimate.
    :param modules: modules owning the VAE's parameters (the critic's are excluded).
    """

    critic_site = "z-permuted"
    generator_name = "vae"

    def __init__(self, model, guide, critic, vae_optim, critic_optim, *, gamma, modules=(), loss=None):
        super().__init__(model, critic, vae_optim, critic_optim, loss or FactorTCLoss(), modules=modules, site="z")
        if not isinstance(self.loss, FactorTCLoss):
            raise PyprogenError(f"loss: FactorVAE trains its discriminator with its own cross-entropy (the default "
                                f"loss); got the adversarial loss {self.loss.name!r}")
        self.guide, self.gamma = guide, float(gamma)

    @classmethod
    def for_model(cls, model, loss, lr):
        critic_lr = getattr(model, "critic_lr", None) or lr
        if not isinstance(loss, FactorTCLoss):
            raise PyprogenError(f"loss: FactorVAE trains its discriminator with its own cross-entropy (the default "
                                f"loss); got the adversarial loss {getattr(loss, 'name', None) or type(loss).__name__!r}")
        return cls(model.model, model.guide, model.critic, lambda p: loss.make_generator_optimizer(p, lr),
                   lambda p: loss.make_critic_optimizer(p, critic_lr), gamma=model.gamma, modules=[model], loss=loss)

    def critic_inputs(self, x):
        """``(codes, permuted codes)``: z ~ q(z|x) from the guide and :func:`permute_dims` of it (no gradient)."""
        with torch.no_grad():
            z = poutine.trace(self.guide).get_trace(x).nodes["z"]["value"]
            return z, permute_dims(z)

    def generator_objective(self, x):
        guide_tr = poutine.trace(self.guide).get_trace(x)
        model_tr = poutine.trace(poutine.replay(self.model, trace=guide_tr)).get_trace(x)
        q, p, z = guide_tr.nodes["z"]["fn"], model_tr.nodes["z"]["fn"], guide_tr.nodes["z"]["value"]
        try:
            kl = kl_divergence(q, p)
        except NotImplementedError:  # flows, mixture priors: the one-sample estimate
            kl = q.log_prob(z) - p.log_prob(z)
        reconstruction = -model_tr.nodes["x"]["fn"].log_prob(model_tr.nodes["x"]["value"])
        neg_elbo = (reconstruction + kl).sum() / len(x)
        tc = self.loss.generator_loss(self.critic, z)
        total = neg_elbo + self.gamma * tc
        return total, {"loss": total, "neg_elbo": neg_elbo, "tc": tc}
