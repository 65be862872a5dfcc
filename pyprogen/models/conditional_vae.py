"""Conditional VAE p(x | y, z) (Kingma, Rezende, Mohamed & Welling 2014, "Semi-supervised Learning with
Deep Generative Models", eq. 2; Sohn, Lee & Yan 2015) as a Pyro model/guide pair:

    p(y) = Cat(1/K),   p(z) = N(0, I),   p(x | y, z) = likelihood(decoder([z, onehot(y)])),
    q(z | x, y) = N(μ([x, onehot(y)]), diag σ²([x, onehot(y)])).

Sites, all in ``plate("data")``: ``"y"`` (the label, observed when given), ``"z"`` and ``"x"``. With labels
the ELBO is the labelled bound L(x, y) = E_q[log p(x|y,z) + log p(y) + log p(z) − log q(z|x,y)] (Kingma
et al. 2014, eq. 6). ``model(n=n)`` draws y uniformly, ``sample(n, label=y)`` draws class-conditional
images. The conditional VAE needs a label whenever it sees data; :class:`~pyprogen.models.m2.M2`
adds q(y|x) so that the label may be missing.

Labels travel as a second argument, ``model(x, y)``, as in Pyro's SS-VAE example: ``fit(model, x, labels=y)``
and ``pyprogen train cvae --data mnist`` pass them with every minibatch (:func:`pyprogen.models.m2.fit_labelled`
is the paper-style loop with separate labelled/unlabelled minibatches). Training needs a label for every point
(``requires_labels``: ``fit`` refuses a conditional VAE without ``labels=``). Given data but no label, the guide
proposes y ~ p(y): an importance proposal, so ``log_likelihood(model.model, model.guide, x)`` estimates the
marginal log p(x) = log Σ_y p(y) p(x | y) that ``evaluate`` compares across models.
"""
import math

import pyro
import pyro.distributions as dist
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import PyprogenError, expect
from ..nn import MLPDecoder, MLPEncoder
from .base import GenerativeModel
from .likelihoods import build_likelihood
from .registry import register_model
from .vae import as_pyro_module

ACTIVATIONS = {"softplus": nn.Softplus, "tanh": nn.Tanh, "relu": nn.ReLU}


def with_onehot(a, y, num_classes):
    """``[a, onehot(y)]`` along the last dimension, broadcasting the batch dims (y may be enumerated)."""
    onehot = F.one_hot(y.long(), num_classes).to(a.dtype)
    shape = torch.broadcast_shapes(a.shape[:-1], onehot.shape[:-1])
    return torch.cat([a.expand(*shape, a.shape[-1]), onehot.expand(*shape, num_classes)], -1)


