"""The semi-supervised M2 model (Kingma, Rezende, Mohamed & Welling 2014, "Semi-supervised Learning with
Deep Generative Models", sec. 2.2 and 3.1.2) in Pyro.

Generative model as the conditional VAE, p(y) p(z) p(x | y, z); the guide adds a classifier,

    q(y | x) = Cat(π(x)),   q(z | x, y) = N(μ(x, y), diag σ²(x, y))             (eq. 4)

and the label is a *discrete latent* when it is missing. Labelled points give the bound L(x, y) (eq. 6);
for unlabelled points y is summed out exactly by **parallel enumeration** in the guide
(``pyro.infer.config_enumerate`` + ``TraceEnum_ELBO``), which computes (eq. 7)

    U(x) = Σ_y q(y|x) L(x, y) + H(q(y|x)).

Training adds the classification loss on labelled data (eq. 9):
J^α = Σ_l L(x, y) + Σ_u U(x) + α · E_l[−log q(y|x)]. Here each step takes a minibatch of unlabelled and
one of labelled points and minimises mean_u(−U) + mean_l(−L) + α · mean_l(−log q(y|x)) with one Adam;
α is per labelled point relative to the labelled bound (the paper's α = 0.1·N on sums).

Data interface: ``model(x, y=None)``/``guide(x, y=None)``; ``y=None`` means unlabelled, and within one
minibatch a label of ``MISSING`` (−1) marks an unlabelled point, so one batch may mix both — this is how
``fit(model, x, labels=y)`` and ``pyprogen train m2 --labels N`` train it. In a mixed batch the guide's
``"y"`` is q(y|x) on unlabelled rows and a point mass on the label of labelled rows (logits −1e4 elsewhere:
their probability is exactly 0 in float32), and the model's ``"y"`` is latent; enumeration then gives
U(x) on unlabelled rows and L(x, y) on labelled ones, exactly (tested against the two separate bounds).
The classification term α · (−log q(y|x)) is part of the model (site ``"y_class"``, masked to the labelled
rows, scaled by α), so any ELBO that trains the model trains the classifier too. :func:`fit_labelled`
is the paper's loop with separate labelled and unlabelled minibatches. ``classify(x)`` returns
argmax_y q(y|x).
"""
import math
import time

import pyro
import pyro.distributions as dist
import torch
from pyro.infer import Trace_ELBO, TraceEnum_ELBO, config_enumerate
from torch import nn
from torch.nn import functional as F

from ..data.semi_supervised import MISSING  # the label of an unlabelled point in a mixed minibatch
from ..errors import PyprogenError, expect
from ..nn import mlp
from .conditional_vae import ACTIVATIONS, ConditionalVAE
from .registry import register_model


#: logit of the labels a labelled row's point mass excludes (exp(-1e4) == 0 in float32)
EXCLUDED = -1e4


