"""Better guides and priors on binarized MNIST at an equal CPU budget: the diagonal-Gaussian VAE, the same VAE
with an inverse-autoregressive-flow guide (Kingma et al. 2016) and with a VampPrior (Tomczak & Welling 2018).

Every model: latent 50, encoder/decoder 2x200 tanh (Burda et al. 2016), batch 100, Adam lr 1e-3, its own
default loss (the compiled mean-field ELBO: analytic KL for the diagonal VAE, a one-sample Monte-Carlo KL
for the IAF guide and the VampPrior), trained for
epochs until the next one would pass the budget of process CPU time (one torch thread, so other load on the
machine stretches the wall time, not the budget). Then, on 1,000 test images (a fixed random subset,
``recipes.evaluation_rows``: the test file is sorted by digit, so its first rows are all zeros):
test ELBO (``pyprogen.metrics.elbo``, 100 particles averaged) and the IWAE bound on log p(x) with 1,000
particles (``pyprogen.metrics.log_likelihood``); with ``--diagnose``, ``pyprogen.diagnostics.check`` on
20 test images (the same kind of subset) (NUTS reference, PSIS k̂, inference / approximation / amortisation gaps).

    OMP_NUM_THREADS=1 nice python benchmarks/flow_guides.py --model diagonal --cpu-minutes 6.5 --diagnose
    OMP_NUM_THREADS=1 nice python benchmarks/flow_guides.py --model iaf --cpu-minutes 6.5 --diagnose
    OMP_NUM_THREADS=1 nice python benchmarks/flow_guides.py --model vamp --cpu-minutes 6.5
    OMP_NUM_THREADS=1 nice python benchmarks/flow_guides.py --model diagonal --diagnose-only   # re-check a trained run

Each call merges its model's entry into ``docs/results/flow_guides.json``. The check's per-point optimum
q* is a mean-field Gaussian whatever the guide, so for the IAF guide its "approximation gap" is the
Gaussian family's and the "amortisation gap" can be negative (the amortised flow beats the best
per-point Gaussian); the inference gap log p(x) − ELBO and k̂ compare the guides directly.
Paper anchors (static MNIST, far longer training): VAE + VampPrior 85.57 nats (Tomczak & Welling 2018,
Table 2); VAE + IAF 79.88 nats with a ResNet VAE (Kingma et al. 2016, Table 1; not this architecture).
"""
import argparse
import json
import os
import platform
import time

import torch

from pyprogen.data import load_dataset
from pyprogen.experiments.recipes import evaluation_rows
from pyprogen.io import write_json
from pyprogen.metrics.likelihood import elbo, log_likelihood
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit, load

MODELS = {
    "diagonal": {"guide": "diagonal", "prior": "normal"},
    "iaf": {"guide": "iaf", "flow_length": 2, "prior": "normal"},
    "vamp": {"guide": "diagonal", "prior": "vamp", "prior_components": 500},
}
RESULTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "results",
                       "flow_guides.json")


def train(name, args, out):
    data = load_dataset("binarized-mnist", "train").x
    set_seed(0)
    model = build("vae", (1, 28, 28), latent_dim=50, hidden=(200, 200), **MODELS[name])
    cpu0, wall0, epoch, last, history = time.process_time(), time.perf_counter(), 0, 0.0, None
    budget = args.cpu_minutes * 60
    while epoch == 0 or time.process_time() - cpu0 + last <= budget:
        start = time.process_time()
        epoch += 1
        history = fit(model, data, epochs=epoch, batch_size=100, lr=1e-3, seed=0, out=out, resume=epoch > 1,
                      progress=False)
        last = time.process_time() - start
        print(f"{name} epoch {epoch}: train loss {history[-1]['loss']:.2f} nats/point, "
              f"cpu {(time.process_time() - cpu0) / 60:.2f} min", flush=True)
    return model, {"epochs": epoch, "train_cpu_seconds": round(time.process_time() - cpu0, 1),
                   "train_wall_seconds": round(time.perf_counter() - wall0, 1),
                   "final_train_loss": round(history[-1]["loss"], 3),
                   "train_loss_by_epoch": [round(h["loss"], 3) for h in history],
                   "parameters": sum(p.numel() for p in model.parameters())}


def evaluate(model, args):
    test = load_dataset("binarized-mnist", "test").x
    test = test[evaluation_rows(len(test), args.eval_points)]  # the test file is sorted by digit
    set_seed(1)
    t0 = time.process_time()
    with torch.no_grad():
        e = elbo(model.model, model.guide, test, num_particles=100)
        ll = log_likelihood(model.model, model.guide, test, num_particles=args.eval_particles, chunk_size=250)
    return {"test_points": len(test), "eval_particles": args.eval_particles,
            "test_elbo_nats": round(float(e.mean()), 3), "test_elbo_stderr": round(float(e.std() / len(e) ** 0.5), 3),
            "test_nll_nats": round(float(-ll.mean()), 3), "test_nll_stderr": round(float(ll.std() / len(ll) ** 0.5), 3),
            "eval_cpu_seconds": round(time.process_time() - t0, 1)}


