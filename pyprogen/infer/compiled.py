"""Compile a Pyro loss once per (model, guide, estimator) into straight-line aten calls; free it with them.

Pyro's JIT ELBOs are built on ``torch.jit.trace``, which torch 2.13 deprecates, whose traced
functions stay in torch.jit's global compilation unit for the life of the process (~10 MB per
``fit`` of a small VAE), and whose inputs are only param-store params: the parameters of a plain
``nn.Module`` attribute of a PyroModule (the README's ``TinyVAE``) became constants and tracing
failed with ``Cannot insert a Tensor that requires grad as a constant``.

:class:`CompiledLoss` records one run of the loss instead (:mod:`pyprogen.infer.record`: the aten
calls below autograd, replayed as plain Python — no poutine handlers, distributions or traces
left). Loss, gradients and random draws equal the eager ones on the same seed; recording costs
about two eager forward passes and consumes no random numbers (buffers such as BatchNorm
statistics are restored after it); a record holds no global state and is freed with its last
reference.

The record's inputs are every parameter and buffer of the modules that own ``model`` and ``guide``
(a bound method's ``__self__``), whether or not Pyro sees them; every param-store param the program
reads (``pyro.param`` in a plain function), by name; and the tensor arguments. Python control flow
and numbers taken from tensors (``.item()``) are fixed at recording, as with any tracing JIT: the
model's structure must not depend on data values. A loss that differentiates inside
(``torch.autograd.grad``) runs uncompiled, with a warning. Shapes, non-tensor arguments, the
grad mode and the modules' training flag select a record; a new combination records again.

:func:`compiled_loss` keeps one ``CompiledLoss`` per (model owner, model and guide functions,
estimator type and settings) in a weak dictionary keyed by the owner: refitting the same model
reuses its records, and they are freed with the model. Inside Pyro handlers other than SVI's
parameter capture (``poutine.scale``, ``condition``, ...), which a record would ignore, the loss
runs uncompiled.
"""
import contextlib
import warnings
import weakref

import pyro
import pyro.poutine as poutine
import torch
from pyro.poutine.runtime import _PYRO_STACK
from pyro.poutine.trace_messenger import TraceMessenger

from .record import Recorder, compile_record

MAX_RECORDS = 8  # records kept per compiled loss (one per shape/argument combination)
_CACHE = weakref.WeakKeyDictionary()  # owner -> {key: CompiledLoss}


def _owner(fn):
    return getattr(fn, "__self__", fn)


def _weak(fn):
    try:
        return weakref.WeakMethod(fn) if hasattr(fn, "__self__") else weakref.ref(fn)
    except TypeError:
        return None


def _hashable(value):
    """``value`` as a record-selecting key part (None when it cannot be one)."""
    if isinstance(value, (list, tuple)):
        parts = tuple(_hashable(v) for v in value)
        return None if any(p is None for p in parts) else (type(value).__name__, parts)
    try:
        hash(value)
    except TypeError:
        return None
    return type(value).__name__, value


def estimator_key(estimator):
    """The estimator's type and plain settings (num_particles, ...): what a record depends on.
    ``max_plate_nesting`` is left out (Pyro guesses it from the program on first use)."""
    settings = tuple(sorted((k, v) for k, v in vars(estimator).items()
                            if not k.startswith("_") and k != "max_plate_nesting"
                            and (v is None or isinstance(v, (bool, int, float, str)))))
    return type(estimator), settings


