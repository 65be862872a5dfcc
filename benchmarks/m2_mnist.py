"""Semi-supervised M2 (Kingma et al. 2014) on MNIST with 3,000 / 600 / 100 labels: test accuracy of q(y|x).

Data: ``pyprogen.data.load_dataset("mnist")`` — the shipped subset (10,000 training images with labels,
2,000 test images) unless ``--data-dir`` points at the full idx files — binarised at 0.5. The labelled
points are balanced over the classes (labels/10 per class, drawn with ``--seed``); every other training
image is unlabelled. Training is :func:`pyprogen.models.m2.fit_labelled` (TraceEnum_ELBO on unlabelled
minibatches with y enumerated in parallel, Trace_ELBO on labelled ones, α·cross-entropy) for a CPU-time
budget per run (``time.process_time`` of the worker, so other load on the machine does not shrink it).
Next to each M2 run: the same q(y|x) network trained on the labelled points alone (cross-entropy,
``--baseline-steps`` Adam steps), so the gain from the unlabelled data is visible.

Paper (Kingma et al. 2014, Table 1, M2, full MNIST with 50,000 unlabelled images and long training):
test error 11.97 % (100 labels), 4.94 % (600), 3.92 % (3,000).

    python benchmarks/m2_mnist.py --labels 3000 600 100 --classifier conv --minutes 6 --jobs 2 \
        --out docs/results/m2_mnist.json
"""
import argparse
import json
import multiprocessing
import time
from pathlib import Path

import torch
from torch import nn

from pyprogen.data import load_dataset
from pyprogen.io import write_json
from pyprogen.models.m2 import M2, fit_labelled

PAPER_ERROR = {100: 11.97, 600: 4.94, 3000: 3.92}


def load(data_dir=None):
    tr, te = load_dataset("mnist", "train", data_dir), load_dataset("mnist", "test", data_dir)
    return (tr.x > 0.5).float(), tr.y.long(), (te.x > 0.5).float(), te.y.long(), tr.name


def balanced_mask(y, count, seed):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.zeros(len(y), dtype=torch.bool)
    for k in range(10):
        idx = (y == k).nonzero().reshape(-1)
        mask[idx[torch.randperm(len(idx), generator=gen)[:count // 10]]] = True
    return mask


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    return float((model.classify(x) == y).float().mean())


def supervised_baseline(cfg, x, y, mask, xt, yt):
    """The M2 classifier network alone, cross-entropy on the labelled points."""
    torch.manual_seed(cfg["seed"])
    net = M2((1, 28, 28), classifier=cfg["classifier"]).classifier
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    idx_all, gen = mask.nonzero().reshape(-1), torch.Generator().manual_seed(cfg["seed"])
    net.train()
    for _ in range(cfg["baseline_steps"]):
        idx = idx_all[torch.randint(len(idx_all), (min(100, len(idx_all)),), generator=gen)]
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        return float((net(xt).argmax(-1) == yt).float().mean())


def run(cfg):
    torch.set_num_threads(1)
    x, y, xt, yt, name = load(cfg["data_dir"])
    mask = balanced_mask(y, cfg["labels"], cfg["seed"])
    cpu0 = time.process_time()
    baseline = supervised_baseline(cfg, x, y, mask, xt, yt)
    baseline_cpu = time.process_time() - cpu0
    torch.manual_seed(cfg["seed"])
    model = M2((1, 28, 28), classifier=cfg["classifier"], alpha=cfg["alpha"])
    curve = []

    def record(step, m):
        curve.append({"step": step, "cpu_minutes": round((time.process_time() - cpu1) / 60, 3),
                      "test_accuracy": accuracy(m, xt, yt)})
        m.train()
        print(cfg["labels"], cfg["classifier"], curve[-1], flush=True)

    cpu1 = time.process_time()
    history = fit_labelled(model, x, y, labelled=mask, steps=10**7, batch_size=100, labelled_batch_size=100,
                           lr=cfg["lr"], seed=cfg["seed"], cpu_seconds=60 * cfg["minutes"], callback=record,
                           callback_every=500)
    train_cpu = time.process_time() - cpu1
    acc = accuracy(model, xt, yt)
    last = history[-100:]
    return {"labels": cfg["labels"], "classifier": cfg["classifier"], "alpha": cfg["alpha"], "data": name,
            "unlabelled": int((~mask).sum()), "test_images": len(xt), "test_accuracy": acc,
            "test_error_percent": 100 * (1 - acc), "paper_error_percent": PAPER_ERROR.get(cfg["labels"]),
            "steps": len(history), "train_cpu_minutes": train_cpu / 60,
            "final_losses_per_point": {k: sum(h[k] for h in last) / len(last) for k in ("unlabelled", "labelled",
                                                                                          "classify")},
            "supervised_baseline_accuracy": baseline, "supervised_baseline_cpu_minutes": baseline_cpu / 60,
            "curve": curve}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--labels", type=int, nargs="+", default=[3000, 600, 100])
    p.add_argument("--classifier", nargs="+", default=["conv"], choices=["mlp", "conv"])
    p.add_argument("--minutes", type=float, default=6.0, help="CPU minutes of M2 training per run")
    p.add_argument("--alpha", type=float, default=50.0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--baseline-steps", type=int, default=1500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (one thread each)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--out", default=None, help="JSON file for the results")
    a = p.parse_args(argv)
    cfgs = [dict(vars(a), labels=n, classifier=c) for c in a.classifier for n in a.labels]
    if a.jobs > 1:
        with multiprocessing.get_context("fork").Pool(a.jobs) as pool:
            results = pool.map(run, cfgs, chunksize=1)
    else:
        results = [run(c) for c in cfgs]
    for r in results:
        print(f"M2 ({r['classifier']} q(y|x)), {r['labels']} labels: test accuracy {r['test_accuracy']:.4f} "
              f"(error {r['test_error_percent']:.2f} %, paper {r['paper_error_percent']} %) after {r['steps']} steps, "
              f"{r['train_cpu_minutes']:.1f} CPU min; same classifier on the labels alone "
              f"{r['supervised_baseline_accuracy']:.4f}")
    if a.out:  # merge with runs already in the file (other label counts / classifiers)
        config = {k: v for k, v in vars(a).items() if k != "out"}
        old = json.loads(Path(a.out).read_text()) if Path(a.out).is_file() else {"runs": []}
        keys = {(r["labels"], r["classifier"]) for r in results}
        runs = [r for r in old["runs"] if (r["labels"], r["classifier"]) not in keys] + results
        runs.sort(key=lambda r: (r["classifier"], -r["labels"]))
        configs = [c for c in old.get("configs", []) if c not in [config]] + [config]
        write_json(a.out, {"configs": configs, "paper_error_percent": PAPER_ERROR, "runs": runs})
    return results


if __name__ == "__main__":
    main()