def diagnose(model, args):
    from pyprogen.diagnostics import check

    x = load_dataset("binarized-mnist", "test").x
    x = x[evaluation_rows(len(x), args.diagnose_points)]
    t0 = time.process_time()
    r = check(model.model, model.guide, x, num_samples=300, warmup_steps=300, num_chains=2, guide_samples=1000,
              num_particles=1000, local_steps=500, seed=0)
    keys = ["rhat_max", "ess_bulk_min", "divergences", "mean_gap", "sd_ratio", "k_hat_fractions", "log_px_nats",
            "elbo_nats", "elbo_local_nats", "gap_nats", "approximation_gap_nats", "amortisation_gap_nats"]
    out = {k: r[k] for k in keys}
    k_hat = torch.tensor(r["k_hat"])
    out.update({"points": len(x), "k_hat_median": round(float(k_hat.median()), 3),
                "k_hat_mean": round(float(k_hat.mean()), 3), "k_hat": [round(float(v), 3) for v in k_hat],
                "config": r["config"], "cpu_seconds": round(time.process_time() - t0, 1)})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=sorted(MODELS), required=True)
    p.add_argument("--cpu-minutes", type=float, default=6.5, help="training budget (process CPU time)")
    p.add_argument("--eval-points", type=int, default=1000)
    p.add_argument("--eval-particles", type=int, default=1000)
    p.add_argument("--diagnose", action="store_true", help="also run pyprogen.diagnostics.check")
    p.add_argument("--diagnose-only", action="store_true", help="check an already trained run")
    p.add_argument("--diagnose-points", type=int, default=20)
    p.add_argument("--out", default="runs/bench_flow_guides")
    p.add_argument("--results", default=RESULTS)
    args = p.parse_args()
    torch.set_num_threads(1)
    out = os.path.join(args.out, args.model)
    results = json.load(open(args.results)) if os.path.isfile(args.results) else {"models": {}}
    entry = results["models"].get(args.model, {})
    if args.diagnose_only:
        model = load(out)
    else:
        model, entry = train(args.model, args, out)
        entry.update(evaluate(model, args))
        entry["model_kwargs"] = {"latent_dim": 50, "hidden": [200, 200], **MODELS[args.model]}
        entry["loss"] = type(model.default_loss()).__name__
    if args.diagnose or args.diagnose_only:
        entry["diagnostics"] = diagnose(model, args)
    results["models"][args.model] = entry
    results["config"] = {
        "data": "binarized-mnist (static binarisation at 0.5, shipped with pyprogen), 50,000 training images",
        "architecture": "VAE latent 50, MLP 784-200-200 tanh encoder and decoder (Burda et al. 2016)",
        "batch_size": 100, "lr": 1e-3, "seed": 0, "budget": f"{args.cpu_minutes} CPU-minutes of training per model",
        "machine": f"shared 2-core CPU ({platform.processor() or platform.machine()}), OMP_NUM_THREADS=1, "
                   f"torch {torch.__version__}, other jobs running (wall time > CPU time)",
        "command": "OMP_NUM_THREADS=1 nice python benchmarks/flow_guides.py --model {diagonal,iaf} --cpu-minutes 6.5 "
                   "--diagnose; then --model vamp --cpu-minutes 6.5; then --model {diagonal,iaf} --diagnose-only (the "
                   "per-point optimum q* in the guide's own family)",
        "test_rows": "a fixed random subset of the test split (recipes.evaluation_rows), for the NLL and the diagnostics",
        "paper_anchors": {"vamp_prior_nll_nats": 85.57, "vamp_prior_source": "Tomczak & Welling 2018, Table 2, "
                          "static MNIST, 2,000 epochs with KL warm-up"},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    write_json(args.results, results)
    print(json.dumps({k: v for k, v in entry.items() if k not in ("train_loss_by_epoch", "diagnostics")}, indent=1))
    if "diagnostics" in entry:
        d = entry["diagnostics"]
        print(f"diagnostics: k̂ median {d['k_hat_median']}, inference gap {d['gap_nats']:.2f}, "
              f"approximation gap {d['approximation_gap_nats']:.2f}, amortisation gap {d['amortisation_gap_nats']:.2f}")


if __name__ == "__main__":
    main()
