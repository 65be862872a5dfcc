"""Amortised guides q(z|x) for the VAE family: the diagonal Gaussian and normalising flows on top of it.

Every guide starts from the encoder's diagonal Gaussian q_0(z_0|x) = N(μ(x), diag σ(x)²) and pushes its
sample through T invertible steps, z_T = f_T ∘ … ∘ f_1(z_0), so that (Rezende & Mohamed 2015, eq. 6)

    log q_T(z_T|x) = log q_0(z_0|x) − Σ_t log |det ∂f_t/∂z_{t−1}|.

The distribution is a :class:`pyro.distributions.TransformedDistribution`, which caches each step's
input for its own samples, so ``log_prob`` of a guide sample is exact (no inversion needed) and any
trace-based estimator (Trace_ELBO, IWAE, the importance weights) works unchanged. The steps are Pyro's
conditional transforms, conditioned on a context vector h(x) so the flow is amortised:

- ``"iaf"``: inverse autoregressive flow (Kingma et al. 2016, eq. 10–14 and Algorithm 1):
  [m_t, s_t] = AutoregressiveNN_t(z_{t−1}, h), σ_t = sigmoid(s_t), z_t = σ_t ⊙ z_{t−1} + (1 − σ_t) ⊙ m_t,
  log|det| = Σ_i log σ_{t,i} (Pyro's ``ConditionalAffineAutoregressive(..., stable=True)``); the variable
  order is reversed between steps, as in the paper.
- ``"planar"``: f(z) = z + û tanh(wᵀz + b) (Rezende & Mohamed 2015, eq. 10–12, with the invertibility
  constraint wᵀû ≥ −1 of their appendix A.1); (u, w, b) = DenseNN(h).
- ``"radial"``: f(z) = z + β h(α, r)(z − z_0), r = |z − z_0|, h = 1/(α + r) (ibid., eq. 14, appendix A.2);
  (z_0, α, β) = DenseNN(h).
- ``"diagonal"``: no steps (Kingma & Welling 2014).

The context h(x) (Kingma et al. 2016, sec. 4: the encoder outputs μ, σ *and* h) is taken from the encoder:
its third output when it returns ``(loc, scale, h)``; else the input of its last ``nn.Linear`` (the
encoder's last hidden layer — 2×200 tanh for the default MLP encoder); else ``[μ, log σ]``.
"""
from functools import partial

import pyro.distributions as dist
import torch
import torch.nn.functional as F
from pyro.distributions.transforms import AffineAutoregressive
from pyro.distributions.transforms.planar import ConditionedPlanar
from pyro.distributions.transforms.radial import ConditionedRadial
from pyro.nn import ConditionalAutoRegressiveNN, DenseNN, PyroModule
from pyro.nn.module import to_pyro_module_
from torch import nn

from ..errors import PyprogenError
from ..registry import Registry

GUIDES = Registry("guide")


def check_flow_length(flow_length):
    if isinstance(flow_length, bool) or not isinstance(flow_length, int) or flow_length < 1:
        raise PyprogenError(f"flow_length: expected a positive integer, got {flow_length!r}")
    return flow_length


class _Planar(ConditionedPlanar):
    """Pyro's planar step with û(u, w) defined at w = 0 (û = u there), so zero weights are the identity.

    Pyro divides by |w|²; this clamps it at 1e-12, which changes nothing for |w| > 1e-6.
    """

    def u_hat(self, u, w):
        alpha = torch.matmul(u.unsqueeze(-2), w.unsqueeze(-1)).squeeze(-1)
        a_prime = -1 + F.softplus(alpha)
        return u + (a_prime - alpha) * w.div(w.pow(2).sum(dim=-1, keepdim=True).clamp_min(1e-12))


class FlowStep(PyroModule):
    """One amortised flow step: a network of the context (a PyroModule, so Pyro's param store and
    ``pyro.infer.SVI`` see its weights) and ``condition(h)``, the Pyro transform for that context.

    (The same as Pyro's ``ConditionalPlanar``/``ConditionalRadial``/``ConditionalAffineAutoregressive``,
    which cannot be made PyroModules themselves.)
    """

    def __init__(self, net):
        super().__init__()
        self.net = net  # made a PyroModule by FlowGuide

    def condition(self, context):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")


class IAFStep(FlowStep):
    """z' = σ ⊙ z + (1 − σ) ⊙ m, [m, s] = AutoregressiveNN(z, h), σ = sigmoid(s + 2) (Kingma et al. 2016, eq. 14)."""

    def condition(self, context):
        arn = partial(self.net, context=context)
        arn.permutation, arn.get_permutation = self.net.permutation, self.net.get_permutation
        return AffineAutoregressive(arn, stable=True)