class ConditionalVAE(GenerativeModel):
    """Conditional VAE with MLP nets (Kingma et al. 2014's M2 sizes: one hidden layer of 500, softplus, 50 latents).

    :param data_shape: shape of one data point, e.g. ``(1, 28, 28)``.
    :param num_classes: K, the number of labels (10).
    :param latent_dim: size of ``z`` (50).
    :param likelihood: ``"bernoulli"`` (0/1 data) or ``"gaussian"``.
    :param hidden: hidden widths of every MLP ((500,)); ``activation``: ``"softplus"`` | ``"tanh"`` | ``"relu"``.
    """

    #: ``fit`` refuses to train it without ``labels=`` (M2 accepts missing ones)
    requires_labels = True

    def __init__(self, data_shape, *, num_classes=10, latent_dim=50, likelihood="bernoulli", hidden=(500,),
                 activation="softplus"):
        super().__init__(data_shape, latent_dim)
        expect(isinstance(latent_dim, int) and not isinstance(latent_dim, bool) and latent_dim > 0, "latent_dim",
               "a positive integer", repr(latent_dim))
        expect(isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes >= 2,
               "num_classes", "an integer >= 2", repr(num_classes))
        expect(activation in ACTIVATIONS, "activation", f"one of {sorted(ACTIVATIONS)}", repr(activation))
        expect(likelihood in ("bernoulli", "gaussian"), "likelihood", "'bernoulli' or 'gaussian'", repr(likelihood))
        self.num_classes = num_classes
        self.likelihood = build_likelihood(likelihood, self.data_shape)
        size, act, hidden = math.prod(self.data_shape), ACTIVATIONS[activation], tuple(hidden)
        self.encoder = as_pyro_module(MLPEncoder((size + num_classes,), latent_dim, hidden, act))
        self.decoder = as_pyro_module(MLPDecoder(latent_dim + num_classes,
                                                 self.likelihood.params_per_value * size, hidden, act))

    # -- helpers --------------------------------------------------------------------------
    def labels(self, y, n, argument="y"):
        """``y`` as a long tensor ``(n,)`` with values in 0..K−1, or None; PyprogenError otherwise."""
        if y is None:
            return None
        y = torch.as_tensor(y, device=self.device)
        if y.dtype.is_floating_point and bool((y != y.round()).any()):
            raise PyprogenError(f"{argument}: expected integer labels, got non-integer values")
        y = y.long().reshape(-1)
        if y.shape[0] != n:
            raise PyprogenError(f"{argument}: expected {n} labels (one per data point), got {y.shape[0]}")
        if bool(((y < 0) | (y >= self.num_classes)).any()):
            raise PyprogenError(f"{argument}: expected labels in 0..{self.num_classes - 1}")
        return y

    def flat(self, x):
        return x.reshape(x.shape[0], -1)

    def label_prior(self, n):
        return dist.Categorical(logits=torch.zeros(n, self.num_classes, device=self.device))

    def latent_prior(self, n):
        return dist.Normal(torch.zeros(n, self.latent_dim, device=self.device), 1.0).to_event(1)

    def observation(self, x):
        if x is None:
            return None
        self.likelihood.check(x, "x")
        return self.likelihood.observation(x)

    # -- the contract -----------------------------------------------------------------------
    def model(self, x=None, y=None, n=None):
        """p(y) p(z) p(x | y, z); ``y`` observed when given."""
        n = self.batch_size(x, n)
        y, obs = self.labels(y, n), self.observation(x)
        with pyro.plate("data", n):
            self.label_terms(x, y)  # the labels given (None: none)
            y = self.label_site(n, y)
            z = pyro.sample("z", self.latent_prior(n))
            return pyro.sample("x", self.likelihood.distribution(self.decoder(with_onehot(z, y, self.num_classes))),
                               obs=obs)

    def label_site(self, n, y):
        """The label ``"y"`` ~ p(y), observed when given."""
        return pyro.sample("y", self.label_prior(n), obs=y)

    def label_terms(self, x, y):
        """Extra terms of labelled data (M2: the classification loss); none here."""

    def guide(self, x=None, y=None, n=None):
        """q(z | x, y); with no data the guide is the prior; data without labels: y ~ :meth:`missing_label`."""
        n = self.batch_size(x, n)
        y = self.labels(y, n)
        with pyro.plate("data", n):
            if x is None:
                y = pyro.sample("y", self.label_prior(n), obs=y) if y is None else y
                return pyro.sample("z", self.latent_prior(n))
            y = self.guide_label(x, y)
            loc, scale = self.encoder(with_onehot(self.flat(x), y, self.num_classes))
            return pyro.sample("z", dist.Normal(loc, scale).to_event(1))

    def guide_label(self, x, y):
        """The label q(z | x, y) conditions on: the given one, else :meth:`missing_label`."""
        return self.missing_label(x) if y is None else y

    def missing_label(self, x):
        """No label: propose y ~ p(y) (uniform), an importance proposal for the marginal log p(x)."""
        return pyro.sample("y", self.label_prior(x.shape[0]))

    def default_loss(self):
        from pyro.infer import TraceMeanField_ELBO

        return TraceMeanField_ELBO()

    @torch.no_grad()
    def sample(self, n, *, mean=False, label=None):
        """``n`` images; ``label`` (an int or ``n`` labels) draws from p(x | y = label), else y ~ p(y)."""
        if label is None:
            return super().sample(n, mean=mean)
        if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
            raise PyprogenError(f"n: expected a positive integer, got {n!r}")
        y = self.labels(torch.as_tensor(label).expand(n) if torch.as_tensor(label).dim() == 0 else label, n, "label")
        z = self.latent_prior(n).sample()
        params = self.decoder(with_onehot(z, y, self.num_classes))
        if mean:
            return self.likelihood.mean(params)
        return self.likelihood.to_data(self.likelihood.distribution(params).sample()).float()


@register_model("cvae", help='Conditional VAE p(x | y, z) (Sohn et al. 2015).')
def _build_cvae(data_shape, **kw):
    return ConditionalVAE(data_shape, **kw)
