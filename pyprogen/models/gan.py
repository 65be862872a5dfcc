"""Generative adversarial network (Goodfellow et al. 2014) as an *implicit* Pyro model.

    z ~ N(0, I),   x = G(z)        (no density over x: an implicit model)

``model`` is an ordinary Pyro program with sites ``"z"`` (a sample site) and ``"x"`` (a
``pyro.deterministic`` site) inside ``pyro.plate("data", n)``, so ``pyro.infer.Predictive``,
``poutine.trace`` and every sample-based metric treat a GAN exactly like a VAE. Training
reads fakes from the trace of ``model`` (:class:`pyprogen.infer.AdversarialSVI`) and scores
them with the **critic**, a separate module attached as ``self.critic`` (it is not part of
the generative process, but lives in the model's ``state_dict`` so checkpoints hold both).

With observed ``x`` (``model(x)``) the data only fix the plate size: an implicit site cannot
score data (there is no ``log p(x)``), so no likelihood term is added and the returned value
is a draw of ``G(z)``; likelihood-based metrics do not apply (``nll_nats`` is null for a GAN).
The guide is the prior over ``z``: an implicit model has no encoder.

``default_loss()`` is GAN-DP (non-saturating + γ/2·E_data‖∇D‖², γ = 10; Roth et al. 2017 /
R1 of Mescheder et al. 2018): locally convergent where the plain GAN is not, and the most
robust method in the 1-D stability study.
"""
import pyro
import pyro.distributions as dist
import torch

from ..errors import PyprogenError
from ..nn.conv import _STAGES
from ..nn.dcgan import DCGANCritic, DCGANGenerator, MLPCritic, MLPGenerator
from .base import GenerativeModel
from .registry import register_model

NETS = ("auto", "mlp", "conv")


def is_conv_shape(data_shape):
    return len(data_shape) == 3 and data_shape[1] == data_shape[2] and data_shape[1] in _STAGES


def default_gan_nets(data_shape, latent_dim, net, hidden, width):
    """(generator, critic): DCGAN convs for (C, S, S) images with S in {28, 32, 64}, MLPs otherwise."""
    if net not in NETS:
        raise PyprogenError(f"net: expected one of {NETS}, got {net!r}")
    if net == "auto":
        net = "conv" if is_conv_shape(data_shape) else "mlp"
    if net == "conv":
        return DCGANGenerator(latent_dim, data_shape, width), DCGANCritic(data_shape, width)
    return MLPGenerator(latent_dim, data_shape, hidden), MLPCritic(data_shape, hidden)


class GAN(GenerativeModel):
    """Generator G as a Pyro model, critic D attached (``critic_site = "x"``: the critic reads data).

    :param data_shape: shape of one data point: ``(2,)`` for the 2-D mixtures, ``(1, 28, 28)`` for MNIST.
    :param latent_dim: size of ``z`` (default 64).
    :param generator: optional module ``z (n, latent_dim) -> x (n, *data_shape)``.
    :param critic: optional module ``x (n, *data_shape) -> scores (n,)`` or ``(n, 1)`` (logits / raw scores).
    :param net: ``"auto"`` (conv for 28/32/64 square images, MLP otherwise), ``"mlp"`` or ``"conv"``.
    :param hidden: MLP hidden widths (default two layers of 128).
    :param width: base channel count of the DCGAN nets (default 32).
    """

    def __init__(self, data_shape, *, latent_dim=64, generator=None, critic=None, net="auto", hidden=(128, 128),
                 width=32):
        super().__init__(data_shape, latent_dim)
        if not (isinstance(latent_dim, int) and latent_dim > 0):
            raise PyprogenError(f"latent_dim: expected a positive integer, got {latent_dim!r}")
        if generator is None or critic is None:
            gen, crit = default_gan_nets(self.data_shape, latent_dim, net, tuple(hidden), width)
            generator, critic = generator or gen, critic or crit
        self.generator = generator
        self.critic = critic

    critic_site = "x"

    def prior(self, n):
        return dist.Normal(torch.zeros(n, self.latent_dim, device=self.device), 1.0).to_event(1)

    def model(self, x=None, n=None):
        """z ~ N(0, I); x = G(z) as a deterministic site. Observed ``x`` only sets the plate size."""
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            z = pyro.sample("z", self.prior(n))
            return pyro.deterministic("x", self.generator(z), event_dim=len(self.data_shape))

    def guide(self, x=None, n=None):
        """The prior over ``z`` (an implicit model has no encoder)."""
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            return pyro.sample("z", self.prior(n))

    def default_loss(self):
        from ..infer.adversarial_loss import adversarial_loss

        return adversarial_loss("gan-dp")

    @torch.no_grad()
    def generate(self, z):
        """``G(z)`` for given latents (for interpolations)."""
        return self.generator(z)

    @property
    def num_parameters(self):
        return {"generator": sum(p.numel() for p in self.generator.parameters()),
                "critic": sum(p.numel() for p in self.critic.parameters())}


@register_model("gan")
def _build_gan(data_shape, **kw):
    return GAN(data_shape, **kw)