class PlanarStep(FlowStep):
    """z' = z + û tanh(wᵀz + b), (b, u, w) = net(h) (Rezende & Mohamed 2015, eq. 10)."""

    def condition(self, context):
        return _Planar(partial(self.net, context))


class RadialStep(FlowStep):
    """z' = z + β (z − z_0)/(α + |z − z_0|), (z_0, α', β') = net(h) (Rezende & Mohamed 2015, eq. 14)."""

    def condition(self, context):
        return ConditionedRadial(partial(self.net, context))


def iaf_steps(latent_dim, context_dim, flow_length, hidden):
    """Inverse autoregressive flow (Kingma et al. 2016), variable order reversed between steps."""
    if latent_dim < 2:
        raise PyprogenError(f"latent_dim: the iaf guide needs at least 2 latent dimensions, got {latent_dim}")
    hidden = [max(int(h), latent_dim) for h in hidden]  # masks need hidden widths >= latent_dim
    order = torch.arange(latent_dim)
    return [IAFStep(ConditionalAutoRegressiveNN(latent_dim, context_dim, hidden,
                                                permutation=order if t % 2 == 0 else order.flip(0),
                                                nonlinearity=nn.ReLU()))  # Pyro's default ReLU is one shared module
            for t in range(flow_length)]


def planar_steps(latent_dim, context_dim, flow_length, hidden):
    """Planar flow (Rezende & Mohamed 2015), amortised: (u, w, b) from the context."""
    return [PlanarStep(DenseNN(context_dim, list(hidden), param_dims=[1, latent_dim, latent_dim], nonlinearity=nn.ReLU()))
            for _ in range(flow_length)]


def radial_steps(latent_dim, context_dim, flow_length, hidden):
    """Radial flow (Rezende & Mohamed 2015), amortised: (z_0, α, β) from the context."""
    return [RadialStep(DenseNN(context_dim, list(hidden), param_dims=[latent_dim, 1, 1], nonlinearity=nn.ReLU()))
            for _ in range(flow_length)]


class FlowGuide(PyroModule):
    """q(z|x) = TransformedDistribution(N(μ, diag σ²), [step_t conditioned on h]); no steps: the diagonal Gaussian.

    :param steps: :class:`FlowStep` modules (``.condition(h)`` gives a Pyro transform on ``latent_dim`` vectors).
    """

    def __init__(self, steps=()):
        super().__init__()
        self.steps = nn.ModuleList(steps)
        to_pyro_module_(self.steps)

    @property
    def needs_context(self):
        return len(self.steps) > 0

    def forward(self, loc, scale, context=None):
        base = dist.Normal(loc, scale).to_event(1)
        if not self.needs_context:
            return base
        return dist.TransformedDistribution(base, [step.condition(context) for step in self.steps])


def _diagonal(latent_dim, context_dim, flow_length, hidden):
    """No flow: the encoder's diagonal Gaussian (Kingma & Welling 2014)."""
    return []


for _name, _factory in (("diagonal", _diagonal), ("iaf", iaf_steps), ("planar", planar_steps),
                        ("radial", radial_steps)):
    GUIDES.register(_name)(_factory)


def build_guide(name, latent_dim, context_dim, *, flow_length=2, hidden=None):
    """The :class:`FlowGuide` registered as ``name`` (``diagonal``, ``iaf``, ``planar``, ``radial``)."""
    factory = GUIDES.lookup(name)
    check_flow_length(flow_length)
    hidden = tuple(hidden) if hidden is not None else (max(128, 2 * latent_dim),)
    if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise PyprogenError(f"flow_hidden: expected a non-empty list of positive integers, got {hidden!r}")
    return FlowGuide(factory(latent_dim, context_dim, flow_length, hidden))


class EncoderContext:
    """Reads the context h(x) of an encoder call (see the module docstring for the rule).

    A forward pre-hook on the encoder's last ``nn.Linear`` keeps that layer's latest input; the guide
    reads it right after its own encoder call.
    """

    def __init__(self, encoder):
        linears = [m for m in encoder.modules() if isinstance(m, nn.Linear)]
        self.value = None
        self.hooked = bool(linears)
        if self.hooked:
            linears[-1].register_forward_pre_hook(self._keep)

    def _keep(self, module, inputs):
        self.value = inputs[0]

    def __call__(self, out, loc, scale):
        if len(out) > 2:
            return out[2]
        if self.hooked and self.value is not None and self.value.shape[:-1] == loc.shape[:-1]:
            return self.value
        return torch.cat([loc, scale.log()], -1)


def encoder_outputs(encoder, context, x):
    """``(loc, scale, h)`` of one encoder call on ``x``."""
    out = encoder(x)
    loc, scale = out[0], out[1]
    return loc, scale, context(out, loc, scale)
