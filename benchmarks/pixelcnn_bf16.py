"""fp32 vs bfloat16 autocast for one gated-PixelCNN training step on this CPU, timed side by side.

Same net (gated, 48 channels x 8 blocks, 407k parameters), same batch, one torch thread; each
precision is timed over ``--steps`` steps after two warm-up steps, in alternating rounds so that
other load on a shared machine falls on both alike. Also reports how far the bf16 forward pass's
logits are from fp32's on the same weights (training uses them; scoring never does), and whether
``--check-steps`` training steps from the same seed give the same losses with 1 and 2 torch threads.

    OMP_NUM_THREADS=1 python benchmarks/pixelcnn_bf16.py --out docs/results/pixelcnn_bf16_speed.json
"""
import argparse
import json
import platform
import statistics
import sys
import time

import torch
from torch.nn import functional as F

from pyprogen.io import write_json
from pyprogen.models import build
from pyprogen.seeding import set_seed


def train_step(net, opt, x, bf16):
    """One Adam step on the per-image Bernoulli NLL, the convolutions under bf16 autocast when asked; the loss."""
    opt.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = net(x)
    loss = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="sum") / len(x)
    loss.backward()
    opt.step()
    return loss.item()


def training_losses(bf16, x, steps, threads):
    """Losses of ``steps`` Adam steps from seed 0 on the fixed batch ``x`` with ``threads`` torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    set_seed(0)
    net = build("pixelcnn", (1, 28, 28), channels=48, depth=8, gated=True, likelihood="bernoulli").net
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    losses = [train_step(net, opt, x, bf16) for _ in range(steps)]
    torch.set_num_threads(before)
    return losses


def thread_check(bf16, x, steps):
    """The same training steps with 1 and 2 threads: identical losses, or the first step where they differ."""
    one, two = training_losses(bf16, x, steps, 1), training_losses(bf16, x, steps, 2)
    differ = [i + 1 for i, (u, v) in enumerate(zip(one, two)) if u != v]
    return {"steps": steps, "identical": not differ, "first_differing_step": differ[0] if differ else None,
            "max_abs_loss_difference": max(abs(u - v) for u, v in zip(one, two))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=5, help="timed steps per precision and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--check-steps", type=int, default=8, help="steps of the 1- vs 2-thread comparison")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    set_seed(0)
    net = build("pixelcnn", (1, 28, 28), channels=48, depth=8, gated=True, likelihood="bernoulli").net
    x = (torch.rand(a.batch_size, 1, 28, 28) < 0.13).float()
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    seconds = {"fp32": [], "bf16": []}
    for _ in range(a.rounds):
        for name in seconds:
            for _ in range(2):
                train_step(net, opt, x, name == "bf16")
            t0 = time.process_time()
            for _ in range(a.steps):
                train_step(net, opt, x, name == "bf16")
            seconds[name].append((time.process_time() - t0) / a.steps)
    with torch.no_grad():
        fp32 = net(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = net(x).float()
    result = {"batch_size": a.batch_size, "threads": a.threads,
              "thread_check": {name: thread_check(name == "bf16", x[:32], a.check_steps) for name in ("fp32", "bf16")},
              "step_seconds": {k: statistics.median(v) for k, v in seconds.items()},
              "step_seconds_per_round": seconds,
              "speedup_bf16": statistics.median(seconds["fp32"]) / statistics.median(seconds["bf16"]),
              "max_abs_logit_difference": (bf16 - fp32).abs().max().item(),
              "machine": f"{platform.machine()} CPU, {a.threads} torch thread(s), torch {torch.__version__}",
              "command": f"OMP_NUM_THREADS={a.threads} python benchmarks/pixelcnn_bf16.py " + " ".join(sys.argv[1:])}
    print(f"one step, batch {a.batch_size}: fp32 {result['step_seconds']['fp32']:.3f} s, bf16 "
          f"{result['step_seconds']['bf16']:.3f} s -> bf16 is {result['speedup_bf16']:.2f}x faster; "
          f"largest |logit difference| {result['max_abs_logit_difference']:.3g}; 1 vs 2 threads: "
          f"{json.dumps(result['thread_check'])}")
    if a.out:
        write_json(a.out, result)
    return result


if __name__ == "__main__":
    main()
