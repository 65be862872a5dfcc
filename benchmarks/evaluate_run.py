"""Test NLL of a trained run directory on the whole test split (importance sampling, guide as proposal).

    python benchmarks/evaluate_run.py RUN_DIR --particles 5000

Prints the mean NLL in nats, its standard error, and the wall/CPU time. Note: binarized MNIST's test
rows are not in random order (e.g. rows 1000-1999 are mostly thin digits), so subsets are biased.
"""
import argparse
import json
import time

import torch

from pyprogen.data import load_dataset
from pyprogen.metrics import log_likelihood
from pyprogen.seeding import set_seed
from pyprogen.train import load


def main():
    p = argparse.ArgumentParser()
    p.add_argument("run")
    p.add_argument("--data", default="binarized-mnist")
    p.add_argument("--particles", type=int, default=5000)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = load(args.run)
    test = load_dataset(args.data, "test").x
    set_seed(1)
    t0, c0 = time.perf_counter(), time.process_time()
    ll = log_likelihood(model.model, model.guide, test, num_particles=args.particles, chunk_size=500)
    print(json.dumps({"run": args.run, "test_points": len(test), "particles": args.particles,
                      "test_nll_nats": float(-ll.mean()), "stderr": float(ll.std() / len(ll) ** 0.5),
                      "wall_minutes": (time.perf_counter() - t0) / 60, "cpu_minutes": (time.process_time() - c0) / 60}))


if __name__ == "__main__":
    main()
