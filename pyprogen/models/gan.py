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

``default_loss()`` is GAN-DP (non-saturating + γ/2·E_data‖∇D‖²; Roth et al. 2017 / R1 of
Mescheder et al. 2018): locally convergent where the plain GAN is not, and the most robust
method in the 1-D stability study. γ is the model's ``gamma`` (10 when not given; the per-data-set
recipes of gan_recipes.py set it from the data, :func:`pyprogen.infer.gamma_rule.default_gamma`).

Stabilisers, all options of the model so that ``build``, ``fit`` and the CLI reach them alike:

- ``ema``: decay of an exponential moving average of the generator's weights (0 = off), held as
  the module ``generator_ema`` in the model's ``state_dict`` (checkpoints and resume carry it bit
  for bit) and updated after every generator step (``after_generator_step``, called by
  :class:`~pyprogen.infer.AdversarialSVI`). **In eval mode the model samples from the averaged
  generator**, so ``sample``, ``Predictive``, evaluation, compare and the figures all use it;
  ``fit`` trains in train mode (the raw generator) and leaves the model in eval mode.
- ``critic_lr``: the critic's learning rate (two time-scales, Heusel et al. 2017); ``fit``'s
  ``lr`` is the generator's. ``critic_steps``: critic updates per generator update.
- ``spectral_norm``: spectral normalisation of every critic weight (Miyato et al. 2018).
- ``gamma``: the R1/R2 weight of losses that take one (gan-dp, r2) when named by string.
"""
import inspect
import math

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from ..errors import PyprogenError
from ..nn.conv import _STAGES
from ..nn.dcgan import DCGANCritic, DCGANGenerator, MLPCritic, MLPGenerator, power_iterations, spectral_normalise
from ..nn.ema import EMA, check_decay
from .base import GenerativeModel
from .registry import register_model

NETS = ("auto", "mlp", "conv")


def is_conv_shape(data_shape):
    return len(data_shape) == 3 and data_shape[1] == data_shape[2] and data_shape[1] in _STAGES


def per_net(value, argument, *, minimum):
    """``(generator's, critic's)`` from one integer for both nets or a pair of integers (>= ``minimum``)."""
    pair = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in pair):
        raise PyprogenError(f"{argument}: expected an integer >= {minimum} or a (generator, critic) pair of them, "
                            f"got {value!r}")
    return pair


def default_gan_nets(data_shape, latent_dim, net, hidden, width, activation=None, spectral_norm=False, dense=0):
    """(generator, critic): DCGAN convs for (C, S, S) images with S in {28, 32, 64}, MLPs otherwise.

    ``width``, ``dense`` (conv nets): one integer for both nets or a (generator, critic) pair.
    ``activation`` (MLPs): one name for both nets; ``None`` keeps ReLU in G and LeakyReLU(0.2) in D."""
    if net not in NETS:
        raise PyprogenError(f"net: expected one of {NETS}, got {net!r}")
    if net == "auto":
        net = "conv" if is_conv_shape(data_shape) else "mlp"
    (g_width, c_width), (g_dense, c_dense) = per_net(width, "width", minimum=1), per_net(dense, "dense", minimum=0)
    if net == "conv":
        return (DCGANGenerator(latent_dim, data_shape, g_width, dense=g_dense),
                DCGANCritic(data_shape, c_width, spectral_norm, dense=c_dense))
    return (MLPGenerator(latent_dim, data_shape, hidden, activation or "relu"),
            MLPCritic(data_shape, hidden, activation or "leaky_relu", spectral_norm))


class _Scaled(nn.Module):
    """A net in standardised units, used in data units: ``out = loc + scale · net(in)`` for the
    generator (``inverse=False``), ``net((in − loc) / scale)`` for the critic."""

    def __init__(self, net, loc, scale, data_shape, inverse):
        super().__init__()
        self.net, self.inverse = net, inverse
        self.register_buffer("loc", torch.as_tensor(loc, dtype=torch.float32).reshape(data_shape)
                             if not isinstance(loc, (int, float)) else torch.full(data_shape, float(loc)))
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, x):
        if self.inverse:
            return self.net((x - self.loc) / self.scale)
        return self.loc + self.scale * self.net(x)


def data_standardisation(x):
    """``{"data_loc": [...], "data_scale": s}`` for data ``x`` (N, ...): the per-dimension mean and the
    root mean per-dimension variance (one scale for all dimensions, so the geometry is kept)."""
    x = torch.as_tensor(x).reshape(len(x), -1).double()
    return {"data_loc": [round(float(v), 6) for v in x.mean(0)],
            "data_scale": round(float(x.var(0, unbiased=False).mean().sqrt()), 6)}


def _optional_number(value, argument, *, positive):
    """None, or a finite number > 0 (``positive``) / >= 0; else one line naming ``argument``."""
    if value is None:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise PyprogenError(f"{argument}: expected a finite number {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


class GAN(GenerativeModel):
    """Generator G as a Pyro model, critic D attached (``critic_site = "x"``: the critic reads data).

    :param data_shape: shape of one data point: ``(2,)`` for the 2-D mixtures, ``(1, 28, 28)`` for MNIST.
    :param latent_dim: size of ``z`` (default 64).
    :param generator: optional module ``z (n, latent_dim) -> x (n, *data_shape)``.
    :param critic: optional module ``x (n, *data_shape) -> scores (n,)`` or ``(n, 1)`` (logits / raw scores).
    :param net: ``"auto"`` (conv for 28/32/64 square images, MLP otherwise), ``"mlp"`` or ``"conv"``.
    :param hidden: MLP hidden widths (default two layers of 128).
    :param width: base channel count of the DCGAN nets (default 32), or a (generator, critic) pair.
    :param dense: units of a fully connected hidden layer at the low-resolution end of the DCGAN nets
        (0: none, the default; an integer for both or a (generator, critic) pair; see nn/dcgan.py).
    :param activation: MLP activation of both nets (``"relu"``, ``"leaky_relu"``, ...; default ReLU in G,
        LeakyReLU(0.2) in D).
    :param spectral_norm: spectrally normalise the critic (``True``, or a number of power iterations).
    :param ema: generator EMA decay in [0, 1) (0: off); ``ema_start``: generator steps before averaging.
    :param critic_lr: the critic's learning rate (default: ``fit``'s ``lr``, as the generator's).
    :param critic_steps: critic updates per generator update (default: the loss's own).
    :param gamma: R1/R2 weight for the default loss and for losses named by string (default 10).
    :param data_loc: with ``data_scale``: both nets work in standardised units, ``(x − loc)/scale``
        (the generator's output is mapped back, the critic's input mapped in; γ stays in data units).
        ``loc`` is a number or one number per data dimension; see :func:`data_standardisation`.
    :param data_scale: a number > 0 (default: none, the nets see data units).
    """

    def __init__(self, data_shape, *, latent_dim=64, generator=None, critic=None, net="auto", hidden=(128, 128),
                 width=32, activation=None, spectral_norm=False, ema=0.0, ema_start=0, critic_lr=None,
                 critic_steps=None, gamma=None, data_loc=None, data_scale=None, dense=0):
        super().__init__(data_shape, latent_dim)
        if not (isinstance(latent_dim, int) and latent_dim > 0):
            raise PyprogenError(f"latent_dim: expected a positive integer, got {latent_dim!r}")
        self.ema = check_decay(ema, "ema")
        self.critic_lr = _optional_number(critic_lr, "critic_lr", positive=True)
        self.gamma = _optional_number(gamma, "gamma", positive=False)
        if critic_steps is not None and (isinstance(critic_steps, bool) or not isinstance(critic_steps, int)
                                         or critic_steps < 1):
            raise PyprogenError(f"critic_steps: expected a positive integer, got {critic_steps!r}")
        self.critic_steps = critic_steps
        sn = power_iterations(spectral_norm)
        if critic is not None and sn:
            spectral_normalise(critic, "critic", n_power_iterations=sn)  # a user's critic (one line if no weights)
        if generator is None or critic is None:
            gen, crit = default_gan_nets(self.data_shape, latent_dim, net, tuple(hidden), width, activation,
                                         sn if critic is None else False, dense)
            generator, critic = generator or gen, critic or crit
        scale = _optional_number(data_scale, "data_scale", positive=True)
        if scale is not None:
            loc = 0.0 if data_loc is None else data_loc
            n = math.prod(self.data_shape)
            ok = isinstance(loc, (int, float)) or (isinstance(loc, (list, tuple)) and len(loc) == n)
            if not ok or not bool(torch.isfinite(torch.as_tensor(loc, dtype=torch.float64)).all()):
                raise PyprogenError(f"data_loc: expected a finite number or {n} finite numbers, got {loc!r}")
            generator = _Scaled(generator, loc, scale, self.data_shape, inverse=False)
            critic = _Scaled(critic, loc, scale, self.data_shape, inverse=True)
        elif data_loc is not None:
            raise PyprogenError("data_loc: needs data_scale as well")
        self.generator = generator
        self.critic = critic
        if self.ema > 0:
            self.generator_ema = EMA(generator, self.ema, ema_start)
        elif not (isinstance(ema_start, int) and not isinstance(ema_start, bool) and ema_start >= 0):
            raise PyprogenError(f"ema_start: expected an integer >= 0, got {ema_start!r}")

    critic_site = "x"

    @property
    def sampling_generator(self):
        """The network ``model`` draws from: the EMA copy in eval mode (when on), else the generator."""
        return self.generator_ema if self.ema > 0 and not self.training else self.generator

    def after_generator_step(self):
        """Called by the adversarial step after each generator update: one EMA update (when on)."""
        if self.ema > 0:
            self.generator_ema.update(self.generator)

    def loss_kwargs(self, name):
        """Keywords the model passes to the adversarial loss ``name`` built from a string: ``gamma``
        for the losses that take one (gan-dp, r2), when the model has one."""
        from ..infer.adversarial_loss import ADVERSARIAL_LOSSES

        takes = inspect.signature(ADVERSARIAL_LOSSES.lookup(name)).parameters
        return {"gamma": self.gamma} if self.gamma is not None and "gamma" in takes else {}

    def prior(self, n):
        return dist.Normal(torch.zeros(n, self.latent_dim, device=self.device), 1.0).to_event(1)

    def model(self, x=None, n=None):
        """z ~ N(0, I); x = G(z) as a deterministic site. Observed ``x`` only sets the plate size."""
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            z = pyro.sample("z", self.prior(n))
            return pyro.deterministic("x", self.sampling_generator(z), event_dim=len(self.data_shape))

    def guide(self, x=None, n=None):
        """The prior over ``z`` (an implicit model has no encoder)."""
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            return pyro.sample("z", self.prior(n))

    def default_loss(self):
        from ..infer.adversarial_loss import adversarial_loss

        return adversarial_loss("gan-dp", **self.loss_kwargs("gan-dp"))

    @torch.no_grad()
    def generate(self, z):
        """``G(z)`` for given latents (for interpolations): the EMA generator in eval mode."""
        return self.sampling_generator(z)

    @property
    def num_parameters(self):
        return {"generator": sum(p.numel() for p in self.generator.parameters()),
                "critic": sum(p.numel() for p in self.critic.parameters())}


@register_model("gan", help='GAN (Goodfellow et al. 2014) as an implicit Pyro model; critic on x.')
def _build_gan(data_shape, **kw):
    return GAN(data_shape, **kw)
