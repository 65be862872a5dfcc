"""Training throughput (images/s) of 1 vs N data-parallel processes (torch.distributed + DDP, gloo).

For the MLP VAE (784-200-200-16, Bernoulli) and the conv VAE (ConvEncoder/ConvDecoder, width 32)
on binarized MNIST, global batch ``--batch-size``: each configuration trains in fresh processes
started by :func:`pyprogen.train.launch.spawn` (``pyprogen.train.fit``, Trace_ELBO through
TorchSVI, gradients all-reduced through the step protocol), one warm-up epoch then a timed epoch; configurations
alternate over ``--repeats`` rounds because absolute CPU speed drifts on shared machines (compare
ratios measured side by side). Configurations: 1 process × 1 thread, 1 process × ``N`` threads
(intra-op parallelism on the same cores) and ``N`` processes × 1 thread.

Also reported, from which scaling on a real multi-GPU node can be estimated: the parameter count
P, the bytes all-reduced per step (4·P: every fp32 gradient once; a ring all-reduce sends and
receives 2(N−1)/N · 4P bytes per rank), the measured time of one gloo all-reduce of 4P bytes, and
images per CPU-second (process CPU time of all ranks), which other load on the machine hardly
changes: its ratio between configurations is the parallel efficiency.

    python benchmarks/ddp_throughput.py --nproc 2 --repeats 3 --out /work/notes/ddp
"""
import argparse
import json
import os
import statistics
import tempfile
import time

import pyro
import torch

from pyprogen.data import load_dataset
from pyprogen.io import write_json
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit
from pyprogen.train.launch import spawn

MODELS = {"mlp": {"net": "mlp", "latent_dim": 16}, "conv": {"net": "conv", "latent_dim": 16}}


def _bench(kind, rows, batch_size, path):
    """Worker: train 2 epochs over ``rows`` images; rank 0 writes the timed epoch's numbers."""
    world = torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1
    x = load_dataset("binarized-mnist", "train").x[:rows]
    set_seed(0)
    model = build("vae", (1, 28, 28), **MODELS[kind])
    cpu0 = time.process_time()
    history = fit(model, x, epochs=2, batch_size=batch_size, seed=0, progress=False)
    cpu = torch.tensor([time.process_time() - cpu0], dtype=torch.float64)
    steps = rows // batch_size
    result = {"seconds": history[-1]["seconds"], "images_per_s": steps * batch_size / history[-1]["seconds"],
              "loss": history[-1]["loss"], "threads": torch.get_num_threads(), "world": world}
    if world > 1:
        torch.distributed.all_reduce(cpu)  # CPU seconds of all ranks together
    # images per CPU-second over both epochs: insensitive to other load on the machine
    result["images_per_cpu_s"] = 2 * steps * batch_size / float(cpu)
    if world > 1:  # the communication alone: one all-reduce of every gradient, as DDP does per step
        flat = torch.zeros(sum(p.numel() for p in model.parameters()))
        torch.distributed.all_reduce(flat)
        t0 = time.perf_counter()
        for _ in range(10):
            torch.distributed.all_reduce(flat)
        result["allreduce_ms"] = (time.perf_counter() - t0) / 10 * 1e3
    if not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0:
        with open(path, "w") as f:
            json.dump(result, f)


