"""Learning-rate schedules as functions of the optimiser's own update count (``fit(lr_schedule=...)``).

A schedule is a factor ``f(t)`` on the base learning rate: update ``t`` (``t = 0`` for the first
update of a run) uses ``lr · f(t)``. ``t`` is read, before every update, from the update count the
optimiser keeps in its state (Adam's per-parameter ``"step"``), through a step pre-hook
(``Optimizer.register_step_pre_hook``): a checkpoint already holds it, so a resumed run continues
the schedule exactly, with no state of its own. Every optimiser of a step object (a GAN's generator
and critic alike) is driven by the clock of the step's *first* optimiser (the model's or the
generator's: one tick per batch), so a critic with several updates per batch keeps the same
learning rate through a batch.

Named schedules (``T`` = the run's total updates, ``epochs × batches per epoch``; ``E`` = batches
per epoch):

- ``constant``: ``f(t) = 1``.
- ``cosine``: ``f(t) = final + (1 − final) · ½ (1 + cos(π · min(t, T) / T))`` with ``final = 0``
  (Loshchilov & Hutter 2017, one cycle, no restarts); ``cosine:FINAL`` sets ``final``.
- ``step``: ``f(t) = 0.1`` from ``t = ⌊T/2⌋``, ``0.01`` from ``⌊3T/4⌋``; ``step:EVERY:GAMMA`` is
  ``f(t) = GAMMA ** ⌊t / EVERY⌋`` (``EVERY`` in updates).
- ``burda``: Burda et al. (2016, §5): ``f = 10^(−i/7)`` for ``3^i`` epochs, ``i = 0, 1, ..., 7``
  (3,280 epochs in all; after that the last factor stays).

Resuming with another number of epochs changes ``T`` and so the ``cosine``/``step`` horizon.
"""
import math

from ..errors import PyprogenError

NAMES = ("constant", "cosine", "step", "burda")


def steps_done(optimizer):
    """Updates ``optimizer`` has made: the largest ``"step"`` in its per-parameter state (0 before any)."""
    counts = [int(s["step"]) for s in optimizer.state.values() if "step" in s]
    return max(counts, default=0)


def constant(t):
    return 1.0


def cosine(total, final=0.0):
    """``f(t) = final + (1 − final) · ½ (1 + cos(π · min(t, total) / total))``."""
    total = max(int(total), 1)
    return lambda t: final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(t, total) / total))


def step_decay(every, gamma):
    """``f(t) = gamma ** ⌊t / every⌋``."""
    every = max(int(every), 1)
    return lambda t: gamma ** (t // every)


def milestones(points, gamma=0.1):
    """``f(t) = gamma ** (number of milestones <= t)``."""
    points = sorted(int(p) for p in points)
    return lambda t: gamma ** sum(t >= p for p in points)


def burda(steps_per_epoch):
    """Burda et al. 2016: ``10^(−i/7)`` for ``3^i`` epochs, ``i = 0..7``."""
    ends = [sum(3 ** j for j in range(i + 1)) * steps_per_epoch for i in range(8)]
    return lambda t: 10 ** (-min(sum(t >= e for e in ends), 7) / 7)


def _numbers(spec, parts, count):
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = None
    if values is None or len(values) > count or not all(math.isfinite(v) and v >= 0 for v in values):
        raise PyprogenError(f"lr_schedule: expected {NAMES[1]}[:FINAL], step[:EVERY:GAMMA], constant or burda, "
                            f"got {spec!r}")
    return values


def make_schedule(spec, *, total_steps, steps_per_epoch):
    """``f(t)`` for a schedule name (``cosine``, ``cosine:0.01``, ``step``, ``step:1000:0.5``,
    ``constant``, ``burda``), a callable ``f(t)`` (returned as it is), or ``None`` (constant)."""
    if spec is None:
        return constant
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise PyprogenError(f"lr_schedule: expected a schedule name or a function of the step, got {spec!r}")
    name, *parts = spec.split(":")
    if name == "constant" and not parts:
        return constant
    if name == "burda" and not parts:
        return burda(steps_per_epoch)
    if name == "cosine":
        values = _numbers(spec, parts, 1)
        if values and values[0] > 1:
            raise PyprogenError(f"lr_schedule: the final factor of cosine is in [0, 1], got {spec!r}")
        return cosine(total_steps, *values)
    if name == "step":
        values = _numbers(spec, parts, 2)
        if not values:
            return milestones([total_steps // 2, 3 * total_steps // 4])
        if len(values) != 2 or values[0] < 1:
            raise PyprogenError(f"lr_schedule: expected step:EVERY:GAMMA with EVERY >= 1 updates, got {spec!r}")
        return step_decay(values[0], values[1])
    raise PyprogenError(f"lr_schedule: unknown schedule {spec!r}; expected one of {', '.join(NAMES)} "
                        f"(cosine:FINAL, step:EVERY:GAMMA)")


def attach_schedule(optimizers, factor, clock=None):
    """Set every param group's ``lr`` to ``base_lr · factor(t)`` before each update of each optimiser.

    ``optimizers``: the step's optimisers, first one first; ``t = steps_done(clock)`` (default: the
    first optimiser). ``base_lr`` is each group's learning rate when attached. Returns the hook
    handles (``handle.remove()`` detaches).
    """
    optimizers = list(optimizers)
    clock = clock if clock is not None else optimizers[0]
    handles = []
    for opt in optimizers:
        bases = [group["lr"] for group in opt.param_groups]

        def hook(optimizer, args, kwargs, bases=bases):
            f = float(factor(steps_done(clock)))
            for group, base in zip(optimizer.param_groups, bases):
                group["lr"] = base * f

        handles.append(opt.register_step_pre_hook(hook))
        hook(opt, (), {})  # the learning rate a resumed run's next update uses, visible before it
    return handles


def attach(step, loss, *, lr_schedule=None, epochs, steps_per_epoch):
    """What ``fit`` calls once its step object holds optimisers: the LR schedule on every optimiser,
    and the clock (the first optimiser's update count) for a KL warm-up estimator (``loss.bind``)."""
    optimizers = [spec.optimizer for spec in step.optimizers()]
    if callable(getattr(loss, "bind", None)):
        clock = optimizers[0]
        loss.bind(lambda: steps_done(clock))
    if lr_schedule is None:
        return []
    factor = make_schedule(lr_schedule, total_steps=epochs * steps_per_epoch, steps_per_epoch=steps_per_epoch)
    return attach_schedule(optimizers, factor)
