"""Base class and registry of adversarial losses (one concrete loss per file in ``infer/``).

A loss is a pure function of a *critic callable* and tensors, so the same object trains one
network (``AdversarialSVI``) or a stack of networks at once (the batched stability study):

- ``critic_loss(critic, real, fake) -> (loss, penalty)``: the scalar the critic minimises
  (penalty included, computed with ``create_graph=True`` so it trains the critic) and the
  penalty alone (a detached-or-not tensor, 0 where the loss has none).
- ``generator_loss(critic, fake) -> loss``: the scalar the generator minimises.
- ``critic_steps``: critic updates per generator update (WGAN: 5).
- ``make_critic_optimizer(params, lr)`` / ``make_generator_optimizer(params, lr)``: the
  optimisers the paper used (Adam by default; WGAN's RMSprop).
- ``after_critic_step(critic)``: hook after each critic update (WGAN's weight clipping).

``real`` and ``fake`` have shape ``(..., batch, *data_shape)``; the critic returns raw
scores/logits of shape ``(..., batch)`` or ``(..., batch, 1)``. Losses average over the
batch dimension and *sum* over any leading network dimensions, so a stack of S independent
networks gets exactly the gradients each would get alone.
"""
import torch

from ..registry import Registry

ADVERSARIAL_LOSSES = Registry("adversarial loss", argument="loss")


def register_adversarial_loss(name):
    def decorator(cls):
        cls.name = name
        return ADVERSARIAL_LOSSES.register(name)(cls)

    return decorator


def adversarial_loss(name, **kwargs):
    """Build an adversarial loss by registry name (``gan``, ``ns-gan``, ``wgan``, ...)."""
    if isinstance(name, AdversarialLoss):
        return name
    return ADVERSARIAL_LOSSES.build(name, **kwargs)


class AdversarialLoss:
    critic_steps = 1
    name = None

    def critic_loss(self, critic, real, fake):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def generator_loss(self, critic, fake):  # pragma: no cover - abstract
        raise NotImplementedError("abstract")

    def make_critic_optimizer(self, params, lr):
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))

    def make_generator_optimizer(self, params, lr):
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))

    def after_critic_step(self, critic):
        """Hook after each critic update (identity; WGAN clips weights here)."""

    def __repr__(self):
        return f"{type(self).__name__}()"
