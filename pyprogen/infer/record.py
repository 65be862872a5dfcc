"""Record the aten operations of one run of a function and turn them into straight-line Python.

:class:`Recorder` is a ``TorchDispatchMode``: every aten call below autograd (what eager mode really
computes) is written down with its arguments, tensors named by identity — the given inputs
``a0, a1, ...``, results of earlier calls, and constants (tensors the program read but did not
make: literals, closure tensors). :func:`compile_record` turns the record into
``forward(*inputs) -> output``: calls that read only literals are computed once (unless their
storage is written later), ``x + 0``, ``x * 1``, ``x / 1`` and same-shape ``expand`` read ``x``,
unused calls are dropped (random and in-place calls stay), and calls made without gradients run
under ``torch.no_grad()``. Autograd then runs on the replayed calls as on the eager ones: values,
gradients and random draws are the eager ones on the same seed. Used by
:mod:`pyprogen.infer.compiled`.
"""
import math

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

_PLAIN = (bool, int, float, complex, str, type(None), torch.dtype, torch.device, torch.layout, torch.memory_format)


class _Ref:
    """A tensor argument in a recorded call: a named input, an earlier result or a constant."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class _Node:
    __slots__ = ("op", "args", "kwargs", "outs", "target", "grad", "effect", "fold")

    def __init__(self, op, args, kwargs, outs, target, grad, effect, fold):
        self.op, self.args, self.kwargs, self.outs, self.target = op, args, kwargs, outs, target
        self.grad, self.effect, self.fold = grad, effect, fold


def _refs(value):
    return [v.name for v in tree_flatten(value)[0] if isinstance(v, _Ref)]


def _rename(value, old, new):
    if isinstance(value, _Ref):
        return _Ref(new) if value.name == old else value
    if isinstance(value, (list, tuple)):
        return type(value)(_rename(v, old, new) for v in value)
    if isinstance(value, dict):
        return {k: _rename(v, old, new) for k, v in value.items()}
    return value


_LIFTS = (torch.ops.aten.lift_fresh.default, torch.ops.aten.lift_fresh_copy.default)
_aten = torch.ops.aten
_IDENTITIES = {_aten.add.Tensor: 0, _aten.sub.Tensor: 0, _aten.mul.Tensor: 1, _aten.div.Tensor: 1,
               _aten.add.Scalar: 0, _aten.sub.Scalar: 0, _aten.mul.Scalar: 1, _aten.div.Scalar: 1}


class Recorder(TorchDispatchMode):
    """Writes down every aten call below autograd, naming tensors by identity."""

    def __init__(self, inputs):
        super().__init__()
        self.names = {id(t): f"a{i}" for i, t in enumerate(inputs)}
        self.keep = list(inputs)  # every tensor seen stays alive, so ids stay unique
        self.constants = {}  # name -> tensor read by the program but not made by it (literals, closures)
        self.values = {}  # name -> tensor made by a recorded operation (for folding)
        self.nodes = []
        self.mutated = set()  # storages written by in-place operations
        self.foldable = set()  # results computed from literals only
        self.identities = {}  # result -> (its input, their storages): x + 0, x - 0, x * 1, x / 1 (0, 1: literals)
        self.differentiated = False  # autograd ran inside the program (its operations cannot be replayed)

    def ref(self, value):
        if isinstance(value, torch.Tensor):
            name = self.names.get(id(value))
            if name is None:
                name = self.names[id(value)] = f"c{len(self.constants)}"
                self.constants[name] = value
                self.keep.append(value)
            return _Ref(name)
        if isinstance(value, list):
            return [self.ref(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.ref(v) for v in value)
        return value

    def make_input(self, tensor, name):
        """Read ``tensor`` (a constant so far, e.g. a param-store param) as the input ``name``."""
        old = self.names.get(id(tensor))
        if old is not None and old in self.constants:
            del self.constants[old]
            for node in self.nodes:
                node.args, node.kwargs = _rename((node.args, node.kwargs), old, name)
        self.names[id(tensor)] = name

    def _name(self, value, name):
        if isinstance(value, torch.Tensor):
            self.names[id(value)] = name
            self.values[name] = value
            self.keep.append(value)
            return name
        if isinstance(value, (list, tuple)):
            return [self._name(v, f"{name}[{i}]") for i, v in enumerate(value)]
        return None

    def _neutral(self, value, ref, func):
        """Whether ``value`` (a number, or a literal-only tensor) leaves ``x`` unchanged under ``func``."""
        unit = _IDENTITIES[func]
        if type(value) in (int, float):
            return value == unit
        return isinstance(ref, _Ref) and ref.name in self.foldable and value.numel() <= 1 << 16 \
            and bool((value == unit).all())

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if torch._C._current_graph_task_id() != -1:  # a backward pass (torch.autograd.grad) inside the loss
            self.differentiated = True
            return out
        if func is torch.ops.aten.expand.default and out.shape == args[0].shape and out.stride() == args[0].stride():
            self.names[id(out)] = self.ref(args[0]).name  # a no-op view: its uses read the tensor itself
            self.keep.append(out)
            return out
        rargs, rkwargs = self.ref(args), {k: self.ref(v) for k, v in kwargs.items()}
        mutable = func._schema.is_mutable and func is not torch.ops.aten.detach_.default
        if mutable:  # conservatively: every tensor argument of an in-place operation
            for value in tree_flatten((args, kwargs))[0]:
                if isinstance(value, torch.Tensor):
                    self.mutated.add(value.untyped_storage().data_ptr())
        k = len(self.nodes)
        if isinstance(out, (list, tuple)):  # one name per element, unpacked at the call
            target = [f"t{k}_{i}" for i in range(len(out))]
            outs = [self._name(o, n) for o, n in zip(out, target)]
        else:
            target, outs = [f"t{k}"], [self._name(out, f"t{k}")]
        arg_names = _refs((rargs, rkwargs))
        fold = not mutable and not isinstance(out, (list, tuple)) and (func in _LIFTS or all(n in self.foldable
                                                                                            for n in arg_names))
        effect = mutable or torch.Tag.nondeterministic_seeded in func.tags
        self.nodes.append(_Node(func, rargs, rkwargs, outs, (target, isinstance(out, (list, tuple))),
                                torch.is_grad_enabled(), effect, fold and not effect))
        if func in _IDENTITIES and len(args) == 2 and not kwargs and isinstance(args[0], torch.Tensor) \
                and out.dtype == args[0].dtype and out.shape == args[0].shape and self._neutral(args[1], rargs[1], func):
            self.identities[target[0]] = (rargs[0].name, args[0].untyped_storage().data_ptr(),
                                          out.untyped_storage().data_ptr())
        if fold and not effect:
            self.foldable.update(n for n in tree_flatten(outs)[0] if n is not None)
        return out


def _source(value, env):
    """Python source for a recorded argument; objects without a literal go into ``env``."""
    if isinstance(value, _Ref):
        return value.name
    if isinstance(value, (list, tuple)):
        body = ", ".join(_source(v, env) for v in value)
        return f"[{body}]" if isinstance(value, list) else f"({body}{',' if len(value) == 1 else ''})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float('{value}')"
    if isinstance(value, _PLAIN) and not isinstance(value, torch.device):
        return repr(value)
    name = f"k{len(env)}"
    env[name] = value
    return name


def compile_record(recorder, output, inputs):
    """The record as a Python function ``forward(*inputs) -> output``: operations that read only
    literals are computed now (unless their storage is written later), unused ones are dropped."""
    folded = {}
    for node in recorder.nodes:
        if node.fold:
            leaves = [n for n in tree_flatten(node.outs)[0] if n is not None]
            if all(recorder.values[n].untyped_storage().data_ptr() not in recorder.mutated for n in leaves):
                folded.update((n, recorder.values[n].detach()) for n in leaves)
            else:
                node.fold = False

    def source_of(name):  # x + 0 and the like read x itself, unless either is written in place
        while name in recorder.identities and not any(p in recorder.mutated for p in recorder.identities[name][1:]):
            name = recorder.identities[name][0]
        return name

    for node in recorder.nodes:
        if not node.fold:
            for name in {n for n in _refs((node.args, node.kwargs)) if n in recorder.identities}:
                node.args, node.kwargs = _rename((node.args, node.kwargs), name, source_of(name))
    output = source_of(output)
    live, kept = {output}, []
    for node in reversed(recorder.nodes):
        if node.fold:
            continue
        if node.effect or any(n.split("[")[0] in live for n in tree_flatten(node.outs)[0] if n is not None):
            live.update(n.split("[")[0] for n in _refs((node.args, node.kwargs)))
            kept.append(node)
    env = {"torch": torch, "_no_grad": torch.no_grad}
    env.update((n, t) for n, t in {**recorder.constants, **folded}.items() if n.split("[")[0] in live)
    kept.reverse()
    last_use = {}  # local name -> index of the last call that reads (or makes) it: freed right after, as eager frees
    for i, node in enumerate(kept):
        for name in (*node.target[0], *(n.split("[")[0] for n in _refs((node.args, node.kwargs)))):
            last_use[name] = i
    frees = {}
    for name, i in last_use.items():
        if name != output and name in {n for node in kept for n in node.target[0]}:
            frees.setdefault(i, []).append(name)
    lines, grad = [], True
    for i, node in enumerate(kept):
        if node.grad != grad:
            grad = node.grad
            if not grad:
                lines.append("    with _no_grad():")
        indent = "    " if grad else "        "
        names, multi = node.target
        target = ", ".join(names) + ("," if multi and len(names) == 1 else "")
        if multi and not names:
            target = "_"
        op = f"op{len(env)}"
        env[op] = node.op
        call = ", ".join([*(_source(a, env) for a in node.args),
                          *(f"{k}={_source(v, env)}" for k, v in node.kwargs.items())])
        lines.append(f"{indent}{target} = {op}({call})")
        if i in frees:
            lines.append(f"{indent}del {', '.join(sorted(frees[i]))}")
    src = f"def forward({', '.join(inputs)}):\n" + "\n".join(lines) + f"\n    return {output}\n"
    exec(compile(src, "<pyprogen compiled loss>", "exec"), env)
    forward = env["forward"]
    forward.source, forward.num_ops = src, len(kept)
    return forward
