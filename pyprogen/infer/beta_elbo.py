"""β-ELBO (Higgins et al. 2017, eq. 4):

    L_β = E_q[log p(x|z)] − β · KL(q(z|x) || p(z))

For any Pyro model/guide pair the Monte-Carlo ELBO is log p(x|z) + [log p(z) − log q(z|x)]; the
bracket holds exactly the *unobserved* sample sites. :class:`BetaELBO` therefore runs model and
guide under :class:`LatentScale`, a messenger that multiplies ``msg["scale"]`` by β on every
unobserved sample site (in both traces), and otherwise is :class:`pyro.infer.Trace_ELBO`:
Rao–Blackwellised score-function terms, ``num_particles`` and ``vectorize_particles`` work unchanged.
Unlike ``poutine.scale`` the messenger accepts β = 0 (plain autoencoder with a stochastic encoder).
"""
import math

from pyro.infer import Trace_ELBO
from pyro.poutine.messenger import Messenger

from ..errors import PyprogenError
from .registry import register_estimator


class LatentScale(Messenger):
    """Multiply the scale of every unobserved sample site by ``factor`` (any finite number >= 0)."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def _process_message(self, msg):
        if msg["type"] == "sample" and not msg["is_observed"]:
            msg["scale"] = self.factor * msg["scale"]


def check_weight(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PyprogenError(f"{name}: expected a finite number >= 0, got {value!r}")
    return float(value)


class BetaELBO(Trace_ELBO):
    """Trace_ELBO with the latent (KL) part weighted by ``beta``; ``BetaELBO(1)`` is ``Trace_ELBO``.

    :param beta: weight β >= 0 of KL(q(z|x) || p(z)).
    Other keywords (``num_particles``, ``vectorize_particles``, ...) go to :class:`~pyro.infer.Trace_ELBO`.
    """

    def __init__(self, beta=1.0, num_particles=1, **kwargs):
        super().__init__(num_particles=num_particles, **kwargs)
        self.beta = check_weight(beta, "beta")

    def _get_trace(self, model, guide, args, kwargs):
        if self.beta == 1.0:
            return super()._get_trace(model, guide, args, kwargs)
        scaled = LatentScale(self.beta)
        return super()._get_trace(scaled(model), scaled(guide), args, kwargs)


@register_estimator("beta")
def _beta(model, **kw):
    """β-VAE ELBO (Higgins et al. 2017); β from the model (BetaVAE) unless given."""
    return BetaELBO(kw.pop("beta", getattr(model, "beta", 1.0)), **kw)