class M2(ConditionalVAE):
    """M2: the conditional VAE plus q(y|x), the label enumerated when missing.

    :param alpha: weight α of the classification loss (per labelled point, see module docstring); the
        default 50 is about the weight of Pyro's SS-VAE example (``aux_loss_multiplier=46``).
    :param classifier: the net of q(y|x): ``"mlp"`` (the paper's, ``hidden`` widths), ``"conv"`` (two 3x3
        conv + max-pool stages of 32 and 64 channels, a 128-unit layer with dropout 0.5; (C, H, W) images with
        H, W divisible by 4) or ``"auto"`` (the default: ``"conv"`` for such images of at least 16x16, else
        ``"mlp"``; on MNIST with 3,000 labels the conv q(y|x) errs 3.4 % against the MLP's 13.1 % at the same
        CPU budget, docs/results/m2_mnist.json). q(z|x, y) and p(x|y, z) stay MLPs.
    Other keywords as :class:`~pyprogen.models.conditional_vae.ConditionalVAE`.
    """

    def __init__(self, data_shape, *, alpha=50.0, classifier="auto", hidden=(500,), activation="softplus", **kw):
        super().__init__(data_shape, hidden=hidden, activation=activation, **kw)
        expect(isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and math.isfinite(alpha) and alpha >= 0,
               "alpha", "a finite number >= 0", repr(alpha))
        expect(classifier in ("mlp", "conv", "auto"), "classifier", "'mlp', 'conv' or 'auto'", repr(classifier))
        if classifier == "auto":
            shape = self.data_shape
            images = len(shape) == 3 and shape[1] >= 16 and shape[2] >= 16 and shape[1] % 4 == 0 and shape[2] % 4 == 0
            classifier = "conv" if images else "mlp"
        self.alpha, self.classifier_kind = float(alpha), classifier
        from .vae import as_pyro_module

        if classifier == "mlp":
            net = nn.Sequential(nn.Flatten(), mlp([math.prod(self.data_shape), *hidden, self.num_classes],
                                                  ACTIVATIONS[activation]))
        else:
            shape = self.data_shape
            expect(len(shape) == 3 and shape[1] % 4 == 0 and shape[2] % 4 == 0, "data_shape",
                   "(C, H, W) with H and W divisible by 4 for classifier='conv'", shape)
            net = nn.Sequential(nn.Conv2d(shape[0], 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                nn.Linear(64 * (shape[1] // 4) * (shape[2] // 4), 128), nn.ReLU(), nn.Dropout(0.5),
                                nn.Linear(128, self.num_classes))
        self.classifier = as_pyro_module(net)

    #: labels may be missing (``MISSING``): unlabelled points are summed over
    requires_labels = False

    def class_logits(self, x):
        return self.classifier(x)

    def labels(self, y, n, argument="y"):
        """As the conditional VAE's, but ``MISSING`` (−1) marks an unlabelled point; all missing is ``None``."""
        if y is None:
            return None
        y = torch.as_tensor(y, device=self.device)
        missing = y.reshape(-1) == MISSING
        if bool(missing.all()):
            if y.reshape(-1).shape[0] != n:
                raise PyprogenError(f"{argument}: expected {n} labels (one per data point), got {y.numel()}")
            return None
        checked = super().labels(torch.where(missing, torch.zeros_like(y.reshape(-1)), y.reshape(-1)), n, argument)
        return torch.where(missing, torch.full_like(checked, MISSING), checked)

    def label_site(self, n, y):
        """``"y"`` observed when every label is given; latent (enumerated by the guide) when some are missing."""
        if y is not None and bool((y == MISSING).any()):
            return pyro.sample("y", self.label_prior(n))
        return super().label_site(n, y)

    def label_terms(self, x, y):
        """α · log q(y|x) at the observed site ``"y_class"`` on the labelled rows (Kingma et al. eq. 9)."""
        if x is None or y is None or self.alpha == 0:
            return
        known = y != MISSING
        with pyro.poutine.scale(scale=self.alpha), pyro.poutine.mask(mask=known):
            pyro.sample("y_class", dist.Categorical(logits=self.class_logits(x)), obs=y.clamp(min=0))

    def guide_label(self, x, y):
        """q(y|x) (enumerated) where the label is missing, a point mass on the label where it is given."""
        if y is None:
            return self.missing_label(x)
        known = y != MISSING
        if bool(known.all()):
            return y
        point = torch.full((len(y), self.num_classes), EXCLUDED, device=y.device).scatter(
            -1, y.clamp(min=0)[:, None], 0.0)
        logits = torch.where(known[:, None], point, self.class_logits(x))
        return pyro.sample("y", dist.Categorical(logits=logits))

    def missing_label(self, x):
        """y ~ q(y|x), enumerated in parallel by TraceEnum_ELBO (marked by ``config_enumerate`` on the guide)."""
        return pyro.sample("y", dist.Categorical(logits=self.class_logits(x)))

    @config_enumerate
    def guide(self, x=None, y=None, n=None):
        """q(y|x) q(z|x,y) for unlabelled points, q(z|x,y) for labelled ones; the prior without data."""
        return super().guide(x, y, n)

    def classify_model(self, x, y):
        """The classification term alone as a Pyro model: α · log q(y|x) at an observed site ``"y_class"``
        (:meth:`model` includes it for labelled data)."""
        n = self.batch_size(x, None)
        y = self.labels(y, n)
        with pyro.plate("data", n), pyro.poutine.scale(scale=self.alpha):
            pyro.sample("y_class", dist.Categorical(logits=self.class_logits(x)), obs=y)

    def classify_guide(self, x, y):
        """Empty: the classification term has no latents."""

    def default_loss(self):
        return TraceEnum_ELBO(max_plate_nesting=1)

    @torch.no_grad()
    def classify(self, x, batch_size=1000):
        """argmax_y q(y|x), shape ``(N,)``."""
        return torch.cat([self.class_logits(x[i:i + batch_size]).argmax(-1) for i in range(0, len(x), batch_size)])


@register_model("m2", help='Semi-supervised M2 (Kingma et al. 2014): label as an enumerated discrete latent.')
def _build_m2(data_shape, **kw):
    return M2(data_shape, **kw)


def _loader(n, batch_size, gen):
    """Endless minibatches of indices 0..n−1, reshuffled each pass (a batch never exceeds n)."""
    size = min(batch_size, n)
    while True:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - size + 1, size):
            yield perm[i:i + size]


def fit_labelled(model, x, y, *, labelled=None, steps=1000, batch_size=100, labelled_batch_size=100, lr=3e-4,
                 seed=0, cpu_seconds=None, callback=None, callback_every=500):
    """Train a :class:`ConditionalVAE` or :class:`M2` on ``x`` with labels ``y`` where ``labelled`` is True.

    Each step: a minibatch of unlabelled points (−U(x) by ``TraceEnum_ELBO``), a minibatch of labelled
    points (−L(x, y), plus for M2 the α-weighted classification loss), their per-point means summed, one
    Adam step over the model's parameters. The conditional VAE needs ``labelled`` all True.

    :param labelled: boolean mask ``(N,)``; None means every point is labelled.
    :param steps: number of steps; ``cpu_seconds`` stops earlier once this process has used that much CPU.
    :param callback: ``callback(step, model)`` every ``callback_every`` steps (e.g. a test accuracy).
    :returns: a list of per-step dicts ``{"step", "unlabelled", "labelled", "classify"}`` (per-point losses;
        ``labelled`` includes M2's α-weighted classification term, ``classify`` is its cross-entropy alone).
    """
    x = torch.as_tensor(x).float()
    n = x.shape[0]
    y = model.labels(y, n) if y is not None else torch.zeros(n, dtype=torch.long)
    labelled = torch.ones(n, dtype=torch.bool) if labelled is None else torch.as_tensor(labelled, dtype=torch.bool)
    expect(labelled.shape == (n,), "labelled", f"a boolean mask of length {n}", tuple(labelled.shape))
    is_m2 = isinstance(model, M2)
    if not is_m2 and not bool(labelled.all()):
        raise PyprogenError("labelled: the conditional VAE needs every point labelled (use the m2 model)")
    expect(isinstance(steps, int) and steps >= 1, "steps", "a positive integer", repr(steps))
    lab_idx, unl_idx = labelled.nonzero().reshape(-1), (~labelled).nonzero().reshape(-1)
    gen = torch.Generator().manual_seed(int(seed))
    pyro.set_rng_seed(seed)
    pyro.clear_param_store()
    elbo, labelled_elbo = TraceEnum_ELBO(max_plate_nesting=1), Trace_ELBO()
    optim = torch.optim.Adam(model.parameters(), lr=lr)
    lab_batches = _loader(len(lab_idx), labelled_batch_size, gen) if len(lab_idx) else None
    unl_batches = _loader(len(unl_idx), batch_size, gen) if len(unl_idx) else None
    history, cpu0 = [], time.process_time()
    model.train()
    for step in range(1, steps + 1):
        optim.zero_grad()
        loss, entry = 0.0, {"step": step}
        if unl_batches is not None:
            xb = x[unl_idx[next(unl_batches)]]
            u = elbo.differentiable_loss(model.model, model.guide, xb) / len(xb)
            loss, entry["unlabelled"] = loss + u, float(u.detach())
        if lab_batches is not None:
            idx = lab_idx[next(lab_batches)]
            # for M2 this includes the α-weighted classification term (the model's "y_class" site)
            lab = labelled_elbo.differentiable_loss(model.model, model.guide, x[idx], y[idx]) / len(idx)
            loss, entry["labelled"] = loss + lab, float(lab.detach())
            if is_m2 and model.alpha > 0:
                with torch.no_grad(), torch.random.fork_rng(devices=[]):  # reported only: no RNG consumed
                    entry["classify"] = float(F.cross_entropy(model.class_logits(x[idx]), y[idx]))
        loss.backward()
        optim.step()
        history.append(entry)
        if callback is not None and step % callback_every == 0:
            callback(step, model)
        if cpu_seconds is not None and time.process_time() - cpu0 >= cpu_seconds:
            break
    model.eval()
    return history
