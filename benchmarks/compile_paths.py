"""Ways to compile a Pyro ELBO on this CPU: per-step cost, start-up cost, loss equality, warnings.

The MLP VAE of benchmarks/fit_overhead.py (784-200-200-50 tanh, Bernoulli, batch 128, Adam 1e-3,
one torch thread), every variant a full training step (loss, zero_grad, backward, Adam, ``.item()``):

- ``hand-written``: the same nets and math in plain PyTorch (the reference of every ratio);
- ``eager``: Pyro's ``TraceMeanField_ELBO`` uncompiled, through ``TorchSVI``;
- ``jit.trace``: the previous fixed ``JitTraceMeanField_ELBO`` (Pyro's ``pyro.ops.jit.trace`` over
  ``torch.jit.trace``, compiled once), through ``TorchSVI``;
- ``recorded``: pyprogen's ``JitTraceMeanField_ELBO`` (infer/compiled.py: the aten calls of one run,
  replayed), through ``TorchSVI`` — what ``fit`` uses;
- ``compile(loss)``: ``torch.compile`` (inductor) of the Pyro surrogate loss;
- ``compile(nets)``: ``torch.compile`` (inductor) of the encoder and decoder, Pyro's ELBO eager;
- ``compile(recorded)``: ``torch.compile`` (inductor) of the recorded function (pure aten calls).

Per step: variants alternate in short rounds (order reshuffled each round); the median CPU time
per step of each, and its ratio to the hand-written step of the same rounds. Start-up: each
variant in a fresh process (imports done first) with an empty inductor cache, CPU seconds of the
process and its children (the inductor compiles in worker processes) and wall seconds from building
the model to the end of the first step, then the same for a second model in that process (the
first includes the process's first-use costs, about 1 CPU-s here for every variant). Loss: relative difference to the
eager loss on the same parameters and seed. Warnings: those raised while compiling and stepping.
``torch._inductor.config.fallback_random`` is on, so compiled random draws equal eager ones.

    python benchmarks/compile_paths.py --rounds 7 --steps 40 --out docs/results/compile_paths.json
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import weakref

import pyro
import pyro.ops.jit
import torch
from pyro.infer import TraceMeanField_ELBO
from pyro.infer import JitTraceMeanField_ELBO as PyroJitTraceMeanField_ELBO
from torch.nn import functional as F

from pyprogen.data import load_dataset
from pyprogen.infer import JitTraceMeanField_ELBO, TorchSVI
from pyprogen.models import build
from alternating import paired_ratio, time_steps, write_result  # benchmarks/alternating.py

BATCH = 128


class LegacyJitTraceMeanField_ELBO(PyroJitTraceMeanField_ELBO):
    """The fixed torch.jit.trace ELBO pyprogen shipped before (compiled once, never freed)."""

    def differentiable_loss(self, model, guide, *args, **kwargs):
        kwargs["_pyro_model_id"] = id(model)
        kwargs["_pyro_guide_id"] = id(guide)
        if getattr(self, "_differentiable_loss", None) is None:
            weakself = weakref.ref(self)

            @pyro.ops.jit.trace(ignore_warnings=self.ignore_jit_warnings, jit_options=self.jit_options)
            def differentiable_loss(*args, **kwargs):
                kwargs.pop("_pyro_model_id")
                kwargs.pop("_pyro_guide_id")
                self = weakself()
                loss = 0.0
                for model_trace, guide_trace in self._get_traces(model, guide, args, kwargs):
                    loss = loss + self._differentiable_loss_particle(model_trace, guide_trace)[1] / self.num_particles
                return loss

            self._differentiable_loss = differentiable_loss
        return self._differentiable_loss(*args, **kwargs)


def new_model():
    torch.manual_seed(0)
    return build("vae", (1, 28, 28), latent_dim=50, hidden=(200, 200))


def adam(params):
    return torch.optim.Adam(params, lr=1e-3)


def hand_written(model):
    opt = adam(model.parameters())

    def loss_fn(x):
        loc, scale = model.encoder(x)
        z = loc + scale * torch.randn_like(loc)
        rec = F.binary_cross_entropy_with_logits(model.decoder(z), x.reshape(len(x), -1), reduction="sum")
        return rec + 0.5 * (loc.pow(2) + scale.pow(2) - 1 - 2 * scale.log()).sum()

    def step(x):
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step, loss_fn


def svi(model, loss):
    step = TorchSVI(model.model, model.guide, adam, loss, modules=[model])
    return step.step, step._loss


def compiled_surrogate(model):
    import torch._inductor.config
    torch._inductor.config.fallback_random = True
    elbo = JitTraceMeanField_ELBO()
    fn = torch.compile(lambda x: elbo.surrogate_loss(model.model, model.guide, x))
    return lambda model_, guide_, x: fn(x)


def compiled_nets(model):
    import torch._inductor.config
    torch._inductor.config.fallback_random = True
    model.encoder.compile()
    model.decoder.compile()
    return svi(model, TraceMeanField_ELBO())


def compiled_record(model):
    import torch._inductor.config
    torch._inductor.config.fallback_random = True
    elbo = JitTraceMeanField_ELBO()
    compiled = elbo.compile(model.model, model.guide)
    state = {}

    def loss(model_, guide_, x):
        if "fn" not in state:
            compiled(x)  # record
            state["fn"] = torch.compile(next(iter(compiled.records.values())))
        return state["fn"](*compiled.module_tensors, x)

    return svi(model, loss)


VARIANTS = {
    "hand-written": hand_written,
    "eager": lambda m: svi(m, TraceMeanField_ELBO()),
    "jit.trace": lambda m: svi(m, LegacyJitTraceMeanField_ELBO(ignore_jit_warnings=True)),
    "recorded": lambda m: svi(m, JitTraceMeanField_ELBO()),
    "compile(loss)": lambda m: svi(m, compiled_surrogate(m)),
    "compile(nets)": compiled_nets,
    "compile(recorded)": compiled_record,
}
COMPILE = ("compile(loss)", "compile(nets)", "compile(recorded)")


def cpu_with_children():
    self_, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


def startup(name, x):
    """In a fresh process: seconds from building a model to the end of its first step (twice)."""
    out = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for which in ("first model", "second model"):
            pyro.clear_param_store()
            c0, w0 = cpu_with_children(), time.perf_counter()
            step, _ = VARIANTS[name](new_model())
            step(x[:BATCH])
            out[which] = {"cpu_s": cpu_with_children() - c0, "wall_s": time.perf_counter() - w0}
    out["warnings"] = sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0][:110]}" for w in caught})
    return out


def loss_difference(name, x):
    """max over 3 seeds of |loss - eager loss| / |eager loss| on the same parameters."""
    pyro.clear_param_store()
    model = new_model()
    _, loss_fn = VARIANTS[name](model)
    eager = TraceMeanField_ELBO()
    call = loss_fn
    call(x[:BATCH])  # compile first (compiling may draw random numbers)
    worst = 0.0
    for seed in (1, 2, 3):
        pyro.set_rng_seed(seed)
        a = float(call(x[:BATCH]))
        pyro.set_rng_seed(seed)
        b = float(eager.differentiable_loss(model.model, model.guide, x[:BATCH]))
        worst = max(worst, abs(a - b) / abs(b))
    return worst


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--skip-compile", action="store_true", help="leave out the torch.compile variants")
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--startup", help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(1)
    x = load_dataset("binarized-mnist").x[:BATCH * 20]
    if args.startup:
        print(json.dumps(startup(args.startup, x)))
        return
    names = [n for n in VARIANTS if not (args.skip_compile and n in COMPILE)]
    print(f"load: {os.getloadavg()}", flush=True)
    result = {"batch": BATCH, "threads": 1, "rounds": args.rounds, "steps": args.steps, "loadavg_start": os.getloadavg(),
              "startup": {}, "loss_rel_diff": {}, "per_step": {}}
    for name in names:
        with tempfile.TemporaryDirectory() as cache:  # a cold inductor cache, as on a user's first run
            proc = subprocess.run([sys.executable, __file__, "--startup", name], capture_output=True, text=True,
                                  env={**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache})
        if proc.returncode != 0:
            result["startup"][name] = {"error": proc.stderr.strip().splitlines()[-1][:300]}
        else:
            result["startup"][name] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"start-up {name}: {result['startup'][name]}", flush=True)
    for name in names:
        result["loss_rel_diff"][name] = loss_difference(name, x)
    steps = {}
    for name in names:
        pyro.clear_param_store()
        steps[name] = VARIANTS[name](new_model())[0]
        for i in range(5):  # warm-up: compile, optimiser state
            steps[name](x[i * BATCH:(i + 1) * BATCH])
    times = time_steps(steps, x, BATCH, rounds=args.rounds, n_steps=args.steps)
    base = statistics.median(times["hand-written"])
    ratios = {n: paired_ratio(times, n, "hand-written") for n in names}
    print(f"\nper step, CPU ms (median of {args.rounds} rounds x {args.steps} steps) and the median of the "
          f"per-round ratios to hand-written:")
    for name in names:
        med = statistics.median(times[name])
        result["per_step"][name] = {"cpu_ms": med * 1e3, "ratio": ratios[name], "ratio_of_medians": med / base}
        s = result["startup"][name]
        first = s.get("first model", {})
        second = s.get("second model", {})
        print(f"  {name:18s} {med * 1e3:6.2f} ms  {ratios[name]:5.2f}x | start-up cpu {first.get('cpu_s', float('nan')):6.2f} s "
              f"wall {first.get('wall_s', float('nan')):6.2f} s, second model cpu {second.get('cpu_s', float('nan')):5.2f} s"
              f" | loss rel diff {result['loss_rel_diff'][name]:.1e} | warnings {s.get('warnings', s.get('error'))}")
    result["loadavg_end"] = os.getloadavg()
    print(f"load: {os.getloadavg()}")
    write_result(result, args.out)


if __name__ == "__main__":
    main()
