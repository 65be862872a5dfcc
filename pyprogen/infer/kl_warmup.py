"""KL warm-up (Bowman et al. 2016, §3.1; Sønderby et al. 2016, §2.3): the KL term's weight rises
linearly from 0 to 1 over the first ``steps`` updates,

    L_t = E_q[log p(x|z)] − β_t · KL(q(z|x) || p(z)),   β_t = min(1, t / steps),

``t`` the number of updates made before this one (``t = 0``: β = 0; from ``t = steps`` on: β = 1).

:class:`KLWarmup` wraps any estimator. Given ``β_t < 1`` it runs the wrapped loss under
:class:`~pyprogen.infer.beta_elbo.LatentScale` (β on every unobserved site of model and guide:
for a β-ELBO the weight becomes β·β_t; a compiled loss runs uncompiled while the handler is on);
from ``β_t = 1`` on it is the wrapped loss itself. ``t`` comes from a clock that ``fit`` binds
(``bind``): the update count the model's optimiser keeps in its own state, so a resumed run
continues the warm-up exactly with no state of its own. ``evaluate_loss``/``loss`` (test loss) is
the wrapped objective at β = 1.
"""
import numbers

from pyro.infer import ELBO

from ..errors import PyprogenError
from .adversarial_loss import AdversarialLoss
from .beta_elbo import LatentScale
from .free_bits import with_free_bits


def warmup_coefficient(t, steps):
    """``β_t = min(1, t / steps)`` (1 for ``steps = 0``)."""
    return 1.0 if steps == 0 else min(1.0, t / steps)


def check_steps(steps, argument="kl_warmup"):
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise PyprogenError(f"{argument}: expected a number of updates >= 0, got {steps!r}")
    return int(steps)


class KLWarmup(ELBO):
    """``KLWarmup(loss, steps)``: ``loss`` with its latent (KL) part weighted by ``min(1, t / steps)``."""

    def __init__(self, loss, steps):
        super().__init__(num_particles=getattr(loss, "num_particles", 1))
        self.base, self.steps = loss, check_steps(steps)
        self.clock = None

    def bind(self, clock):
        """``clock()`` returns ``t``, the updates made so far (``fit`` binds the model optimiser's count)."""
        self.clock = clock

    @property
    def coefficient(self):
        """β for the next update (1 when no clock is bound: evaluation outside ``fit``)."""
        return 1.0 if self.clock is None else warmup_coefficient(self.clock(), self.steps)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        beta = self.coefficient
        loss = getattr(self.base, "differentiable_loss", self.base)
        if beta == 1.0:
            return loss(model, guide, *args, **kwargs)
        with LatentScale(beta):
            return loss(model, guide, *args, **kwargs)

    def loss(self, model, guide, *args, **kwargs):
        loss = getattr(self.base, "loss", self.base)
        return loss(model, guide, *args, **kwargs)

    def _get_trace(self, model, guide, args, kwargs):  # pragma: no cover - traces are the wrapped loss's
        raise NotImplementedError("KLWarmup delegates to the loss it wraps")

    def loss_and_grads(self, model, guide, *args, **kwargs):  # pyro.infer.SVI's entry point
        loss = self.differentiable_loss(model, guide, *args, **kwargs)
        loss.backward()
        return float(loss.detach())


def with_kl_options(loss, *, kl_warmup=None, free_bits=None):
    """``fit``'s KL options on its resolved ``loss``: ``free_bits`` (λ nats per latent dimension, see
    free_bits.py) replaces an ELBO or β-ELBO by a :class:`FreeBitsELBO`; ``kl_warmup`` (updates)
    wraps the result in :class:`KLWarmup`. Neither given: ``loss`` as it is."""
    if kl_warmup is None and free_bits is None:
        return loss
    if isinstance(loss, AdversarialLoss) or not callable(getattr(loss, "differentiable_loss", loss)):
        raise PyprogenError(f"kl_warmup/free_bits: apply to an ELBO, not to the adversarial loss "
                            f"{getattr(loss, 'name', None) or type(loss).__name__!r}")
    if free_bits is not None:
        loss = with_free_bits(loss, free_bits)
    if kl_warmup is not None and check_steps(kl_warmup) > 0:
        loss = KLWarmup(loss, kl_warmup)
    return loss