def breakdown(kind, batch_size, nproc, reps=20):
    """One process, one thread, CPU time per training step at the global and the per-rank batch,
    and of the Adam update alone: the update (and Pyro's per-step tracing) is repeated on every
    rank, only the batch-proportional part of forward + backward is divided by N."""
    from pyprogen.infer.step import make_step
    from pyprogen.train.losses import resolve_loss

    torch.set_num_threads(1)
    x = load_dataset("binarized-mnist", "train").x[:batch_size]
    out = {}
    for b in (batch_size, batch_size // nproc):  # a fresh model and step per batch size (one JIT trace each)
        pyro.clear_param_store()  # Pyro (and its JIT) look parameters up by name in the global store
        set_seed(0)
        model = build("vae", (1, 28, 28), **MODELS[kind])
        step = make_step(model, resolve_loss(None, model), 1e-3)
        step.initialise(x[:b])
        for _ in range(3):
            step.step(x[:b])
        t0 = time.process_time()
        for _ in range(reps):
            step.step(x[:b])
        out[f"step_ms_batch_{b}"] = (time.process_time() - t0) / reps * 1e3
    t0 = time.process_time()
    for _ in range(reps):
        step.optimizer.step()
    out["adam_ms"] = (time.process_time() - t0) / reps * 1e3
    return out


def measure(kind, nproc, threads, rows, batch_size):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.json")
        spawn(_bench, nproc, kind, rows, batch_size, path, threads=threads)
        with open(path) as f:
            return json.load(f)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "conv"], choices=sorted(MODELS))
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, nargs=2, default=[40, 8], help="timed steps: MLP, conv")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="directory for ddp_throughput.json")
    parser.add_argument("--breakdown-only", action="store_true", help="only the per-step CPU-time breakdown")
    args = parser.parse_args(argv)
    n = args.nproc
    configs = [(1, 1), (1, n), (n, 1)]  # (processes, threads per process)
    report = {"config": vars(args), "cpu_count": os.cpu_count(), "models": {}}
    for kind, steps in zip(args.models, args.steps if len(args.models) == 2 else args.steps[:1]):
        model = build("vae", (1, 28, 28), **MODELS[kind])
        params = sum(p.numel() for p in model.parameters())
        parts = breakdown(kind, args.batch_size, n)
        print(f"\n{kind} VAE, CPU time per step (1 thread): "
              + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
        report["models"][kind] = {"breakdown": parts}
        if args.breakdown_only:
            continue
        runs = {f"{p}p x {t}t": [] for p, t in configs}
        for _ in range(args.repeats):
            for p, t in configs:
                runs[f"{p}p x {t}t"].append(measure(kind, p, t, steps * args.batch_size, args.batch_size))
        entry = {"breakdown": parts, "parameters": params, "allreduce_bytes_per_step": 4 * params,
                 "ring_bytes_sent_per_rank_per_step": 2 * (n - 1) / n * 4 * params, "configs": {}}
        for name, rs in runs.items():
            ips = [r["images_per_s"] for r in rs]
            entry["configs"][name] = {"images_per_s": ips, "median_images_per_s": statistics.median(ips),
                                      "images_per_cpu_s": [r["images_per_cpu_s"] for r in rs],
                                      "allreduce_ms": [r.get("allreduce_ms") for r in rs]}
        base = entry["configs"]["1p x 1t"]["median_images_per_s"]
        for name, c in entry["configs"].items():
            c["speedup_vs_1p1t"] = c["median_images_per_s"] / base
        report["models"][kind] = entry
        print(f"\n{kind} VAE: {params:,} parameters; all-reduce {4 * params / 1e6:.2f} MB per step "
              f"(ring: {entry['ring_bytes_sent_per_rank_per_step'] / 1e6:.2f} MB sent per rank)")
        print("| config | images/s (median) | runs | speed-up vs 1p×1t | images per CPU-s (median) "
              "| gloo all-reduce ms |")
        print("|---|---|---|---|---|---|")
        for name, c in entry["configs"].items():
            ar = [a for a in c["allreduce_ms"] if a is not None]
            print(f"| {name} | {c['median_images_per_s']:.0f} | {', '.join(f'{v:.0f}' for v in c['images_per_s'])} "
                  f"| {c['speedup_vs_1p1t']:.2f} | {statistics.median(c['images_per_cpu_s']):.0f} "
                  f"| {statistics.median(ar) if ar else float('nan'):.2f} |")
    if args.out:
        write_json(os.path.join(args.out, "ddp_throughput.json"), report)
        print(f"wrote {args.out}/ddp_throughput.json")


if __name__ == "__main__":
    main()