class CompiledLoss:
    """``CompiledLoss(fn, model, guide)(*args, **kwargs)`` equals ``fn(model, guide, *args, **kwargs)``
    (a differentiable scalar tensor) but replays a record of its aten operations."""

    def __init__(self, fn, model, guide):
        self.fn = fn
        self._model_ref, self._guide_ref = _weak(model), _weak(guide)
        self._strong = (model, guide) if self._model_ref is None or self._guide_ref is None else None
        self.records = {}
        self.uncompilable = False
        self._layout = None
        self.traces = 0  # records made so far
        self.store_names = self.param_names = ()
        self.refresh()

    def programs(self):
        """``(model, guide)``."""
        if self._strong is not None:
            return self._strong
        model, guide = self._model_ref(), self._guide_ref()
        if model is None or guide is None:
            raise RuntimeError("the model or guide of this compiled loss no longer exists")
        return model, guide

    @property
    def modules(self):
        """The modules that own the model and guide (their parameters and buffers are inputs)."""
        return [ref() for ref in self._module_refs]

    def refresh(self):
        """Re-read the modules' parameters and buffers (after a parameter object was replaced)."""
        modules, tensors, seen = [], [], set()
        for fn in self.programs():
            owner = _owner(fn)
            if isinstance(owner, torch.nn.Module) and all(owner is not m for m in modules):
                modules.append(owner)
        for module in modules:
            for t in (*module.parameters(), *module.buffers()):
                if id(t) not in seen:
                    seen.add(id(t))
                    tensors.append(t)
        layout = [(t.shape, t.dtype, t.device) for t in tensors]
        if self._layout is not None and layout != self._layout:  # other parameters than the records read
            self.records.clear()
        self.module_tensors, self._layout = tensors, layout
        self._module_refs = [weakref.ref(m) for m in modules]  # weak: a cache entry must not keep its key alive

    def _store_tensors(self):
        params = pyro.get_param_store()._params
        try:
            return [params[name] for name in self.store_names]
        except KeyError:
            return None

    def _key(self, args, kwargs):
        parts = [tuple(ref().training for ref in self._module_refs), torch.is_grad_enabled(),
                 torch.is_inference_mode_enabled()]
        for value in (*args, *(v for _, v in sorted(kwargs.items()))):
            if isinstance(value, torch.Tensor):
                parts.append((value.shape, value.dtype, value.device, value.requires_grad))
            else:
                part = _hashable(value)
                if part is None:
                    return None
                parts.append(part)
        return tuple(parts), tuple(sorted(kwargs))

    @staticmethod
    def _tensors(args, kwargs):
        tensors = [v for v in args if isinstance(v, torch.Tensor)]
        if kwargs:
            tensors += [v for _, v in sorted(kwargs.items()) if isinstance(v, torch.Tensor)]
        return tensors

    # -- recording ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _no_side_effects(self, args=()):
        """Runs of the program made only to record it leave no trace: RNGs forked (CPU and the CUDA
        devices of the inputs), buffers (BatchNorm statistics, spectral-norm vectors) restored."""
        buffers = [t for t in self.module_tensors if not isinstance(t, torch.nn.Parameter)]
        saved = [t.detach().clone() for t in buffers]
        devices = sorted({t.device.index or 0 for t in (*self.module_tensors, *args)
                          if isinstance(t, torch.Tensor) and t.is_cuda})
        try:
            with torch.random.fork_rng(devices=devices):
                yield
        finally:
            with torch.no_grad():
                for t, value in zip(buffers, saved):
                    t.copy_(value)

    def _run_for_params(self, args, kwargs):
        """Run the program without using RNG or changing buffers (it creates its Pyro params); the param trace."""
        model, guide = self.programs()
        with self._no_side_effects(args), poutine.block(), poutine.trace(param_only=True) as tr:
            self.fn(model, guide, *args, **kwargs)
        return tr.trace

    def _record(self, key, args, kwargs):
        model, guide = self.programs()
        self.refresh()
        self._run_for_params(args, kwargs)  # Pyro params exist before recording: they are read, not made
        tensors = self._tensors(args, kwargs)
        inputs = [*self.module_tensors, *tensors]
        recorder = Recorder(inputs)
        with self._no_side_effects(args), pyro.validation_enabled(False), poutine.block(), \
                poutine.trace(param_only=True) as tr, recorder:
            loss = self.fn(model, guide, *args, **kwargs)
        if not isinstance(loss, torch.Tensor) or id(loss) not in recorder.names:
            raise TypeError(f"a compiled loss must return a tensor computed by the program, got {type(loss).__name__}")
        if recorder.differentiated:
            warnings.warn("this loss differentiates inside (torch.autograd.grad), which a record cannot replay: "
                          "it runs uncompiled", stacklevel=4)
            self.uncompilable = True
            return None
        # param-store params (pyro.param in plain functions) were constants of the record: make them inputs
        store = pyro.get_param_store()._params
        self.param_names = tuple(name for name in tr.trace.nodes if name in store)
        module_ids = {id(t) for t in self.module_tensors}
        self.store_names = tuple(n for n in self.param_names if id(store[n]) not in module_ids)
        for i, name in enumerate(self.store_names):
            recorder.make_input(store[name], f"s{i}")
        n_mod = len(self.module_tensors)
        order = [f"a{i}" for i in range(n_mod)] + [f"s{i}" for i in range(len(self.store_names))] + \
            [f"a{n_mod + i}" for i in range(len(tensors))]
        record = compile_record(recorder, recorder.names[id(loss)], order)
        if len(self.records) >= MAX_RECORDS:
            self.records.pop(next(iter(self.records)))
        self.records[key] = record
        self.traces += 1
        return record

    # -- calling -------------------------------------------------------------------------------
    def eager(self, *args, **kwargs):
        """The uncompiled loss (what a record replays)."""
        model, guide = self.programs()
        return self.fn(model, guide, *args, **kwargs)

    def __call__(self, *args, **kwargs):
        if _PYRO_STACK and not all(isinstance(m, TraceMessenger) and m.param_only for m in _PYRO_STACK):
            return self.eager(*args, **kwargs)  # a handler the record would ignore is active
        key = None if self.uncompilable else self._key(args, kwargs)
        if key is None:
            return self.eager(*args, **kwargs)
        record = self.records.get(key)
        if record is None:
            record = self._record(key, args, kwargs)
            if record is None:
                return self.eager(*args, **kwargs)
        store = ()
        if self.store_names:
            store = self._store_tensors()
            if store is None:  # the param store was cleared: the program creates its params again
                self._run_for_params(args, kwargs)
                store = self._store_tensors()
                if store is None:
                    self.records.clear()
                    record = self._record(key, args, kwargs)
                    store = self._store_tensors()
        if _PYRO_STACK:  # pyro.infer.SVI steps the params it sees at pyro.param sites
            params = pyro.get_param_store()._params
            if not all(name in params for name in self.param_names):
                self._run_for_params(args, kwargs)  # PyroModules register their params again
            for name in self.param_names:
                pyro.param(name)
        return record(*self.module_tensors, *store, *self._tensors(args, kwargs))


def compiled_loss(fn, model, guide, estimator=None):
    """The :class:`CompiledLoss` of ``fn`` for ``(model, guide)``, built once and kept while the
    model's owner lives (keyed by the owner, the model and guide functions and ``estimator_key``)."""
    owner, guide_owner = _owner(model), _owner(guide)
    key = (getattr(model, "__func__", model), getattr(guide, "__func__", guide), getattr(fn, "__func__", fn),
           None if estimator is None else estimator_key(estimator),
           None if guide_owner is owner else id(guide_owner))
    try:
        entries = _CACHE.setdefault(owner, {})
    except TypeError:  # an owner that cannot be weakly referenced: no sharing
        return CompiledLoss(fn, model, guide)
    entry = entries.get(key)
    if entry is not None and guide_owner is not owner:  # the guide's owner is checked, not kept alive
        guide_now = entry._guide_ref() if entry._guide_ref is not None else entry._strong[1]
        if guide_now is None or _owner(guide_now) is not guide_owner:
            entry = None
    if entry is None:
        entry = entries[key] = CompiledLoss(fn, model, guide)
    return entry
