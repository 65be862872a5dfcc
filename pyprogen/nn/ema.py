"""Exponential moving average (EMA) of a network's weights, as a module of its own.

    θ_ema ← d_t·θ_ema + (1 − d_t)·θ       after every update of θ,
    d_t = 0                                for t ≤ start            (the copy tracks θ exactly),
    d_t = min(decay, (1 + u)/(10 + u))     for u = t − start > 0    (warm-up; TensorFlow's
                                           ExponentialMovingAverage with num_updates)

Averaging the generator's iterates is the standard stabiliser of GAN training (Yazıcı et al.
2019, "The unusual effectiveness of averaging in GAN training"; Karras et al. 2018): the raw
generator of a GAN oscillates around the equilibrium, the average sits near it. The warm-up keeps
the average from being dominated by the random initial weights (at u = 100, d = 0.92).

The copy holds the averaged weights as **buffers**, not parameters: no optimiser captures them,
they are saved in the owner's ``state_dict`` (so checkpoints and resume carry them bit for bit,
with the update counter ``steps``), and they move with ``.to(device)``. Buffers of the source
(BatchNorm running statistics) are copied, not averaged.
"""
import copy
import math

import torch
from torch import nn

from ..errors import PyprogenError


def check_decay(decay, argument="ema"):
    """A decay in [0, 1) (0: off), or one line naming ``argument``."""
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not math.isfinite(decay) \
            or not 0 <= decay < 1:
        raise PyprogenError(f"{argument}: expected an EMA decay in [0, 1) (0 = off), got {decay!r}")
    return float(decay)


class EMA(nn.Module):
    """A frozen copy of ``module`` whose weights follow the average above; call it like ``module``.

    :param module: the network to average (copied; the original is not changed).
    :param decay: the decay d in [0, 1) after warm-up.
    :param start: number of updates during which the copy tracks the source exactly.
    """

    def __init__(self, module, decay=0.999, start=0):
        super().__init__()
        self.decay = check_decay(decay)
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise PyprogenError(f"ema_start: expected an integer >= 0, got {start!r}")
        self.start = start
        self.module = copy.deepcopy(module)
        for m in self.module.modules():  # parameters -> buffers of the same name
            for name, p in list(m._parameters.items()):
                if p is not None:
                    del m._parameters[name]
                    m.register_buffer(name, p.detach().clone())
        self.module.requires_grad_(False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def decay_at(self, t):
        """d_t for the t-th update (t = 1, 2, ...)."""
        u = t - self.start
        return 0.0 if u <= 0 else min(self.decay, (1 + u) / (10 + u))

    @torch.no_grad()
    def update(self, source):
        """One averaging step towards ``source`` (the module being trained)."""
        self.steps += 1
        d = self.decay_at(int(self.steps))
        mine = dict(self.module.named_buffers())
        for name, p in source.named_parameters():
            mine[name].lerp_(p.detach(), 1.0 - d)
        for name, b in source.named_buffers():
            mine[name].copy_(b)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def extra_repr(self):
        return f"decay={self.decay}, start={self.start}"
