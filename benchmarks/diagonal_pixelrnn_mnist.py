"""Train the Diagonal BiLSTM PixelRNN on binarized MNIST for a fixed CPU budget; report the test NLL.

Exact negative log-likelihood in nats per image on the 10,000 test images of the shipped (statically)
binarized MNIST, next to van den Oord et al. 2016, Table 4 (Diagonal BiLSTM, 7 layers, h = 16: 79.20;
1 layer, h = 32: 80.75). Training is Pyro SVI with Trace_ELBO and an empty guide (maximum likelihood).
The budget counts this process's CPU seconds (``time.process_time``), so other load on a shared
machine does not shrink it. Data loading and evaluation are the PixelCNN benchmark's.

    python benchmarks/diagonal_pixelrnn_mnist.py --minutes 6.5 --channels 16 --depth 2 --out results/diag
"""
import argparse
import importlib.util
import math
import time
from pathlib import Path

import numpy as np
import pyro
import torch

from pyprogen.io import write_json
from pyprogen.models import build
from pyprogen.seeding import set_seed

_spec = importlib.util.spec_from_file_location("pixelcnn_mnist", Path(__file__).with_name("pixelcnn_mnist.py"))
_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_bench)
load_split, test_nll = _bench.load_split, _bench.test_nll


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=6.5, help="CPU-minute training budget")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="directory for result.json")
    a = p.parse_args(argv)

    torch.set_num_threads(a.threads)
    set_seed(a.seed)
    train, test = load_split("train"), load_split("test")
    model = build("pixelrnn-diagonal", (1, 28, 28), channels=a.channels, depth=a.depth, likelihood="bernoulli")
    pyro.clear_param_store()
    svi = pyro.infer.SVI(model.model, model.guide, pyro.optim.Adam({"lr": a.lr}), model.default_loss())
    budget, cpu0, wall0 = 60 * a.minutes, time.process_time(), time.time()
    steps, epochs, history, running = 0, 0.0, [], []
    while time.process_time() - cpu0 < budget:
        perm = torch.randperm(len(train))
        for b in range(0, len(train) - a.batch_size + 1, a.batch_size):
            running.append(svi.step(train[perm[b:b + a.batch_size]]) / a.batch_size)
            steps += 1
            epochs += a.batch_size / len(train)
            if steps % 100 == 0:
                history.append({"steps": steps, "epochs": round(epochs, 4),
                                "train_nll_last100": float(np.mean(running[-100:])),
                                "cpu_minutes": (time.process_time() - cpu0) / 60})
                print(history[-1], flush=True)
            if time.process_time() - cpu0 >= budget:
                break
    train_cpu, train_wall = time.process_time() - cpu0, time.time() - wall0
    t0 = time.process_time()
    nll = test_nll(model, test)
    eval_cpu = time.process_time() - t0
    result = {"model": "pixelrnn-diagonal", "config": vars(a), "parameters": sum(q.numel() for q in model.parameters()),
              "epochs": round(epochs, 3), "steps": steps, "train_cpu_minutes": train_cpu / 60,
              "train_wall_minutes": train_wall / 60, "test_nll_nats": nll,
              "test_bits_per_dim": nll / (784 * math.log(2)), "eval_cpu_minutes": eval_cpu / 60, "history": history,
              "reference_nats": {"Diagonal BiLSTM 7 layers h=16 (van den Oord 2016)": 79.20,
                                 "Diagonal BiLSTM 1 layer h=32 (van den Oord 2016)": 80.75}}
    print(f"pixelrnn-diagonal: {result['parameters']} parameters, {epochs:.2f} epochs ({steps} steps) in "
          f"{train_cpu / 60:.1f} CPU min ({train_wall / 60:.1f} wall min); test NLL {nll:.2f} nats "
          f"({result['test_bits_per_dim']:.4f} bits/dim; eval {eval_cpu / 60:.1f} CPU min); paper 79.20")
    if a.out:
        write_json(f"{a.out}/result.json", result)
    return result


if __name__ == "__main__":
    main()
