"""Gradient penalties on a critic, and the batch conventions every adversarial loss shares.

All penalties differentiate ``critic(x).sum()`` with respect to ``x`` with ``create_graph=True``:
the result trains the critic (double backward), and for a *stack* of independent critics
(scores of shape ``(S, batch)``) each network's input gradient stays its own, because the
networks share no inputs. Per-sample norms are taken over the data dimensions; the result is
averaged over the batch dimension and *summed* over any leading network dimensions.

- :func:`gradient_penalty`: λ·E_x̂[(‖∇D(x̂)‖ − 1)²] on random interpolates x̂ = εx + (1−ε)x̃,
  ε ~ U(0, 1) — two-sided, WGAN-GP (Gulrajani et al. 2017, eq. 3).
- :func:`lipschitz_penalty`: λ·E_x̂[max(0, ‖∇D(x̂)‖ − 1)²] — one-sided, WGAN-LP (Petzka et al.
  2018, eq. 8).
- :func:`r1_penalty`: γ/2·E_{p_data}[‖∇D(x)‖²] — R1 of Mescheder et al. 2018 (eq. 9), the
  gradient penalty of Roth et al. 2017 in its simplified form (GAN-DP).
- :func:`r2_penalty`: γ/2·E_{p_θ}[‖∇D(x)‖²] on generated samples (Mescheder et al. 2018, eq. 10).

GAN-DP and R2 (gan_dp.py, r2.py) take the scores and the input gradients of the points they penalise
from one critic pass (:func:`scores_and_input_gradient_sq_norms`); :func:`r1_penalty` and
:func:`r2_penalty` are the same penalties on a pass of their own.

Critic output convention: raw scores/logits of shape ``(..., batch)`` or ``(..., batch, 1)``
(a trailing singleton is dropped by :func:`critic_scores`; a critic that returns ``(..., batch)``
should therefore not be called with ``batch == 1`` on a stack of networks).

The interpolation ε is drawn with ``torch.rand`` (the global RNG) unless a block runs under
:func:`interpolation_noise`, which hands the draw to a function of the caller's — e.g. one
``torch.Generator`` per network of a stack, so a stacked run draws the ε it draws alone.
"""
import contextlib

import torch

_NOISE = []  # the active ε samplers of interpolation_noise blocks, innermost last


def critic_scores(critic, x):
    """``critic(x)`` with a trailing singleton dimension dropped: shape ``(..., batch)``."""
    out = critic(x)
    if out.dim() >= 2 and out.shape[-1] == 1:
        out = out.squeeze(-1)
    return out


def batch_mean(values):
    """Mean over the batch (last) dimension, sum over leading network dimensions -> scalar."""
    return values.mean(-1).sum() if values.dim() > 0 else values


def scores_and_input_gradient_sq_norms(critic, x):
    """``(critic_scores(critic, x), per-sample ‖∇_x D(x)‖²)`` from one critic pass on ``x`` (detached, then
    made to require grad), both of shape ``(..., batch)`` and differentiable in the critic's parameters:
    a loss that also needs the scores of the points it penalises (R1 on real data, R2 on fakes)
    reuses this pass instead of running the critic on them twice."""
    x = x.detach().requires_grad_(True)
    scores = critic_scores(critic, x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return scores, grad.flatten(start_dim=scores.dim()).pow(2).sum(-1)


def input_gradient_sq_norms(critic, x):
    """Per-sample ‖∇_x D(x)‖², shape ``(..., batch)``, differentiable in the critic's parameters."""
    return scores_and_input_gradient_sq_norms(critic, x)[1]


def input_gradient_norms(critic, x):
    """Per-sample ‖∇_x D(x)‖ (with 1e-12 inside the root so a zero gradient has a finite derivative)."""
    return (input_gradient_sq_norms(critic, x) + 1e-12).sqrt()


@contextlib.contextmanager
def interpolation_noise(sample):
    """Within the block, :func:`interpolates` draws ε as ``sample(shape, dtype, device)`` (a tensor of
    U(0, 1) values of that shape) instead of ``torch.rand``; blocks nest (the innermost wins)."""
    _NOISE.append(sample)
    try:
        yield
    finally:
        _NOISE.pop()


def interpolates(critic, real, fake, batch_ndim=None):
    """x̂ = εx + (1−ε)x̃ with one ε ~ U(0, 1) per sample (per network and batch element).

    ``batch_ndim`` is the number of leading (network + batch) dimensions, i.e. the rank of the
    critic's scores; when ``None`` it is read from one gradient-free critic pass on ``real``.
    ε has shape ``real.shape[:batch_ndim]`` (then singleton data dims) and comes from ``torch.rand``
    or, inside :func:`interpolation_noise`, from its sampler.
    """
    real, fake = real.detach(), fake.detach()
    if batch_ndim is None:
        with torch.no_grad():
            batch_ndim = critic_scores(critic, real).dim()
    shape = real.shape[:batch_ndim] + (1,) * (real.dim() - batch_ndim)
    if _NOISE:
        eps = _NOISE[-1](shape, real.dtype, real.device)
    else:
        eps = torch.rand(shape, dtype=real.dtype, device=real.device)
    return eps * real + (1 - eps) * fake


def gradient_penalty(critic, real, fake, *, lam=10.0, batch_ndim=None):
    """Two-sided λ·E[(‖∇D(x̂)‖ − 1)²] on interpolates (WGAN-GP, Gulrajani et al. 2017, eq. 3)."""
    norms = input_gradient_norms(critic, interpolates(critic, real, fake, batch_ndim))
    return lam * batch_mean((norms - 1) ** 2)


def lipschitz_penalty(critic, real, fake, *, lam=10.0, batch_ndim=None):
    """One-sided λ·E[max(0, ‖∇D(x̂)‖ − 1)²] on interpolates (WGAN-LP, Petzka et al. 2018, eq. 8)."""
    norms = input_gradient_norms(critic, interpolates(critic, real, fake, batch_ndim))
    return lam * batch_mean(torch.relu(norms - 1) ** 2)


def r1_penalty(critic, real, *, gamma=10.0):
    """γ/2·E_data[‖∇D(x)‖²] on real data (R1, Mescheder et al. 2018; Roth et al. 2017)."""
    return gamma / 2 * batch_mean(input_gradient_sq_norms(critic, real))


def r2_penalty(critic, fake, *, gamma=10.0):
    """γ/2·E_θ[‖∇D(x)‖²] on generated samples (R2, Mescheder et al. 2018)."""
    return gamma / 2 * batch_mean(input_gradient_sq_norms(critic, fake))
